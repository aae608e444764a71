package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.WriteSpan;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * close, a shrink, a hole punch, a grow over a partly covered last page and a flush with stable pages wait
 * for the writers pinned in their pages. A thread that calls one of them while it holds its own span over
 * such a page would wait for itself forever, and with close, truncate and punchHole holding the region lock,
 * so would every other thread; the call now throws {@link IllegalStateException} naming the file, the
 * offset and the page, having changed nothing. Pins are found through the hazard slots a thread owns (with
 * native access's asymmetric fence), and through the thread's note of every other span it opened (pinned
 * through the pages' state words, or in a slot nobody owns without the fence): the surefire executions with
 * state-word pins and with symmetric pins run this class too. Before that note, those spans were not
 * found, and the call waited for its own thread forever.
 */
class OwnSpanTest {

    private static final int PAGE = 4096;

    @TempDir
    Path dir;

    private MappedRegion open(Backing backing, long size, boolean stablePages) throws IOException {
        return MappedRegion.builder(dir.resolve("own-" + backing + "-" + size + "-" + stablePages)).size(size)
                .pageSize(PAGE).backing(backing).stablePages(stablePages).handler(new TrackingHandler()).open();
    }

    private void assertRefused(ThrowingOp op, String what, MappedRegion region, long page) {
        IllegalStateException e = assertThrows(IllegalStateException.class, op::run, what);
        assertTrue(e.getMessage().contains(region.path().toString()) && e.getMessage().contains("page " + page)
                && e.getMessage().contains("close it first"), e.getMessage());
    }

    interface ThrowingOp {
        void run() throws Exception;
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldRefuseToCloseOrShrinkUnderItsOwnSpan(Backing backing) throws Exception {
        MappedRegion region = open(backing, 4L * PAGE, false);
        WriteSpan span = region.write(2L * PAGE, 8);
        span.segment().set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0, 7);
        assertRefused(region::close, "close", region, 2);
        assertFalse(region.isClosed());
        assertRefused(() -> region.truncate(PAGE), "truncate", region, 2);
        assertEquals(4L * PAGE, region.size());
        assertRefused(() -> region.punchHole(2L * PAGE, PAGE), "punchHole", region, 2);
        region.punchHole(0, PAGE); // another page: its writers are not this thread
        span.close();
        assertEquals(7, region.getLong(2L * PAGE), "the span's write is kept");
        region.truncate(3L * PAGE);
        region.close();
        assertTrue(region.isClosed());
    }

    /**
     * A write past the dirty limit writes the region back on its own thread. With stable pages that
     * writeback waits for the pages' writers; a thread holding its own span waited for itself, forever. The
     * writeback is now skipped for such a thread, and the write goes on over the limit.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldWriteOnPastTheDirtyLimitUnderItsOwnSpan(Backing backing) throws Exception {
        try (MappedRegion region = MappedRegion.builder(dir.resolve("dirty-" + backing)).size(8L * PAGE)
                .pageSize(PAGE).backing(backing).stablePages(true).dirtyLimit(2L * PAGE)
                .handler(new TrackingHandler()).open()) {
            region.putLong(0, 1);
            region.putLong(PAGE, 2); // two pages dirty: at the limit
            try (WriteSpan span = region.write(2L * PAGE, 8)) { // faults; writes the others back
                assertEquals(8, span.length());
                region.putLong(3L * PAGE, 3); // over the limit: the writeback would wait for this span
                region.putLong(4L * PAGE, 4);
            }
            assertEquals(3, region.getLong(3L * PAGE));
            assertEquals(4, region.getLong(4L * PAGE));
            region.flush();
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldRefuseToGrowOrFlushUnderItsOwnSpanOnlyWhereTheyWait(Backing backing) throws Exception {
        try (MappedRegion region = open(backing, 2L * PAGE + 100, true)) { // page 2 is partly covered
            try (WriteSpan span = region.write(2L * PAGE, 8)) {
                assertEquals(8, span.length());
                assertRefused(() -> region.grow(4L * PAGE), "grow", region, 2);
                assertEquals(2L * PAGE + 100, region.size());
                assertRefused(() -> region.flush(2L * PAGE, 8), "flush", region, 2);
                IllegalStateException all = assertThrows(IllegalStateException.class, () -> region.flush(0,
                        Long.MAX_VALUE));
                assertTrue(all.getMessage().contains("writers of every page of"), all.getMessage()); // not 0..2^51
                region.putLong(0, 1);
                region.flush(0, PAGE); // another page: no wait
            }
            try (WriteSpan span = region.write(0, 8)) { // a whole page: grow waits for no writer of it
                assertEquals(0, span.offset());
                region.grow(4L * PAGE);
            }
            assertEquals(4L * PAGE, region.size());
        }
    }

    /**
     * A span belongs to the thread that opened it. Another thread's close used to unpin too, racing the
     * opener's own close: the second unpin cleared the opener's next pin in its slot, or borrowed from a
     * state word's pin count (a drain of the page then waited forever). It is now refused, the span still
     * open and its pages still pinned; the opener closes it.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldRefuseToCloseASpanOnAnotherThread(Backing backing) throws Exception {
        try (MappedRegion region = open(backing, 4L * PAGE, false)) {
            WriteSpan span = region.write(PAGE, 2L * PAGE); // two pages
            span.segment().set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0, 7L);
            java.util.concurrent.atomic.AtomicReference<Throwable> thrown = new java.util.concurrent.atomic.AtomicReference<>();
            Thread other = Thread.ofPlatform().start(() -> {
                try {
                    span.close();
                } catch (Throwable t) {
                    thrown.set(t);
                }
            });
            other.join();
            assertTrue(thrown.get() instanceof WrongThreadException, String.valueOf(thrown.get()));
            assertTrue(thrown.get().getMessage().contains(region.path().toString())
                    && thrown.get().getMessage().contains("page 1"), thrown.get().getMessage());
            assertRefused(() -> region.truncate(PAGE), "truncate", region, 1); // still this thread's
            span.segment().set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 8, 8L); // still open
            span.close();
            span.close(); // idempotent
            region.truncate(2L * PAGE);
            assertEquals(7, region.getLong(PAGE));
            assertEquals(8, region.getLong(PAGE + 8));
        }
    }

    /**
     * A thread that ended holding a span it never closed: its pin used to keep every drainer of the page
     * waiting forever (a stable-pages flush, then a truncate holding the region lock, so every fault and the
     * close too), with a warning every 10 s. Its slot has an owner (with the asymmetric fence), which has
     * ended and can store nothing more: the drainer ends the pin for it, logs it, and goes on; what the
     * thread stored is kept and written back.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldEndThePinOfAThreadThatEndedHoldingItsSpan(Backing backing) throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(AsymmetricFence.ON && !Hazards.STATE_WORD_PINS_ONLY,
                "only an owned slot tells whose pin it is");
        try (MappedRegion region = open(backing, 4L * PAGE, true)) {
            java.util.concurrent.ExecutorService drainer = java.util.concurrent.Executors.newSingleThreadExecutor();
            try {
                leakSpan(region, 2L * PAGE, 7L);
                drainer.submit(() -> { // quiesces every page: the ended thread's pin of page 2 among them
                    region.truncate(3L * PAGE);
                    return null;
                }).get(20, java.util.concurrent.TimeUnit.SECONDS);
                assertEquals(7, region.getLong(2L * PAGE));

                leakSpan(region, PAGE, 42L);
                assertEquals(2, drainer.submit(() -> region.flush()).get(20, java.util.concurrent.TimeUnit.SECONDS),
                        "the flush of the ended threads' pages"); // waits for page 1's writer to leave
                assertEquals(42, region.getLong(PAGE));
            } finally {
                drainer.shutdownNow();
            }
            assertEquals(3L * PAGE, region.size());
        }
    }

    /**
     * The jcstress arbiter closes a span on its opener's behalf ({@link Span#closeForOpener}) while the opener
     * goes on opening spans of other test states. Where spans are noted in the opener's own list (state-word
     * pins, or no fence), the arbiter removed the note from that list as the opener added to it: an
     * unsynchronised ArrayList edited by two threads, which threw IndexOutOfBoundsException in a CI run. The
     * arbiter now only marks the note ended, and the opener drops it. Here one thread opens spans and hands
     * every other one to a second thread to close; neither may throw, and each close leaves nothing behind
     * that a truncate on the opener would take for its own open span.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldLetAnotherThreadCloseASpanForItsOpenerWhileItOpensMore(Backing backing) throws Exception {
        try (MappedRegion region = open(backing, 4L * PAGE, false)) {
            java.util.concurrent.BlockingQueue<Span> handed = new java.util.concurrent.ArrayBlockingQueue<>(64);
            Span last = new Span(null, 0, 0, null, null); // never closed: stops the closer
            java.util.concurrent.atomic.AtomicReference<Throwable> failed = new java.util.concurrent.atomic.AtomicReference<>();
            Thread closer = Thread.ofPlatform().start(() -> {
                try {
                    for (Span s = handed.take(); s != last; s = handed.take()) {
                        s.closeForOpener();
                    }
                } catch (Throwable t) {
                    failed.set(t);
                }
            });
            try {
                for (int i = 0; i < 200_000 && failed.get() == null; i++) {
                    WriteSpan span = region.write((i & 3) * (long) PAGE, 8);
                    if ((i & 1) == 0) {
                        handed.put((Span) span);
                    } else {
                        span.close();
                    }
                }
            } finally {
                handed.put(last);
                closer.join();
            }
            assertEquals(null, failed.get(), "the closer thread");
            region.truncate(PAGE); // throws if this thread still held a note over pages 1 to 3
            assertEquals(PAGE, region.size());
        }
    }

    /** Writes {@code value} at {@code offset} through a span on a thread that ends without closing it. */
    private static void leakSpan(MappedRegion region, long offset, long value) throws InterruptedException {
        Thread leaker = Thread.ofPlatform().start(() -> {
            WriteSpan span = region.write(offset, 8); // never closed
            span.segment().set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0, value);
        });
        leaker.join();
    }
}
