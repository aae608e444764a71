/*
 * G7 (K4): while one fault has dropped the lock, exclusive operations and faults on other pages proceed.
 *
 * The actor writes page 0. Its handler drops the region lock and then waits, with no bound, until the
 * region has grown: the handler stands for one that waits for IO or for space. The signal hands a task to
 * a helper thread and returns at once (a signal must not block): the task writes page 1 (another fault,
 * which needs the lock shared), then grows the region (which needs it exclusive), and only then lets the
 * handler go on. The handler returns RETRY; the retry finds no cached work and calls the handler again,
 * which may not drop the lock and returns at once.
 *
 * If dropLock() did not release the lock, grow would wait for the actor's fault forever while that fault
 * waits for grow: the actor never terminates. (The helper thread then stays blocked too; jcstress ends
 * the forked VM after a stale test.)
 *
 * Runs on both backings, since grow remaps. Fails (STALE) with KEEP_LOCK_ON_DROP.
 *
 * Run: ./dev jcstress -t Protocol_06
 */
package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.FaultResult;
import dev.mkwrite.Reservation;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.JCStressMeta;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Mode;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.Signal;
import org.openjdk.jcstress.annotations.State;

import java.io.IOException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/** G7: a dropped lock lets other faults and grow proceed. */
public final class Protocol_06_DroppedLockProgress {

    private Protocol_06_DroppedLockProgress() {
    }

    /** Runs the signal's faults and grow, so that the signal itself never blocks. */
    private static final ExecutorService HELPER = Executors.newSingleThreadExecutor(task -> {
        Thread t = new Thread(task, "protocol-06-helper");
        t.setDaemon(true);
        return t;
    });

    /** Shared logic: a fault that blocks, with the lock dropped, until the region has grown. */
    abstract static class GrowWhileDropped {
        final Region region;
        volatile boolean grown;
        /** What the helper's fault or grow threw, if anything: the writer rethrows it, so it is not lost. */
        volatile Throwable helperFailed;

        GrowWhileDropped(Backing backing) {
            region = Fixture.open(backing, 2L * Fixture.PAGE, fault -> {
                if (fault.mayDropLock() && fault.page() == 0) {
                    fault.dropLock();
                    while (!grown) {
                        Thread.onSpinWait();
                    }
                    return FaultResult.RETRY;
                }
                return Reservation.none();
            });
        }

        void writer() {
            region.putLong(0, 1); // returns after the helper set grown, its failure stored before
            Fixture.dispose(region);
            if (helperFailed != null) {
                // Not an Error: the termination runner catches exceptions only, and reports them as ERROR
                throw new IllegalStateException("the signal's fault or grow failed", helperFailed);
            }
        }

        void signal() {
            HELPER.execute(() -> {
                try {
                    region.putLong(Fixture.PAGE, 2); // a fault on another page
                    region.grow(3L * Fixture.PAGE); // an exclusive operation
                } catch (IOException | RuntimeException | Error e) { // everything the two calls may throw
                    helperFailed = e;
                } finally {
                    grown = true;
                }
            });
        }
    }

    @Outcome(id = "TERMINATED", expect = ACCEPTABLE, desc = "grow ran while the fault's lock was dropped; the fault completed")
    @Outcome(expect = FORBIDDEN, desc = "the fault, or grow behind it, never finished")
    public static class Outcomes {
    }

    @JCStressTest(Mode.Termination)
    @JCStressMeta(Outcomes.class)
    @State
    public static class MemorySegmentBacking extends GrowWhileDropped {
        public MemorySegmentBacking() {
            super(Backing.MEMORY_SEGMENT);
        }

        @Actor
        public void write() {
            writer();
        }

        @Signal
        public void growRegion() {
            signal();
        }
    }

    @JCStressTest(Mode.Termination)
    @JCStressMeta(Outcomes.class)
    @State
    public static class MappedByteBufferBacking extends GrowWhileDropped {
        public MappedByteBufferBacking() {
            super(Backing.MAPPED_BYTE_BUFFER);
        }

        @Actor
        public void write() {
            writer();
        }

        @Signal
        public void growRegion() {
            signal();
        }
    }
}
