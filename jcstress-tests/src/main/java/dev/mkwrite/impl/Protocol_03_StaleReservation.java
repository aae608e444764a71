/*
 * G4 (K6): a fault that dropped the lock races truncate, and truncate-then-extend. Its stale reservation
 * is released exactly once and never adopted; nothing is written beyond the end.
 *
 * Truncate: a region of two pages. Writer A writes page 1; its handler drops the lock, waits a bounded
 * time for the truncate, caches a reservation and returns RETRY. The other actor truncates to one page.
 * Three orders: A wrote first and the truncate released the page's reservation; the truncate came first
 * and A's write was out of region at once; or the truncate landed while A's lock was dropped, and A's
 * retry found its claim gone, released the cached reservation itself and threw OutOfRegionException.
 *   r1: A's result: 0 wrote, 1 out of region before its handler ran, 2 out of region after it dropped
 *       the lock (the retry found the page truncated), 3 anything else;
 * and one slot per check, each 0 in a correct run, so a FORBIDDEN result names the check that failed:
 *   r2: 1 if the truncate threw;
 *   r3: reservations that did not end exactly once (leaked, or ended twice);
 *   r4: reservations for page 1 that were consumed (page 1 was removed, so its reservations may only be
 *       released);
 *   r5: reservations the region still counts as outstanding after close;
 *   r6: 1 if pins were left behind (the region is then not closed).
 * Fails with LEAK_REDUNDANT_RESERVATION (the retry keeps the reservation it found stale): r3 and r5 are 1.
 *
 * TruncateExtend: as above, but the other actor B truncates to one page, grows back to two, and writes
 * page 1 itself; B's handler drops the lock too and waits, bounded, for A's retry. So A's retry can find
 * page 1 PREPARING again, claimed by B at a newer generation: the same page, the same state, only the
 * generation differs. A must release its stale reservation and wait for B's preparation.
 *   r1: A's result: 0 wrote, 1 out of region (also when A's retry made the page WRITABLE but the truncate
 *       removed it before A could pin it), 2 anything else;
 *   r2: what became of A's dropped-lock reservation: 0 A made none (it found the page prepared or out of
 *       region), 1 it was made after the truncate and adopted, 2 it was made before the truncate,
 *       adopted, and released by the truncate, 3 it was made before the truncate and A's retry found it
 *       stale and released it, 4 anything else;
 * and one slot per check, each 0 in a correct run:
 *   r3: 1 if one of B's operations (truncate, grow, write) threw;
 *   r4: reservations that did not end exactly once;
 *   r5: reservations made before the truncate that were consumed (stale work adopted);
 *   r6: reservations still outstanding after close;
 *   r7: 1 if pins were left behind.
 * Fails with SKIP_GENERATION_CHECK (the retry adopts B's claim: r2 is 4 and r5 is 1) and
 * LEAK_REDUNDANT_RESERVATION (the stale reservation is never ended: r2 is 4, r4 and r6 are 1).
 *
 * Both scenarios run on both backings, since truncate and grow remap the file.
 *
 * Run: ./dev jcstress -t Protocol_03
 */
package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.FaultResult;
import dev.mkwrite.OutOfRegionException;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.JCStressMeta;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.IIIIIII_Result;
import org.openjdk.jcstress.infra.results.IIIIII_Result;

import java.io.IOException;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE_INTERESTING;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/** G4: stale reservations after truncate and truncate-then-extend. */
public final class Protocol_03_StaleReservation {

    private Protocol_03_StaleReservation() {
    }

    /** Bounded waits inside handlers: long enough for the other actor's truncate, never forever. */
    static final int SPINS = 20_000;

    /** Shared logic of the Truncate scenario. */
    abstract static class Truncate {
        final Fixture.Ledger ledger = new Fixture.Ledger();
        final Region region;
        volatile boolean truncated;
        volatile boolean dropped;
        int truncateFailed;

        Truncate(Backing backing) {
            region = Fixture.open(backing, 2L * Fixture.PAGE, fault -> {
                if (fault.mayDropLock()) {
                    fault.dropLock();
                    dropped = true;
                    Fixture.spinUntil(() -> truncated, SPINS);
                    fault.cacheReservation(ledger.reserve(fault.page(), fault.generation()));
                    return FaultResult.RETRY;
                }
                return ledger.reserve(fault.page(), fault.generation());
            });
        }

