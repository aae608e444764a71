/*
 * Statistics: a write that has returned finds the pages it wrote counted out of PREPARING, even when
 * another thread's fault prepared them. A fault's page is counted WRITABLE before the CAS that makes it
 * WRITABLE (Counters), because any thread may write it from that CAS on. A benchmark's or a leak check's
 * view once its writers end, the prepare-ahead agent's pages among them, depends on it.
 *
 * A region of one page, with a handler that returns at once. Writer A writes page 0 (the fault). Writer B
 * spins (bounded) until page 0 is WRITABLE, writes it (A's page, no fault), then reads the statistics. If
 * the spin runs out B faults the page itself or waits for A's claim; its write returns after the page
 * was published either way.
 *   r1: 1 if B's write had returned and the page still counted PREPARING;
 *   r2: 1 if a write threw, or the actors left pins.
 * Fails with COUNTS_AFTER_PUBLISH (the count moved after the CAS, behind a stand-in for a preemption):
 * r1 is 1 whenever B wrote A's page.
 *
 * Run: ./dev jcstress -t Protocol_13
 */
package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.Reservation;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.II_Result;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/** A returned write finds the pages it wrote counted out of PREPARING, whoever prepared them. */
public final class Protocol_13_CountedBeforePublish {

    private Protocol_13_CountedBeforePublish() {
    }

    @JCStressTest
    @Outcome(id = "0, 0", expect = ACCEPTABLE, desc = "B wrote page 0, prepared by A or by itself, and found it counted WRITABLE")
    @Outcome(expect = FORBIDDEN, desc = "r1: B's write had returned and page 0 still counted PREPARING; r2: a write threw")
    @State
    public static class OtherThreadsFault {
        final Region region;
        int failed;

        public OtherThreadsFault() {
            // One backing: the counters do not depend on it.
            region = Fixture.open(Backing.MEMORY_SEGMENT, Fixture.PAGE, fault -> Reservation.none());
        }

        @Actor
        public void a() {
            try {
                region.putLong(0, 1);
            } catch (RuntimeException e) {
                failed = 1;
            }
        }

        @Actor
        public void b(II_Result r) {
            // Until A publishes page 0 (bounded): B then writes a page it did not prepare.
            Fixture.spinUntil(() -> Fixture.state(region, 0) == PageState.WRITABLE, 20_000);
            try {
                region.putLong(Long.BYTES, 2);
                r.r1 = region.stats().preparingPages() != 0 ? 1 : 0;
            } catch (RuntimeException e) {
                r.r2 = 1;
            }
        }

        @Arbiter
        public void check(II_Result r) {
            r.r2 |= failed | Fixture.dispose(region);
        }
    }
}
