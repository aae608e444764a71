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
 * and one slot per check, each 0 in a correct run, so a FORBIDDEN result names the check that failed:
 *   r4:     reservations that did not end exactly once;
 *   r5:     reservations still outstanding after close;
 *   r6:     1 if pins were left behind (the region is then not closed).
 *
 * Every correct run has the same outcome, whichever writer wins; the race is in the window between
 * reading CLEAN and the claim CAS, which the broken variant below opens.
 * Fails with -Ddev.mkwrite.impl.testing.brokenRule=CLAIM_WITHOUT_CAS (a fault that read CLEAN prepares
 * the page even if its claim CAS lost): two handler calls (r3 2), and one writer fails (r1 or r2).
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
import org.openjdk.jcstress.infra.results.IIIIII_Result;

import java.util.concurrent.atomic.AtomicInteger;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/** G2: one preparation per page per clean cycle. */
public final class Protocol_02_OnePreparation {

    private Protocol_02_OnePreparation() {
    }

    @JCStressTest
    @Outcome(id = "0, 0, 1, 0, 0, 0", expect = ACCEPTABLE,
            desc = "one claim won: one handler call, one reservation, consumed once at close")
    @Outcome(expect = FORBIDDEN, desc = "a writer failed (r1, r2), the page was prepared twice (r3 2), or a check"
            + " failed: r4 reservations not ended exactly once, r5 outstanding after close, r6 pins left")
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
        public void writer1(IIIIII_Result r) {
            r.r1 = write(1);
        }

        @Actor
        public void writer2(IIIIII_Result r) {
            r.r2 = write(2);
        }

        @Arbiter
        public void arbiter(IIIIII_Result r) {
            r.r3 = calls.get();
            int pinsLeft = Fixture.dispose(region);
            r.r4 = ledger.unbalanced();
            r.r5 = (int) region.stats().reservationsOutstanding();
            r.r6 = pinsLeft;
        }
    }
}
