/*
 * G6 (K2): grow and close never race a pinned writer; no crash after close.
 *
 * Close: page 0 starts WRITABLE, so the writer takes the lock-free fast path and pins it. close() races
 * it. Close must drain the pin before it writes back and unmaps: the writer either completes, and its
 * stores are in the file afterwards, or it starts after close began and gets RegionClosedException.
 * Anything else (an IllegalStateException from an unmapped segment, an InternalError, a crash, a failed
 * close) is forbidden.
 *   r1: the writer: 0 wrote, 1 RegionClosedException, 2 anything else;
 *   r2: close: 0 returned normally, 1 threw;
 * and one slot per check, each 0 in a correct run, so a FORBIDDEN result names the check that failed:
 *   r3: 1 if the writer's acknowledged stores are missing from the file;
 *   r4: 1 if they are missing from the page's last writeback once the region is closed (written after
 *       it, so never flushed; the only sign on MAPPED_BYTE_BUFFER, whose mapping close cannot unmap);
 *   r5: reservations that did not end exactly once;
 *   r6: reservations still outstanding after close;
 *   r7: 1 if pins were left behind (the region is then not closed, and r4 is not checked).
 *
 * Grow: the region is one and a half pages, and its last page, partly covered, starts WRITABLE. A
 * writer pins it while grow(2 pages) races. Growing a partial last page writes it back and gives it a new
 * generation, then remaps: all of which must wait until the writer has left.
 *   r1: the writer: 0 wrote and saw the old size in its span, 1 wrote and saw the new size, 2 failed;
 *   r2: grow: 0 returned normally, 1 threw;
 *   r3-r7: as in Close, except that r3 reads the stores back through the region;
 *   r8: 1 if the region's size is wrong after the grow.
 *
 * GrowPast (MEMORY_SEGMENT, the backing that unmaps): the region is two whole pages and page 0 starts
 * WRITABLE. A writer pins it while a grow past the mapping's room to grow in place (1 MiB and a page)
 * races. Grow no longer waits for writers of whole pages:
 * it retires the old mapping, and the unmapper may unmap it only after the writer has left. The writer's
 * second store, after the grow, goes through the old mapping.
 *   r1: the writer: 0 wrote and its span began before the grow, 1 wrote and the grow ended inside its
 *       span (the store went through the retired mapping), 2 failed;
 *   r2-r8: as in Grow (the page is written back only at close, so r4 checks that close saw both stores).
 *
 * GrowPast runs twice: with the writer pinned through its hazard slot, and (the jcstress-state-pins
 * execution, -Ddev.mkwrite.impl.testing.stateWordPins=true) through the page's state word, as the
 * prepare-ahead thread and a thread without a slot pin; the retired mapping waits for such a pin by the
 * epoch it began in (Pins.StatePins). Fails there with STATE_PINS_IGNORED (the retirement waits for the
 * slots only): the writer's second store meets the unmapped segment (r1 is 2), or the forked JVM crashes.
 *
 * Close and Grow run on both backings. Fail with REMAP_WITHOUT_DRAIN (exclusive operations do not wait for pinned
 * writers; a grow unmaps the old mapping at once): the writer then touches an unmapped segment
 * (MEMORY_SEGMENT; r1 is 2), or a store lands in a page already written back (r4 is 1); either may also
 * crash the forked JVM, which counts as a failure too.
 *
 * Run: ./dev jcstress -t Protocol_05
 */
package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.FaultResult;
import dev.mkwrite.RegionClosedException;
import dev.mkwrite.WriteFault;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.WriteSpan;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.JCStressMeta;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.IIIIIIII_Result;
import org.openjdk.jcstress.infra.results.IIIIIII_Result;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.lang.foreign.ValueLayout;
import java.nio.file.StandardOpenOption;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE_INTERESTING;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/** G6: exclusive operations against a pinned writer. */
public final class Protocol_05_PinnedWriter {

    private Protocol_05_PinnedWriter() {
    }

    private static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /**
     * Reserves through a ledger, and records what the latest writeback saw of the writer's two stores
     * (1 at {@code at}, 2 at {@code at + 8}): bit 0 the first, bit 1 the second. Once the region is
     * closed, every page was written back after its last store, so a writer that wrote must have been
     * seen whole (3); less means a store landed in a page already written back, and was never flushed.
     */
    static final class Observer implements WriteFaultHandler {
        final Fixture.Ledger ledger = new Fixture.Ledger();
        private final long page;
        private final long inPage;
        volatile int lastSeen = -1;

        Observer(long at) {
            page = at / Fixture.PAGE;
            inPage = at % Fixture.PAGE;
        }

        @Override
        public FaultResult prepare(WriteFault fault) {
            return ledger.reserve(fault.page(), fault.generation());
        }

        @Override
        public void beforeWriteback(long p, MemorySegment contents) {
            if (p == page) {
                lastSeen = (contents.get(LONG_LE, inPage) == 1 ? 1 : 0) | (contents.get(LONG_LE, inPage + 8) == 2 ? 2 : 0);
            }
        }

