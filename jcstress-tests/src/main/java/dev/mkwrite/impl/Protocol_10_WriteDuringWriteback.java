/*
 * G5 (K8) without stable pages: a write during writeback is never lost.
 *
 * A region without stable pages (the default) lets a writer store into a page while a flush writes it
 * back, as the kernel does for devices that do not ask for stable writes. The page must then stay dirty,
 * so the next flush writes it again: no write may be lost, and dirty tracking stays exact.
 *
 * Page 0 starts WRITABLE and dirty. A writer opens a span over it and stores two longs, 1 at offset 0 and
 * then 1 at offset 8, with some work between. A flush races it: it may take the page before the writer
 * (the writer then enters the page under writeback and marks it REDIRTIED), while the writer holds it (the
 * flush writes back what is there and leaves it dirty), or after. The handler's beforeWriteback records
 * what each writeback saw. Then the arbiter flushes once more: what the last writeback saw must be both
 * stores, and the page must end CLEAN.
 *
 *   r1: what the racing flush's writeback saw: 0 neither store, 3 both, 1 or 2 one of them (a torn page
 *       is allowed here: the pages are not stable);
 * and one slot per check, each 0 in a correct run, so a FORBIDDEN result names the check that failed:
 *   r2: 1 if a write was lost: after the arbiter's flush, the last writeback did not see both stores;
 *   r3: 1 if the page did not end CLEAN after the arbiter's flush;
 *   r4: 1 if the writer threw;
 *   r5: 1 if a flush threw;
 *   r6: 1 if pins were left behind (the region is then not closed).
 *
 * Runs on both backings. Fails with CLEAN_AFTER_WRITEBACK (a page written during its writeback is made
 * CLEAN regardless): r2 is 1, the arbiter's flush finds nothing to write and the stores that landed after
 * the racing writeback read the page never reach storage.
 *
 * Run: ./dev jcstress -t Protocol_10
 */
package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.FaultResult;
import dev.mkwrite.Reservation;
import dev.mkwrite.WriteFault;
import dev.mkwrite.WriteFaultHandler;
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

/** G5 without stable pages: a writer against flush, then one more flush. */
public final class Protocol_10_WriteDuringWriteback {

    private Protocol_10_WriteDuringWriteback() {
    }

    /** Shared logic: the handler is also the writeback observer. */
    abstract static class WriterAgainstFlush implements WriteFaultHandler {
        final Region region;
        /** What the latest writeback saw: bit 0 the store at 0, bit 1 the store at 8; -1 before any. */
        volatile int lastSeen = -1;
        /** What the racing flush's writeback saw. */
        volatile int flushSeen = -1;
        /** Calls of {@link #prepare}: one, before the race, in a correct run of Protocol_14. */
        volatile int handlerCalls;
        int writerFailed;
        int flushFailed;

        WriterAgainstFlush(Backing backing) {
            region = Fixture.open(backing, Fixture.PAGE, this);
            region.putLong(0, 0); // page 0 WRITABLE and dirty before the race
        }

        @Override
        public FaultResult prepare(WriteFault fault) {
            handlerCalls++; // one fault at a time prepares page 0 (G2): the increments never race
            return Reservation.none();
        }

        @Override
        public void beforeWriteback(long page, MemorySegment contents) {
            long a = contents.get(ValueLayout.JAVA_LONG_UNALIGNED, 0);
            Fixture.work(100);
            long b = contents.get(ValueLayout.JAVA_LONG_UNALIGNED, 8);
            lastSeen = (a == 1 ? 1 : 0) | (b == 1 ? 2 : 0);
        }

        void writer() {
            try (WriteSpan span = region.write(0, 16)) {
                span.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 1);
                Fixture.work(1000); // a long span: the flush arrives while it is pinned, or takes the page first
                span.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, 8, 1);
            } catch (RuntimeException e) {
                writerFailed = 1;
            }
        }

        void flusher() {
            try {
                lastSeen = -1;
                region.flush();
                flushSeen = lastSeen;
            } catch (IOException | RuntimeException e) {
                flushFailed = 1;
            }
        }

        /** After the arbiter's flush: page 0 is CLEAN (Protocol_14 keeps it PREPARED instead). */
        boolean endedAsExpected() {
            return Fixture.state(region, 0) == PageState.CLEAN;
        }

        void arbiter(IIIIII_Result r) {
            r.r1 = flushSeen;
            try {
                region.flush(); // writes the page again if it was written during the racing writeback
            } catch (IOException | RuntimeException e) {
                flushFailed = 1;
            }
            r.r2 = lastSeen == 3 ? 0 : 1;
            r.r3 = endedAsExpected() ? 0 : 1;
            r.r4 = writerFailed;
            r.r5 = flushFailed;
            r.r6 = Fixture.dispose(region);
        }
    }

    @Outcome(id = {"0, 0, 0, 0, 0, 0", "1, 0, 0, 0, 0, 0", "2, 0, 0, 0, 0, 0"}, expect = ACCEPTABLE_INTERESTING,
            desc = "the writer stored during the writeback (seen partly or not at all): the page stayed dirty and"
                    + " the next flush wrote both stores")
    @Outcome(id = "3, 0, 0, 0, 0, 0", expect = ACCEPTABLE,
            desc = "the writeback saw both stores")
    @Outcome(expect = FORBIDDEN, desc = "a check failed: r2 a lost write (the last writeback missed a store),"
            + " r3 the page not CLEAN after the last flush, r4 the writer threw, r5 a flush threw, r6 pins left")
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
