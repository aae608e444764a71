/*
 * G2 (K5): exactly one successful preparation per page per clean cycle; no reservation leaked or ended
 * twice.
 *
 * Two writers first-write the same CLEAN page at once. Both may find it CLEAN, but only one CAS claims it
 * (PREPARING); the other waits for the claim to end and then finds the page WRITABLE. So the handler runs
 * once and makes one reservation, which the final writeback (at close) consumes, exactly once.
 *
 *   r1, r2: 0 if writer 1 / writer 2 succeeded, 1 if it threw;
 *   r3:     handler calls;
 *   r4:     reservations that did not end exactly once, plus reservations still outstanding after close.
 *
 * Every correct run has the same outcome, whichever writer wins; the race is in the window between
 * reading CLEAN and the claim CAS, which the broken variant below opens.
 * Fails with -Ddev.mkwrite.impl.testing.brokenRule=CLAIM_WITHOUT_CAS (a fault that read CLEAN prepares
 * the page even if its claim CAS lost).
 *
 * Run: ./dev jcstress -t Protocol_02
 */
package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.IIII_Result;

import java.util.concurrent.atomic.AtomicInteger;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/** G2: one preparation per page per clean cycle. */
public final class Protocol_02_OnePreparation {

    private Protocol_02_OnePreparation() {
    }

    @JCStressTest
    @Outcome(id = "0, 0, 1, 0", expect = ACCEPTABLE,
            desc = "one claim won: one handler call, one reservation, consumed once at close")
    @Outcome(expect = FORBIDDEN, desc = "the page was prepared twice, a writer failed, or a reservation leaked or ended twice")
    @State
    public static class TwoWriters {
        final Fixture.Ledger ledger = new Fixture.Ledger();
        final AtomicInteger calls = new AtomicInteger();
        final Region region;

        public TwoWriters() {
            region = Fixture.open(Backing.MEMORY_SEGMENT, Fixture.PAGE, fault -> {
                calls.incrementAndGet();
                Fixture.work(50);
                return ledger.reserve(fault.page(), fault.generation());
            });
        }

        private int write(long value) {
            try {
                region.putLong(0, value);
                return 0;
            } catch (RuntimeException e) {
                return 1;
            }
        }

        @Actor
        public void writer1(IIII_Result r) {
            r.r1 = write(1);
        }

        @Actor
        public void writer2(IIII_Result r) {
            r.r2 = write(2);
        }

        @Arbiter
        public void arbiter(IIII_Result r) {
            r.r3 = calls.get();
            int pinsLeft = Fixture.dispose(region);
            r.r4 = ledger.unbalanced() + (int) region.stats().reservationsOutstanding()
                    + pinsLeft;
        }
    }
}