        /** 1 if a writer that wrote was not seen whole by the last writeback, after close; else 0. */
        int unflushed(boolean wrote) {
            return wrote && lastSeen != 3 ? 1 : 0;
        }
    }

    /** Shared logic of the Close scenario. */
    abstract static class Close {
        final Observer observer = new Observer(0);
        final Fixture.Ledger ledger = observer.ledger;
        final Region region;

        Close(Backing backing) {
            region = Fixture.open(backing, Fixture.PAGE, observer);
            region.putLong(0, 0); // WRITABLE: the writer below pins it on the fast path
        }

        void writer(IIIIIII_Result r) {
            try (WriteSpan span = region.write(0, 16)) {
                span.segment().set(LONG_LE, 0, 1);
                Fixture.work(2000); // a long span: close must arrive while it is pinned
                span.segment().set(LONG_LE, 8, 2);
                r.r1 = 0;
            } catch (RegionClosedException e) {
                r.r1 = 1;
            } catch (RuntimeException | Error e) {
                r.r1 = 2;
            }
        }

        void closer(IIIIIII_Result r) {
            r.r2 = Fixture.closeQuietly(region);
        }

        void arbiter(IIIIIII_Result r) {
            int missing = 0;
            if (r.r1 == 0) {
                ByteBuffer file = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
                try (FileChannel ch = FileChannel.open(region.path(), StandardOpenOption.READ)) {
                    ch.read(file, 0);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
                missing = file.getLong(0) == 1 && file.getLong(8) == 2 ? 0 : 1;
            }
            int pinsLeft = Fixture.dispose(region);
            r.r3 = missing;
            r.r4 = pinsLeft == 0 ? observer.unflushed(r.r1 == 0) : 0;
            r.r5 = ledger.unbalanced();
            r.r6 = (int) region.stats().reservationsOutstanding();
            r.r7 = pinsLeft;
        }
    }

    @Outcome(id = "0, 0, 0, 0, 0, 0, 0", expect = ACCEPTABLE,
            desc = "the writer finished first; close drained it and wrote it back")
    @Outcome(id = "1, 0, 0, 0, 0, 0, 0", expect = ACCEPTABLE_INTERESTING,
            desc = "close began first; the writer got RegionClosedException")
    @Outcome(expect = FORBIDDEN, desc = "the writer failed otherwise (r1 2), close threw (r2), or a check failed: r3 stores"
            + " missing from the file, r4 missing from the last writeback, r5 reservations not ended exactly once,"
            + " r6 outstanding after close, r7 pins left")
    public static class CloseOutcomes {
    }

    @JCStressTest
    @JCStressMeta(CloseOutcomes.class)
    @State
    public static class Close_MemorySegment extends Close {
        public Close_MemorySegment() {
            super(Backing.MEMORY_SEGMENT);
        }

        @Actor
        public void write(IIIIIII_Result r) {
            writer(r);
        }

        @Actor
        public void close(IIIIIII_Result r) {
            closer(r);
        }

        @Arbiter
        public void check(IIIIIII_Result r) {
            arbiter(r);
        }
    }

    @JCStressTest
    @JCStressMeta(CloseOutcomes.class)
    @State
    public static class Close_MappedByteBuffer extends Close {
        public Close_MappedByteBuffer() {
            super(Backing.MAPPED_BYTE_BUFFER);
        }

        @Actor
        public void write(IIIIIII_Result r) {
            writer(r);
        }

        @Actor
        public void close(IIIIIII_Result r) {
            closer(r);
        }

        @Arbiter
        public void check(IIIIIII_Result r) {
            arbiter(r);
        }
    }

    /** Shared logic of the Grow scenario. */
    abstract static class Grow {
        static final long OLD_SIZE = Fixture.PAGE + Fixture.PAGE / 2;
        static final long NEW_SIZE = 2L * Fixture.PAGE;
        static final long AT = Fixture.PAGE + 8;

        final Observer observer = new Observer(AT);
        final Fixture.Ledger ledger = observer.ledger;
        final Region region;

        Grow(Backing backing) {
            region = Fixture.open(backing, OLD_SIZE, observer);
            region.putLong(AT, 0); // the partial last page WRITABLE: the writer pins it on the fast path
        }

        void writer(IIIIIIII_Result r) {
            try (WriteSpan span = region.write(AT, 16)) {
                span.segment().set(LONG_LE, 0, 1);
                long size = region.size();
                Fixture.work(2000); // a long span: grow must arrive while it is pinned
                span.segment().set(LONG_LE, 8, 2);
                r.r1 = size == OLD_SIZE ? 0 : 1;
            } catch (RuntimeException | Error e) {
                r.r1 = 2;
            }
        }

        void grower(IIIIIIII_Result r) {
            try {
                region.grow(NEW_SIZE);
                r.r2 = 0;
            } catch (IOException | RuntimeException e) {
                r.r2 = 1;
            }
        }

