package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.WouldBlock;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.WriteSpan;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Stable pages only where asked for (K8): by default a write into a page under writeback goes ahead,
 * and the page stays dirty so the next flush writes it again; with stable pages the writer waits.
 * Also: why a no-wait write refused, and the dirty ranges a store can ask for.
 */
class NonStablePagesTest {

    static final int PAGE = 4096;
    static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED;

    @TempDir
    Path dir;

    private final ExecutorService executor = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "non-stable-test");
        t.setDaemon(true);
        return t;
    });

    /** A handler whose beforeWriteback of page 0 waits for {@code release}, after telling {@code entered}. */
    private static TrackingHandler blockingWriteback(boolean stable, CountDownLatch entered, CountDownLatch release,
                                                     List<Long> seen) {
        TrackingHandler h = new TrackingHandler();
        h.stablePages = stable;
        h.writebackHook = (page, contents) -> {
            seen.add(contents.get(LONG, 0));
            if (page == 0 && entered.getCount() > 0) {
                entered.countDown();
                TrackingHandler.awaitQuietly(release);
            }
        };
        return h;
    }

    private MappedRegion open(Backing backing, TrackingHandler handler) throws IOException {
        return MappedRegion.builder(dir.resolve("non-stable.dat")).size(8L * PAGE).pageSize(PAGE).backing(backing)
                .handler(handler).open();
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldLetAWriteIntoAPageUnderWritebackGoAheadAndKeepThePageDirty(Backing backing) throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        List<Long> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
        TrackingHandler handler = blockingWriteback(false, entered, release, seen);
        try (MappedRegion region = open(backing, handler)) {
            region.putLong(0, 1);
            Future<Long> flush = executor.submit(() -> region.flush());
            assertTrue(entered.await(10, TimeUnit.SECONDS), "the flush reached beforeWriteback");
            // The page is under writeback: the write goes ahead at once, on this thread.
            region.putLong(0, 2);
            try (WriteSpan span = region.tryWrite(8, 8)) {
                assertNotNull(span, "a no-wait write into a page under writeback does not wait either");
                span.segment().set(LONG, 0, 3);
            }
            release.countDown();
            assertEquals(1, flush.get(10, TimeUnit.SECONDS));
            assertEquals(List.of(1L), seen, "the writeback saw the page as it was when it read it");
            assertEquals(1, region.stats().writablePages(), "written during its writeback: still dirty");
            assertEquals(1, handler.live(), "and it keeps its reservation");
            long[] ranges = new long[3];
            assertEquals(1, region.dirtyRanges((offset, length) -> {
                ranges[0] = offset;
                ranges[1] = length;
                ranges[2]++;
            }));
            assertEquals(0, ranges[0]);
            assertEquals(PAGE, ranges[1]);
            assertEquals(1, ranges[2]);
            assertEquals(1, region.flush(), "the next flush writes it again");
            assertEquals(List.of(1L, 2L), seen);
            assertEquals(0, region.stats().writablePages());
            assertEquals(0, region.dirtyRanges((offset, length) -> { }));
            assertEquals(1, handler.consumed());
            assertEquals(0, handler.live());
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldFlushAPageUnderAnOpenSpanWithoutWaitingForItAndKeepItDirty(Backing backing) throws Exception {
        List<Long> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
        TrackingHandler handler = new TrackingHandler();
        handler.stablePages = false;
        handler.writebackHook = (page, contents) -> seen.add(contents.get(LONG, 0));
        try (MappedRegion region = open(backing, handler)) {
            try (WriteSpan span = region.write(0, PAGE)) {
                span.segment().set(LONG, 0, 1);
                // Another thread's flush, with this thread's span still open over the page: it writes the
                // page back as it is now and returns; the span's later stores are the next flush's.
                assertEquals(1, executor.submit(() -> region.flush()).get(10, TimeUnit.SECONDS));
                span.segment().set(LONG, 0, 2);
            }
            assertEquals(List.of(1L), seen);
            assertEquals(1, region.stats().writablePages(), "pinned during its writeback: still dirty");
            assertEquals(1, region.flush(), "the next flush writes it again");
            assertEquals(List.of(1L, 2L), seen);
            assertEquals(0, region.stats().writablePages());
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldGiveNoStablePagesWithTheNoneHandlerUnlessTheBuilderAsks(Backing backing) throws Exception {
        for (boolean asked : new boolean[] {false, true}) {
            try (MappedRegion region = MappedRegion.builder(dir.resolve("none-" + asked + ".dat")).size(8L * PAGE)
                    .pageSize(PAGE).backing(backing).handler(WriteFaultHandler.none()).stablePages(asked).open()) {
                Future<Long> flush;
                try (WriteSpan span = region.write(0, PAGE)) {
                    span.segment().set(LONG, 0, 1);
                    flush = executor.submit(() -> region.flush());
                    if (!asked) {
                        assertEquals(1, flush.get(10, TimeUnit.SECONDS), "none(): a flush does not wait for the span");
                    } else {
                        assertThrows(TimeoutException.class, () -> flush.get(200, TimeUnit.MILLISECONDS),
                                "stablePages(true): the flush waits for the span");
                    }
                }
                assertEquals(1, flush.get(10, TimeUnit.SECONDS));
                assertEquals(asked ? 0 : 1, region.stats().writablePages(), "asked " + asked);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldMakeAFlushWaitForAnOpenSpanWithStablePages(Backing backing) throws Exception {
        TrackingHandler handler = new TrackingHandler();
        handler.stablePages = true;
        try (MappedRegion region = open(backing, handler)) {
            AtomicReference<Thread> flusher = new AtomicReference<>();
            Future<Long> flush;
            try (WriteSpan span = region.write(0, PAGE)) {
                span.segment().set(LONG, 0, 1);
                flush = executor.submit(() -> {
                    flusher.set(Thread.currentThread());
                    return region.flush();
                });
                while (flusher.get() == null) {
                    Thread.onSpinWait();
                }
                Blocking.assertBlocked(flusher.get(), flush, Blocking.Wait.WAIT_QUEUE);
                span.segment().set(LONG, 0, 2); // stable: the writeback has not read the page yet
            }
            assertEquals(1, flush.get(10, TimeUnit.SECONDS));
            assertEquals(0, region.stats().writablePages());
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldMakeAWriterWaitForWritebackWithStablePages(Backing backing) throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        List<Long> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
        TrackingHandler handler = blockingWriteback(true, entered, release, seen);
        try (MappedRegion region = open(backing, handler)) {
            region.putLong(0, 1);
            Future<Long> flush = executor.submit(() -> region.flush());
            assertTrue(entered.await(10, TimeUnit.SECONDS));
            WouldBlock why = new WouldBlock();
            assertNull(region.tryWrite(0, 8, why));
            assertEquals(WouldBlock.Reason.WRITEBACK, why.reason());
            AtomicReference<Thread> writer = new AtomicReference<>();
            CompletableFuture<Void> write = CompletableFuture.runAsync(() -> {
                writer.set(Thread.currentThread());
                region.putLong(0, 2);
            }, executor);
            while (writer.get() == null) {
                Thread.onSpinWait();
            }
            Blocking.assertBlocked(writer.get(), write, Blocking.Wait.WAIT_QUEUE);
            release.countDown();
            assertEquals(1, flush.get(10, TimeUnit.SECONDS));
            write.get(10, TimeUnit.SECONDS);
            assertEquals(List.of(1L), seen, "stable: the writer waited, so the writeback saw 1");
            assertEquals(1, region.flush());
            assertEquals(List.of(1L, 2L), seen);
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldSayWhyANoWaitWriteRefused(Backing backing) throws Exception {
        CountDownLatch inHandler = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        TrackingHandler handler = new TrackingHandler((fault, h) -> {
            if (fault.page() == 1 && !fault.isNoWait()) {
                inHandler.countDown();
                TrackingHandler.awaitQuietly(release);
            }
            if (fault.page() == 2 && fault.isNoWait()) {
                return dev.mkwrite.FaultResult.RETRY;
            }
            return h.reserve(fault);
        });
        try (MappedRegion region = open(backing, handler)) {
            WouldBlock why = new WouldBlock();
            Future<?> preparing = executor.submit(() -> region.putLong(PAGE, 1));
            assertTrue(inHandler.await(10, TimeUnit.SECONDS));
            assertNull(region.tryWrite(PAGE, 8, why));
            assertEquals(WouldBlock.Reason.PREPARING, why.reason());
            assertNull(region.tryWrite(2L * PAGE, 8, why));
            assertEquals(WouldBlock.Reason.HANDLER, why.reason());
            release.countDown();
            preparing.get(10, TimeUnit.SECONDS);
            try (WriteSpan span = region.tryWrite(PAGE, 8, why)) {
                assertNotNull(span);
            }
            assertEquals(WouldBlock.Reason.HANDLER, why.reason(), "a span leaves the last reason as it was");
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldListDirtyRangesMergingAdjacentPages(Backing backing) throws IOException {
        TrackingHandler handler = new TrackingHandler();
        try (MappedRegion region = MappedRegion.builder(dir.resolve("ranges.dat")).size(10L * PAGE + 100)
                .pageSize(PAGE).backing(backing).handler(handler).open()) {
            region.putByte(PAGE, (byte) 1);
            region.putByte(2L * PAGE, (byte) 1);
            region.putByte(5L * PAGE, (byte) 1);
            region.putByte(10L * PAGE + 50, (byte) 1);
            List<long[]> ranges = new ArrayList<>();
            assertEquals(4, region.dirtyRanges((offset, length) -> ranges.add(new long[]{offset, length})));
            assertEquals(3, ranges.size());
            assertEquals(List.of(PAGE + 0L, 2L * PAGE), List.of(ranges.get(0)[0], ranges.get(0)[1]));
            assertEquals(List.of(5L * PAGE, (long) PAGE), List.of(ranges.get(1)[0], ranges.get(1)[1]));
            assertEquals(List.of(10L * PAGE, 100L), List.of(ranges.get(2)[0], ranges.get(2)[1]),
                    "the last page ends at the region's end");
        }
    }
}