        void writer(IIIIII_Result r) {
            try {
                region.putLong(Fixture.PAGE, 1);
                r.r1 = 0;
            } catch (OutOfRegionException e) {
                r.r1 = dropped ? 2 : 1;
            } catch (RuntimeException e) {
                r.r1 = 3;
            }
        }

        void truncate() {
            try {
                region.truncate(Fixture.PAGE);
            } catch (IOException | RuntimeException e) {
                truncateFailed = 1;
            }
            truncated = true;
        }

        void arbiter(IIIIII_Result r) {
            int pinsLeft = Fixture.dispose(region);
            r.r2 = truncateFailed;
            r.r3 = ledger.unbalanced();
            r.r4 = ledger.consumedBefore(1, Long.MAX_VALUE);
            r.r5 = (int) region.stats().reservationsOutstanding();
            r.r6 = pinsLeft;
        }
    }

    @Outcome(id = "0, 0, 0, 0, 0, 0", expect = ACCEPTABLE,
            desc = "A wrote first; the truncate released page 1's reservation")
    @Outcome(id = "1, 0, 0, 0, 0, 0", expect = ACCEPTABLE,
            desc = "the truncate came first; A's write was out of region")
    @Outcome(id = "2, 0, 0, 0, 0, 0", expect = ACCEPTABLE_INTERESTING,
            desc = "truncated while A's lock was dropped: the retry released the stale reservation and threw")
    @Outcome(expect = FORBIDDEN, desc = "A failed otherwise (r1 3), or a check failed: r2 truncate threw, r3 reservations"
            + " not ended exactly once, r4 page 1's reservations consumed, r5 outstanding after close, r6 pins left")
    public static class TruncateOutcomes {
    }

    @JCStressTest
    @JCStressMeta(TruncateOutcomes.class)
    @State
    public static class Truncate_MemorySegment extends Truncate {
        public Truncate_MemorySegment() {
            super(Backing.MEMORY_SEGMENT);
        }

        @Actor
        public void a(IIIIII_Result r) {
            writer(r);
        }

        @Actor
        public void b() {
            truncate();
        }

        @Arbiter
        public void check(IIIIII_Result r) {
            arbiter(r);
        }
    }

    @JCStressTest
    @JCStressMeta(TruncateOutcomes.class)
    @State
    public static class Truncate_MappedByteBuffer extends Truncate {
        public Truncate_MappedByteBuffer() {
            super(Backing.MAPPED_BYTE_BUFFER);
        }

        @Actor
        public void a(IIIIII_Result r) {
            writer(r);
        }

        @Actor
        public void b() {
            truncate();
        }

        @Arbiter
        public void check(IIIIII_Result r) {
            arbiter(r);
        }
    }

    /** Shared logic of the TruncateExtend scenario. */
    abstract static class TruncateExtend {
        final Fixture.Ledger ledger = new Fixture.Ledger();
        final Region region;
        volatile Thread threadB;
        volatile boolean claimedByB;
        /** A's reservation made with the lock dropped. */
        volatile Fixture.Tracked first;
        /** Page 1's generation right after the truncate: reservations of older generations are stale. */
        volatile long generationAfterTruncate = Long.MAX_VALUE;
        int failures;

        TruncateExtend(Backing backing) {
            region = Fixture.open(backing, 2L * Fixture.PAGE, fault -> {
                if (Thread.currentThread() != threadB) {
                    if (fault.mayDropLock()) {
                        fault.dropLock();
                        Fixture.spinUntil(() -> claimedByB, SPINS);
                        Fixture.Tracked t = ledger.reserve(fault.page(), fault.generation());
                        first = t;
                        fault.cacheReservation(t);
                        return FaultResult.RETRY;
                    }
                    return ledger.reserve(fault.page(), fault.generation()); // a retry that found its work stale
                }
                claimedByB = true;
                if (fault.mayDropLock()) {
                    fault.dropLock();
                    Fixture.spinUntil(() -> {
                        Fixture.Tracked t = first;
                        return t != null && t.ends() > 0 || pageOneState() != PageState.PREPARING;
                    }, SPINS);
                    fault.cacheReservation(ledger.reserve(fault.page(), fault.generation()));
                    return FaultResult.RETRY;
                }
                return ledger.reserve(fault.page(), fault.generation());
            });
        }

