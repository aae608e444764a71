/*
 * G3 (K4): at most one lock drop per fault, so a retry always makes progress.
 *
 * The handler is the simplest one that waits for space: whenever mayDropLock() allows it, it drops the
 * lock, waits until space is freed, and returns RETRY without caching anything. The signal frees the
 * space. On the first attempt the handler drops and waits; the retry may not drop again
 * (FAULT_FLAG_TRIED), so the handler returns a reservation and the write completes.
 *
 * If a retry were allowed to drop the lock again, this handler would return RETRY forever once space was
 * freed: the actor never terminates (the livelock that FAULT_FLAG_TRIED prevents in the kernel).
 *
 * The backing plays no part here. Fails (STALE) with DROP_LOCK_ON_RETRY.
 *
 * Run: ./dev jcstress -t Protocol_07
 */
package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.FaultResult;
import dev.mkwrite.Reservation;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Mode;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.Signal;
import org.openjdk.jcstress.annotations.State;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/** G3: a retry never drops the lock again. */
public final class Protocol_07_OneLockDrop {

    private Protocol_07_OneLockDrop() {
    }

    @JCStressTest(Mode.Termination)
    @Outcome(id = "TERMINATED", expect = ACCEPTABLE, desc = "one drop, one retry, and the write completed")
    @Outcome(expect = FORBIDDEN, desc = "the fault kept retrying and never completed")
    @State
    public static class WaitForSpace {
        final Region region;
        volatile boolean spaceFreed;

        public WaitForSpace() {
            region = Fixture.open(Backing.MEMORY_SEGMENT, Fixture.PAGE, fault -> {
                if (fault.mayDropLock()) {
                    fault.dropLock();
                    while (!spaceFreed) {
                        Thread.onSpinWait();
                    }
                    return FaultResult.RETRY;
                }
                return Reservation.none();
            });
        }

        @Actor
        public void write() {
            region.putLong(0, 1);
            Fixture.dispose(region);
        }

        @Signal
        public void freeSpace() {
            spaceFreed = true;
        }
    }
}
