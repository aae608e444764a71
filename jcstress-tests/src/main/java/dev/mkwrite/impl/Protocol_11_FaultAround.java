/*
 * G4 (K6) for write fault-around: a truncate-then-extend racing a fault whose handler prepared the pages
 * after its own never lets a page past the new end keep that preparation. The run's pages are PREPARED
 * (ready, not dirty); truncate must release their reservations and move them to its generation, so the
 * next write into such a page, after the region grew back, calls the handler afresh.
 *
 * A region of four pages whose handler takes up to two pages around its fault (pages 1 and 2 of a fault
 * on page 0), each with its own tracked reservation. Writer A writes page 0. Actor B truncates to one
 * page, reads the generation the truncate gave page 3 (never prepared, so always removed), grows back to
 * four pages, and writes page 2. Two orders: A's fault came first, and its run (pages 1, 2) was removed
 * by the truncate; or the truncate came first, and A's fault found pages 1 and 2 at a newer generation
 * than page 0 and took no run.
 *   r1: 1 if A's run reached page 2 before the truncate, else 0 (both acceptable);
 * and one slot per check, each 0 in a correct run:
 *   r2: 1 if A's write or one of B's operations threw;
 *   r3: reservations that did not end exactly once (leaked, or ended twice);
 *   r4: reservations for page 2 made before the truncate that were consumed: B's write went into a page
 *       prepared for the page the truncate removed (stale work adopted);
 *   r5: reservations still outstanding after close;
 *   r6: 1 if pins were left behind.
 * Fails with AROUND_SURVIVES_TRUNCATE (the truncate leaves PREPARED pages as they were): r1 is 1 and r4
 * is 1.
 *
 * EnterTruncate: the minor fault. Page 1 of a two-page region is PREPARED (the state's constructor wrote
 * page 0). Writer A writes page 1: it enters the page without the region lock, by one CAS from PREPARED to
 * WRITABLE. Actor B truncates to one page. Truncate's quiesce takes PREPARED pages by CAS, so either A
 * entered first (the page is WRITABLE, quiesce freezes it and waits for A's pin, the truncate releases its
 * reservation) or the truncate took it first (A faults, and finds it out of region).
 *   r1: A's result: 0 wrote, 1 out of region, 2 anything else;
 * and one slot per check, each 0 in a correct run:
 *   r2: 1 if the truncate threw;
 *   r3: reservations that did not end exactly once;
 *   r4: page 1's reservations that were consumed (it was removed: released only);
 *   r5: reservations still outstanding after close;
 *   r6: 1 if pins were left behind, 2 if the region counts writable pages after the truncate and A's write,
 *       without one (a lost update of the page's word).
 * Fails with QUIESCE_LEAVES_PREPARED (the removal drops the page with a plain store while A enters it by
 * CAS: the truncate finds it WRITABLE and throws, r2 is 1, or A's entry is overwritten).
 *
 * Run: ./dev jcstress -t Protocol_11
 */
package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.OutOfRegionException;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.JCStressMeta;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.IIIIII_Result;

import java.io.IOException;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/** G4 for fault-around: the pages of a run that a truncate removes never keep their preparation. */
public final class Protocol_11_FaultAround {

    private Protocol_11_FaultAround() {
    }

    /** Shared logic of the TruncateExtend scenario. */
    abstract static class TruncateExtend {
        final Fixture.Ledger ledger = new Fixture.Ledger();
        final Region region;
        int failed;
        long truncatedAt = Long.MAX_VALUE;

        TruncateExtend(Backing backing) {
            region = Fixture.open(backing, 4L * Fixture.PAGE, fault -> {
                fault.prepareAround(Math.min(2, fault.aroundPages()), page -> ledger.reserve(page, fault.generation()));
                return ledger.reserve(fault.page(), fault.generation());
            });
        }

        void writer() {
            try {
                region.putLong(0, 1);
            } catch (RuntimeException e) {
                failed = 1;
            }
        }

        void truncateExtendWrite() {
            try {
                region.truncate(Fixture.PAGE);
                truncatedAt = Fixture.generation(region, 3);
                region.grow(4L * Fixture.PAGE);
                region.putLong(2L * Fixture.PAGE, 2);
            } catch (IOException | RuntimeException e) {
                failed = 1;
            }
        }

        void arbiter(IIIIII_Result r) {
            int pinsLeft = Fixture.dispose(region);
            r.r1 = ledger.madeBefore(2, truncatedAt) > 0 ? 1 : 0;
            r.r2 = failed;
            r.r3 = ledger.unbalanced();
            r.r4 = ledger.consumedBefore(2, truncatedAt);
            r.r5 = (int) region.stats().reservationsOutstanding();
            r.r6 = pinsLeft;
        }
    }