        private int pageOneState() {
            return Fixture.state(region, 1);
        }

        void writerA(IIIIIII_Result r) {
            try {
                region.putLong(Fixture.PAGE, 1);
                r.r1 = 0;
            } catch (OutOfRegionException e) {
                r.r1 = 1;
            } catch (RuntimeException e) {
                r.r1 = 2;
            }
        }

        void actorB() {
            threadB = Thread.currentThread();
            try {
                region.truncate(Fixture.PAGE);
                generationAfterTruncate = Fixture.generation(region, 1);
                region.grow(2L * Fixture.PAGE);
                region.putLong(Fixture.PAGE + 8, 2);
            } catch (IOException | RuntimeException e) {
                failures++;
            }
        }

        void arbiter(IIIIIII_Result r) {
            int pinsLeft = Fixture.dispose(region);
            Fixture.Tracked t = first;
            long cut = generationAfterTruncate;
            if (t == null) {
                r.r2 = 0;
            } else if (t.generation >= cut) {
                r.r2 = t.consumed.get() == 1 && t.released.get() == 0 ? 1 : 4;
            } else if (t.consumed.get() == 0 && t.released.get() == 1) {
                r.r2 = t.releasedBy == threadB ? 2 : 3;
            } else {
                r.r2 = 4;
            }
            r.r3 = failures;
            r.r4 = ledger.unbalanced();
            r.r5 = ledger.consumedBefore(1, cut);
            r.r6 = (int) region.stats().reservationsOutstanding();
            r.r7 = pinsLeft;
        }
    }

    @Outcome(id = "0, 0, 0, 0, 0, 0, 0", expect = ACCEPTABLE,
            desc = "A found page 1 prepared (by B) and wrote without a handler call")
    @Outcome(id = "0, 1, 0, 0, 0, 0, 0", expect = ACCEPTABLE,
            desc = "A claimed page 1 after the extend and adopted its own work")
    @Outcome(id = "0, 2, 0, 0, 0, 0, 0", expect = ACCEPTABLE,
            desc = "A's retry adopted its work before the truncate, which released it")
    @Outcome(id = "0, 3, 0, 0, 0, 0, 0", expect = ACCEPTABLE_INTERESTING,
            desc = "truncate-then-extend while A's lock was dropped: A's retry released its stale work, then wrote")
    @Outcome(id = "1, 0, 0, 0, 0, 0, 0", expect = ACCEPTABLE,
            desc = "A wrote between the truncate and the extend: out of region")
    @Outcome(id = "1, 2, 0, 0, 0, 0, 0", expect = ACCEPTABLE,
            desc = "A's retry adopted its work, the truncate removed the page before A pinned it: out of region")
    @Outcome(id = "1, 3, 0, 0, 0, 0, 0", expect = ACCEPTABLE_INTERESTING,
            desc = "A's retry came between the truncate and the extend: stale work released, out of region")
    @Outcome(expect = FORBIDDEN, desc = "A failed otherwise (r1 2), A's work was adopted stale or ended wrongly (r2 4),"
            + " or a check failed: r3 B's operation threw, r4 reservations not ended exactly once, r5 reservations"
            + " from before the truncate consumed, r6 outstanding after close, r7 pins left")
    public static class TruncateExtendOutcomes {
    }

    @JCStressTest
    @JCStressMeta(TruncateExtendOutcomes.class)
    @State
    public static class TruncateExtend_MemorySegment extends TruncateExtend {
        public TruncateExtend_MemorySegment() {
            super(Backing.MEMORY_SEGMENT);
        }

        @Actor
        public void a(IIIIIII_Result r) {
            writerA(r);
        }

        @Actor
        public void b() {
            actorB();
        }

        @Arbiter
        public void check(IIIIIII_Result r) {
            arbiter(r);
        }
    }

    @JCStressTest
    @JCStressMeta(TruncateExtendOutcomes.class)
    @State
    public static class TruncateExtend_MappedByteBuffer extends TruncateExtend {
        public TruncateExtend_MappedByteBuffer() {
            super(Backing.MAPPED_BYTE_BUFFER);
        }

        @Actor
        public void a(IIIIIII_Result r) {
            writerA(r);
        }

        @Actor
        public void b() {
            actorB();
        }

        @Arbiter
        public void check(IIIIIII_Result r) {
            arbiter(r);
        }
    }
}
