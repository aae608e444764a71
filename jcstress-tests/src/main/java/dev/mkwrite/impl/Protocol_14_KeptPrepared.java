/*
 * G5 (K8) with written-back pages kept prepared: a write into a kept page is never lost, and takes no fault.
 *
 * A handler that says an overwrite needs no preparing (WriteFaultHandler.preparesOverwrites false) makes a
 * flush leave its pages PREPARED, not CLEAN: the next write enters such a page by one CAS, without a fault
 * or a handler call, and the page is dirty again. This test races that entry with a flush.
 *
 * Page 0 starts kept: written once (the one handler call) and flushed, so PREPARED. A writer opens a span
 * over it and stores two longs, 1 at offset 0 and then 1 at offset 8, with some work between. A flush
 * races it: it may run before the writer enters (nothing is dirty), take the page while the writer holds
 * it (no stable pages: it forces the page as it is and marks it REDIRTIED, so it stays dirty), or take it
 * between the writer's entry and its pin (the writer then stores during the writeback and marks the page
 * REDIRTIED itself, so it must stay dirty too). The handler's beforeWriteback records what each writeback saw. Then the arbiter flushes once
 * more: the last writeback must have seen both stores, and the page must end PREPARED again.
 *
 *   r1: what the racing flush's writeback saw: -1 it wrote nothing, 0 neither store, 3 both, 1 or 2 one of
 *       them (a torn page is allowed: the pages are not stable);
 * and one slot per check, each 0 in a correct run, so a FORBIDDEN result names the check that failed:
 *   r2: 1 if a write was lost: after the arbiter's flush, the last writeback did not see both stores;
 *   r3: 1 if the page did not end PREPARED, or the handler ran for the writer;
 *   r4: 1 if the writer threw;
 *   r5: 1 if a flush threw;
 *   r6: 1 if pins were left behind (the region is then not closed).
 *
 * Runs on both backings. Fails with KEPT_PREPARED_REGARDLESS (a page written during its writeback is kept
 * PREPARED regardless): r2 is 1, the arbiter's flush finds nothing dirty, and the stores that landed after
 * the racing writeback read the page never reach storage.
 *
 * Run: ./dev jcstress -t Protocol_14
 */
package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.JCStressMeta;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.IIIIII_Result;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE_INTERESTING;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/** G5 with pages kept prepared: a writer entering a kept page against flush, then one more flush. */
public final class Protocol_14_KeptPrepared {

    private Protocol_14_KeptPrepared() {
    }

    /**
     * Protocol_10's writer, flusher and writeback observer, with a handler that keeps written-back pages
     * prepared, and page 0 kept before the race.
     */
    abstract static class WriterAgainstFlush extends Protocol_10_WriteDuringWriteback.WriterAgainstFlush {

        WriterAgainstFlush(Backing backing) {
            super(backing); // the one fault: page 0 WRITABLE and dirty
            try {
                region.flush(); // page 0 kept PREPARED
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        @Override
        public boolean preparesOverwrites(Path path) {
            return false;
        }

        /**
         * After the arbiter's flush: page 0 kept PREPARED again, and the handler never ran for the writer.
         * (Its entry may still go through the fault path, when a flush moves the page between the writer's
         * reads: the fault then adopts the kept page without calling the handler.)
         */
        @Override
        boolean endedAsExpected() {
            return Fixture.state(region, 0) == PageState.PREPARED && handlerCalls == 1;
        }
    }

    @Outcome(id = {"-1, 0, 0, 0, 0, 0", "0, 0, 0, 0, 0, 0", "1, 0, 0, 0, 0, 0", "2, 0, 0, 0, 0, 0"},
            expect = ACCEPTABLE_INTERESTING,
            desc = "the racing flush wrote nothing, or the writer stored during its writeback (seen partly or not"
                    + " at all): the page was dirty again and the next flush wrote both stores")
    @Outcome(id = "3, 0, 0, 0, 0, 0", expect = ACCEPTABLE,
            desc = "the racing writeback saw both stores")
    @Outcome(expect = FORBIDDEN, desc = "a check failed: r2 a lost write (the last writeback missed a store),"
            + " r3 the page not kept PREPARED or a second handler call, r4 the writer threw, r5 a flush threw,"
            + " r6 pins left")
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