    /** Shared logic of the EnterTruncate scenario. */
    abstract static class EnterTruncate {
        final Fixture.Ledger ledger = new Fixture.Ledger();
        final Region region;
        int truncateFailed;

        EnterTruncate(Backing backing) {
            region = Fixture.open(backing, 2L * Fixture.PAGE, fault -> {
                fault.prepareAround(fault.aroundPages(), page -> ledger.reserve(page, fault.generation()));
                return ledger.reserve(fault.page(), fault.generation());
            });
            region.putLong(0, 1); // page 1 is PREPARED
        }

        void writer(IIIIII_Result r) {
            try {
                region.putLong(Fixture.PAGE, 1);
                r.r1 = 0;
            } catch (OutOfRegionException e) {
                r.r1 = 1;
            } catch (RuntimeException e) {
                r.r1 = 2;
            }
        }

        void truncate() {
            try {
                region.truncate(Fixture.PAGE);
            } catch (IOException | RuntimeException e) {
                truncateFailed = 1;
            }
        }

        void arbiter(IIIIII_Result r) {
            long writable = region.stats().writablePages(); // page 0 only
            int pinsLeft = Fixture.dispose(region);
            r.r2 = truncateFailed;
            r.r3 = ledger.unbalanced();
            r.r4 = ledger.consumedBefore(1, Long.MAX_VALUE);
            r.r5 = (int) region.stats().reservationsOutstanding();
            r.r6 = pinsLeft != 0 ? 1 : writable != 1 ? 2 : 0;
        }
    }

    @Outcome(id = "0, 0, 0, 0, 0, 0", expect = ACCEPTABLE,
            desc = "A entered page 1 first; the truncate froze it, waited for A, and released its reservation")
    @Outcome(id = "1, 0, 0, 0, 0, 0", expect = ACCEPTABLE,
            desc = "the truncate took page 1 first; A's write was out of region")
    @Outcome(expect = FORBIDDEN, desc = "A failed otherwise (r1 2), or a check failed: r2 truncate threw, r3"
            + " reservations not ended exactly once, r4 page 1's reservation consumed, r5 outstanding after close,"
            + " r6 pins left (1) or a lost update of page 1's word (2)")
    public static class EnterOutcomes {
    }

    @JCStressTest
    @JCStressMeta(EnterOutcomes.class)
    @State
    public static class EnterTruncate_MemorySegment extends EnterTruncate {
        public EnterTruncate_MemorySegment() {
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
    @JCStressMeta(EnterOutcomes.class)
    @State
    public static class EnterTruncate_MappedByteBuffer extends EnterTruncate {
        public EnterTruncate_MappedByteBuffer() {
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

    @Outcome(id = "0, 0, 0, 0, 0, 0", expect = ACCEPTABLE,
            desc = "the truncate came first: A's fault took no run, or one at the new generation")
    @Outcome(id = "1, 0, 0, 0, 0, 0", expect = ACCEPTABLE,
            desc = "A's run came first; the truncate released it and B's write prepared page 2 afresh")
    @Outcome(expect = FORBIDDEN, desc = "a check failed: r2 an operation threw, r3 reservations not ended exactly"
            + " once, r4 a stale preparation of page 2 adopted, r5 outstanding after close, r6 pins left")
    public static class Outcomes {
    }

    @JCStressTest
    @JCStressMeta(Outcomes.class)
    @State
    public static class TruncateExtend_MemorySegment extends TruncateExtend {
        public TruncateExtend_MemorySegment() {
            super(Backing.MEMORY_SEGMENT);
        }

        @Actor
        public void a() {
            writer();
        }

        @Actor
        public void b() {
            truncateExtendWrite();
        }

        @Arbiter
        public void check(IIIIII_Result r) {
            arbiter(r);
        }
    }

    @JCStressTest
    @JCStressMeta(Outcomes.class)
    @State
    public static class TruncateExtend_MappedByteBuffer extends TruncateExtend {
        public TruncateExtend_MappedByteBuffer() {
            super(Backing.MAPPED_BYTE_BUFFER);
        }

        @Actor
        public void a() {
            writer();
        }

        @Actor
        public void b() {
            truncateExtendWrite();
        }

        @Arbiter
        public void check(IIIIII_Result r) {
            arbiter(r);
        }
    }
}