        void arbiter(IIIIIIII_Result r) {
            r.r8 = region.size() == NEW_SIZE ? 0 : 1;
            boolean wrote = r.r1 != 2;
            r.r3 = wrote && (region.getLong(AT) != 1 || region.getLong(AT + 8) != 2) ? 1 : 0;
            int pinsLeft = Fixture.dispose(region);
            r.r4 = pinsLeft == 0 ? observer.unflushed(wrote) : 0;
            r.r5 = ledger.unbalanced();
            r.r6 = (int) region.stats().reservationsOutstanding();
            r.r7 = pinsLeft;
        }
    }

    @Outcome(id = "0, 0, 0, 0, 0, 0, 0, 0", expect = ACCEPTABLE,
            desc = "the writer was first; grow waited for it to leave")
    @Outcome(id = "1, 0, 0, 0, 0, 0, 0, 0", expect = ACCEPTABLE_INTERESTING,
            desc = "grow was first; the writer faulted the renewed page again")
    @Outcome(expect = FORBIDDEN, desc = "the writer failed (r1 2), grow threw (r2), or a check failed: r3 stores missing,"
            + " r4 missing from the last writeback, r5 reservations not ended exactly once, r6 outstanding after"
            + " close, r7 pins left, r8 wrong size")
    public static class GrowOutcomes {
    }

    @JCStressTest
    @JCStressMeta(GrowOutcomes.class)
    @State
    public static class Grow_MemorySegment extends Grow {
        public Grow_MemorySegment() {
            super(Backing.MEMORY_SEGMENT);
        }

        @Actor
        public void write(IIIIIIII_Result r) {
            writer(r);
        }

        @Actor
        public void grow(IIIIIIII_Result r) {
            grower(r);
        }

        @Arbiter
        public void check(IIIIIIII_Result r) {
            arbiter(r);
        }
    }

    @JCStressTest
    @JCStressMeta(GrowOutcomes.class)
    @State
    public static class Grow_MappedByteBuffer extends Grow {
        public Grow_MappedByteBuffer() {
            super(Backing.MAPPED_BYTE_BUFFER);
        }

        @Actor
        public void write(IIIIIIII_Result r) {
            writer(r);
        }

        @Actor
        public void grow(IIIIIIII_Result r) {
            grower(r);
        }

        @Arbiter
        public void check(IIIIIIII_Result r) {
            arbiter(r);
        }
    }

    /** Grow past whole pages while a writer is pinned below the old end: the grow does not wait. */
    @JCStressTest
    @Outcome(id = "0, 0, 0, 0, 0, 0, 0, 0", expect = ACCEPTABLE, desc = "the writer finished before the grow ended")
    @Outcome(id = "1, 0, 0, 0, 0, 0, 0, 0", expect = ACCEPTABLE_INTERESTING,
            desc = "the grow ended inside the span; the writer's store went through the retired mapping")
    @Outcome(expect = FORBIDDEN, desc = "the writer failed (r1 2), grow threw (r2), or a check failed: r3 stores missing,"
            + " r4 missing from the last writeback, r5 reservations not ended exactly once, r6 outstanding after"
            + " close, r7 pins left, r8 wrong size")
    @State
    public static class GrowPast_MemorySegment {
        static final long OLD_SIZE = 2L * Fixture.PAGE;
        /** Past the room a native mapping has to grow in place, so the grow maps anew and retires the old. */
        static final long NEW_SIZE = Mapping.NativeMapping.MIN_CAPACITY + Fixture.PAGE;

        final Observer observer = new Observer(0);
        final Fixture.Ledger ledger = observer.ledger;
        final Region region;

        public GrowPast_MemorySegment() {
            region = Fixture.open(Backing.MEMORY_SEGMENT, OLD_SIZE, observer);
            region.putLong(0, 0); // page 0 WRITABLE: the writer pins it on the fast path
        }

        @Actor
        public void write(IIIIIIII_Result r) {
            try (WriteSpan span = region.write(0, 16)) {
                span.segment().set(LONG_LE, 0, 1);
                Fixture.work(2000); // a long span: the grow ends while it is pinned
                long size = region.size();
                span.segment().set(LONG_LE, 8, 2);
                r.r1 = size == OLD_SIZE ? 0 : 1;
            } catch (RuntimeException | Error e) {
                r.r1 = 2;
            }
        }

        @Actor
        public void grow(IIIIIIII_Result r) {
            try {
                region.grow(NEW_SIZE);
                r.r2 = 0;
            } catch (IOException | RuntimeException e) {
                r.r2 = 1;
            }
        }

        @Arbiter
        public void check(IIIIIIII_Result r) {
            r.r8 = region.size() == NEW_SIZE ? 0 : 1;
            boolean wrote = r.r1 != 2;
            r.r3 = wrote && (region.getLong(0) != 1 || region.getLong(8) != 2) ? 1 : 0;
            int pinsLeft = Fixture.dispose(region);
            r.r4 = pinsLeft == 0 ? observer.unflushed(wrote) : 0;
            r.r5 = ledger.unbalanced();
            r.r6 = (int) region.stats().reservationsOutstanding();
            r.r7 = pinsLeft;
        }
    }
}
