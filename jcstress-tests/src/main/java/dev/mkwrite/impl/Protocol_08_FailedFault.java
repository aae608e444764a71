/*
 * G8 (K7), and the reservation balance that every test checks: an error leaves the region usable, loses
 * no acknowledged data, and releases what the failed fault had reserved.
 *
 * Two writers write the same CLEAN page, at different offsets. Writer A's handler drops the lock, caches
 * a reservation, and then fails with NoSpaceException; writer B's handler succeeds. Either B prepared the
 * page first and A found it WRITABLE (A's write succeeds without a fault), or A claimed it first: A's
 * write fails, nothing of it lands, its cached reservation is released, and the page goes back to CLEAN,
 * so B (waiting for A's claim) prepares it and writes. Afterwards the arbiter writes once more, to show
 * the region is usable, and closes it.
 *
 *   r1: A: 0 wrote, 1 NoSpaceException, 2 anything else;
 *   r2: B: 0 wrote, 1 failed;
 * and one slot per check, each 0 in a correct run, so a FORBIDDEN result names the check that failed:
 *   r3: 1 if A's bytes are wrong: landed although A failed, or missing although A wrote;
 *   r4: 1 if B wrote and its bytes are missing;
 *   r5: 1 if the arbiter's own write afterwards failed (the region was left unusable);
 *   r6: reservations that did not end exactly once;
 *   r7: reservations still outstanding after close;
 *   r8: 1 if pins were left behind (the region is then not closed).
 *
 * Fails with LEAK_REDUNDANT_RESERVATION (the failed fault keeps the reservation it cached): r1 is 1, and
 * r6 and r7 are 1.
 *
 * Run: ./dev jcstress -t Protocol_08
 */
package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.NoSpaceException;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.IIIIIIII_Result;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE_INTERESTING;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/** G8: a failed fault against a succeeding one. */
public final class Protocol_08_FailedFault {

    private Protocol_08_FailedFault() {
    }

    @JCStressTest
    @Outcome(id = "0, 0, 0, 0, 0, 0, 0, 0", expect = ACCEPTABLE,
            desc = "B prepared the page first; A wrote without a fault")
    @Outcome(id = "1, 0, 0, 0, 0, 0, 0, 0", expect = ACCEPTABLE_INTERESTING,
            desc = "A's fault failed and left nothing behind; B prepared the page after it")
    @Outcome(expect = FORBIDDEN, desc = "A failed otherwise (r1 2), B failed (r2), or a check failed: r3 A's bytes wrong,"
            + " r4 B's bytes missing, r5 the region unusable, r6 reservations not ended exactly once, r7 outstanding"
            + " after close, r8 pins left")
    @State
    public static class NoSpaceAgainstWriter {
        final Fixture.Ledger ledger = new Fixture.Ledger();
        final Region region;
        volatile Thread threadA;

        public NoSpaceAgainstWriter() {
            region = Fixture.open(Backing.MEMORY_SEGMENT, Fixture.PAGE, fault -> {
                if (Thread.currentThread() == threadA && fault.mayDropLock()) {
                    fault.dropLock();
                    fault.cacheReservation(ledger.reserve(fault.page(), fault.generation()));
                    throw new NoSpaceException("the test's quota is exhausted", fault.path(), fault.offset(), fault.page());
                }
                return ledger.reserve(fault.page(), fault.generation());
            });
        }

        @Actor
        public void a(IIIIIIII_Result r) {
            threadA = Thread.currentThread();
            try {
                region.putLong(0, 0xA);
                r.r1 = 0;
            } catch (NoSpaceException e) {
                r.r1 = 1;
            } catch (RuntimeException e) {
                r.r1 = 2;
            } finally {
                // The arbiter may run on this very thread: its write must not take A's branch in the handler.
                threadA = null;
            }
        }

        @Actor
        public void b(IIIIIIII_Result r) {
            try {
                region.putLong(8, 0xB);
                r.r2 = 0;
            } catch (RuntimeException e) {
                r.r2 = 1;
            }
        }

        @Arbiter
        public void check(IIIIIIII_Result r) {
            r.r3 = region.getLong(0) == (r.r1 == 0 ? 0xA : 0) ? 0 : 1;
            r.r4 = r.r2 != 0 || region.getLong(8) == 0xB ? 0 : 1;
            try {
                region.putLong(16, 0xC);
                r.r5 = 0;
            } catch (RuntimeException e) {
                r.r5 = 1;
            }
            int pinsLeft = Fixture.dispose(region);
            r.r6 = ledger.unbalanced();
            r.r7 = (int) region.stats().reservationsOutstanding();
            r.r8 = pinsLeft;
        }
    }
}
