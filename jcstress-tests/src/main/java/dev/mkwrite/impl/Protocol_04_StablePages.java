/*
 * G5 (K8): stable pages, and no lost write.
 *
 * Page 0 starts WRITABLE and dirty. A writer opens a span over it and stores two longs, 1 at offset 0 and
 * then 1 at offset 8, with some work between. A flush races it. The handler's beforeWriteback callback
 * reads both longs, works a little, and reads the first again: with stable pages no byte of the page
 * changes while the callback sees it, and the callback sees either neither store (the flush took the page
 * first and the writer waited for writeback to end) or both (the flush waited for the writer to leave).
 *
 * The arbiter checks that no write was lost: if the page ended CLEAN, what its last writeback saw must be
 * the page's final contents; otherwise the writer's stores would never reach storage.
 *
 *   r1: what the callback saw: 0 neither store, 3 both, 1 or 2 one of them (torn);
 * and one slot per check, each 0 in a correct run, so a FORBIDDEN result names the check that failed:
 *   r2: 1 if the page changed while the callback read it;
 *   r3: 1 if a write was lost (the page ended CLEAN, but its last writeback missed a store);
 *   r4: 1 if the writer threw;
 *   r5: 1 if the flush threw;
 *   r6: 1 if pins were left behind (the region is then not closed).
 *
 * Runs on both backings. Fails with FLUSH_WITHOUT_DRAIN (flush writes back pinned pages): r3 is 1, a lost
 * write, and r1 is 0 or torn.
 *
 * Run: ./dev jcstress -t Protocol_04
 */
package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.FaultResult;
import dev.mkwrite.Reservation;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.WriteFault;
import dev.mkwrite.WriteSpan;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.JCStressMeta;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.IIIIII_Result;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE_INTERESTING;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/** G5: a writer against flush. */
public final class Protocol_04_StablePages {

    private Protocol_04_StablePages() {
    }

    /** Shared logic: the handler is also the writeback observer. */
    abstract static class WriterAgainstFlush implements WriteFaultHandler {
        final Region region;
        /** What the latest writeback saw: bit 0 the store at 0, bit 1 the store at 8; -1 before any. */
        volatile int lastSeen = -1;
        /** What the racing flush's writeback saw. */
        volatile int flushSeen = -1;
        volatile boolean unstable;
        int writerFailed;
        int flushFailed;

        WriterAgainstFlush(Backing backing) {
            region = Fixture.open(backing, Fixture.PAGE, this);
            region.putLong(0, 0); // page 0 WRITABLE and dirty before the race
        }

        @Override
        public FaultResult prepare(WriteFault fault) {
            return Reservation.none();
        }

        @Override
        public boolean needsStablePages() {
            return true; // this test is about stable pages; Protocol_10 covers a region without them
        }

        @Override
        public void beforeWriteback(long page, MemorySegment contents) {
            long a = contents.get(ValueLayout.JAVA_LONG_UNALIGNED, 0);
            Fixture.work(100);
            long b = contents.get(ValueLayout.JAVA_LONG_UNALIGNED, 8);
            if (contents.get(ValueLayout.JAVA_LONG_UNALIGNED, 0) != a) {
                unstable = true;
            }
            lastSeen = (a == 1 ? 1 : 0) | (b == 1 ? 2 : 0);
        }

        void writer() {
            try (WriteSpan span = region.write(0, 16)) {
                span.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 1);
                Fixture.work(1000); // a long span: the flush must arrive while it is pinned
                span.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, 8, 1);
            } catch (RuntimeException e) {
                writerFailed = 1;
            }
        }

        void flusher() {
            try {
                region.flush();
                flushSeen = lastSeen;
            } catch (IOException | RuntimeException e) {
                flushFailed = 1;
            }
        }

        void arbiter(IIIIII_Result r) {
            r.r1 = flushSeen;
            r.r2 = unstable ? 1 : 0;
            boolean lost = Fixture.state(region, 0) == PageState.CLEAN && lastSeen != 3;
            r.r3 = lost ? 1 : 0;
            r.r4 = writerFailed;
            r.r5 = flushFailed;
            r.r6 = Fixture.dispose(region);
        }
    }

    @Outcome(id = "0, 0, 0, 0, 0, 0", expect = ACCEPTABLE_INTERESTING,
            desc = "the flush took the page first; the writer waited for writeback and dirtied it again")
    @Outcome(id = "3, 0, 0, 0, 0, 0", expect = ACCEPTABLE,
            desc = "the writer was first; the flush waited for it to leave")
    @Outcome(expect = FORBIDDEN, desc = "a torn page under writeback (r1 1 or 2), or a check failed: r2 the page changed"
            + " under writeback, r3 a lost write, r4 the writer threw, r5 the flush threw, r6 pins left")
    public static class Outcomes {
    }

    @JCStressTest
    @JCStressMeta(Outcomes.class)
    @State
    public static class MemorySegmentBacking extends WriterAgainstFlush {
        public MemorySegmentBacking() {
            super(Backing.MEMORY_SEGMENT);
        }

        @Actor
        public void writer1() {
            writer();
        }

        @Actor
        public void flush() {
            flusher();
        }

        @Arbiter
        public void check(IIIIII_Result r) {
            arbiter(r);
        }
    }

    @JCStressTest
    @JCStressMeta(Outcomes.class)
    @State
    public static class MappedByteBufferBacking extends WriterAgainstFlush {
        public MappedByteBufferBacking() {
            super(Backing.MAPPED_BYTE_BUFFER);
        }

        @Actor
        public void writer1() {
            writer();
        }

        @Actor
        public void flush() {
            flusher();
        }

        @Arbiter
        public void check(IIIIII_Result r) {
            arbiter(r);
        }
    }
}
