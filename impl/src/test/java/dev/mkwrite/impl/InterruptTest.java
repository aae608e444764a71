package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.FaultInterruptedException;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.Reservation;
import dev.mkwrite.WriteFaultHandler;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A thread interrupt ends at most the one operation it interrupted, and never breaks the region: the
 * JDK closes a FileChannel for every thread when a thread is interrupted in one of its blocking calls,
 * and with the channel the region's file lock would go. Each test calls an operation on an interrupted
 * thread, then checks that the region still grows, truncates, punches, flushes and closes, that its
 * file lock still keeps a second region off the file, and that the interrupt status was kept.
 */
class InterruptTest {

    static final int PAGE = 4096;

    @TempDir
    Path dir;

    private MappedRegion region;

    /** Threads of their own for the blocking actors: the common pool may have one worker on two cores. */
    private final java.util.concurrent.ExecutorService threads = java.util.concurrent.Executors.newCachedThreadPool(
            r -> Thread.ofPlatform().daemon().name("interrupt-test").unstarted(r));

    @AfterEach
    void clearInterrupt() throws IOException {
        threads.shutdownNow();
        Thread.interrupted();
        if (region != null) {
            region.close();
        }
    }

    private MappedRegion open(Backing backing) throws IOException {
        region = MappedRegion.builder(dir.resolve("interrupted.dat")).size(4L * PAGE).pageSize(PAGE)
                .backing(backing).handler(WriteFaultHandler.none()).open();
        region.putLong(0, 42);
        return region;
    }

    /** The region works on, and still holds its file lock. */
    private void assertIntact(MappedRegion r) throws IOException {
        assertTrue(Thread.interrupted(), "the interrupt status is kept for the caller");
        r.grow(r.size() + (64L << 20)); // past any room the mapping has: maps anew
        r.putLong(r.size() - Long.BYTES, 7);
        r.truncate(8L * PAGE);
        r.punchHole(PAGE, PAGE);
        assertEquals(42, r.getLong(0));
        r.flush();
        IllegalStateException second = assertThrows(IllegalStateException.class, () ->
                MappedRegion.builder(r.path()).handler(fault -> Reservation.none()).open(),
                "the region is still open: an open with another handler is refused");
        assertTrue(second.getMessage().contains("already open"), second.getMessage());
        // Past the registry, the file lock itself still keeps a second region off the file.
        IllegalStateException locked = assertThrows(IllegalStateException.class, () ->
                Region.open(MappedRegion.builder(r.path()).handler(WriteFaultHandler.none()),
                        RegionRegistry.keyOf(r.path())).close(),
                "the region's file lock is still held");
        assertTrue(locked.getMessage().contains("already open"), locked.getMessage());
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldKeepTheRegionWhenGrowRunsOnAnInterruptedThread(Backing backing) throws IOException {
        MappedRegion r = open(backing);
        Thread.currentThread().interrupt();
        r.grow(256L << 20); // past the mapping's room: a new mapping
        assertEquals(256L << 20, r.size());
        assertIntact(r);
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldKeepTheRegionWhenTruncateRunsOnAnInterruptedThread(Backing backing) throws IOException {
        MappedRegion r = open(backing);
        Thread.currentThread().interrupt();
        r.truncate(2L * PAGE);
        assertEquals(2L * PAGE, r.size());
        assertIntact(r);
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldKeepTheRegionWhenPunchHoleRunsOnAnInterruptedThread(Backing backing) throws IOException {
        MappedRegion r = open(backing);
        r.putLong(2L * PAGE, 9);
        Thread.currentThread().interrupt();
        r.punchHole(2L * PAGE, PAGE);
        assertIntact(r);
        assertEquals(0, r.getLong(2L * PAGE));
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldCloseCleanlyOnAnInterruptedThread(Backing backing) throws IOException {
        MappedRegion r = open(backing);
        Thread.currentThread().interrupt();
        r.close();
        assertTrue(Thread.interrupted());
        region = MappedRegion.builder(r.path()).handler(WriteFaultHandler.none()).backing(backing).open();
        assertEquals(42, region.getLong(0), "the close wrote back and released the lock");
    }
    /**
     * K9 for a write over several pages: its handler calls claim the pages one by one, then it takes the
     * region lock once more to publish them all. An exclusive operation may hold the lock then (here a
     * grow, whose writeback of the partly covered last page is held in {@code beforeWriteback}); an
     * interrupt must end that wait with {@link FaultInterruptedException}, every claim given back.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldEndAWriteOverSeveralPagesInterruptedWhileItWaitsToPublish(Backing backing) throws Exception {
        CountDownLatch inHandler = new CountDownLatch(1);
        CountDownLatch leaveHandler = new CountDownLatch(1);
        CountDownLatch inWriteback = new CountDownLatch(1);
        CountDownLatch leaveWriteback = new CountDownLatch(1);
        TrackingHandler handler = new TrackingHandler((fault, h) -> {
            if (fault.page() == 1) { // the write's last page: its claims are all made once this returns
                inHandler.countDown();
                TrackingHandler.awaitQuietly(leaveHandler);
            }
            return h.reserve(fault);
        });
        handler.writebackHook = (page, contents) -> {
            if (page == 2) {
                inWriteback.countDown();
                TrackingHandler.awaitQuietly(leaveWriteback);
            }
        };
        region = MappedRegion.builder(dir.resolve("publish.dat")).size(2L * PAGE + 100).pageSize(PAGE)
                .backing(backing).handler(handler).open();
        MappedRegion r = region;
        r.putLong(2L * PAGE, 3); // the partly covered last page, dirty: a grow writes it back
        AtomicReference<Thread> writer = new AtomicReference<>();
        AtomicReference<Thread> grower = new AtomicReference<>();
        try {
            CompletableFuture<Void> write = CompletableFuture.runAsync(() -> {
                writer.set(Thread.currentThread());
                r.put(PAGE - 8, new byte[16]); // pages 0 and 1
            }, threads);
            assertTrue(inHandler.await(10, TimeUnit.SECONDS));
            CompletableFuture<Void> grow = CompletableFuture.runAsync(() -> {
                grower.set(Thread.currentThread());
                try {
                    r.grow(4L * PAGE);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }, threads);
            while (grower.get() == null) {
                Thread.onSpinWait();
            }
            // Queued behind the write's handler call: once that returns, the grow takes the lock before the
            // write can take it again to publish (a queued writer stops new readers).
            Blocking.assertBlocked(grower.get(), grow, Blocking.Wait.REGION_LOCK);
            leaveHandler.countDown();
            assertTrue(inWriteback.await(10, TimeUnit.SECONDS), "the grow holds the lock, in its writeback");
            Blocking.assertBlocked(writer.get(), write, Blocking.Wait.REGION_LOCK);
            writer.get().interrupt();
            Throwable failure = assertThrows(java.util.concurrent.ExecutionException.class,
                    () -> write.get(10, TimeUnit.SECONDS), "an interrupt ends the wait to publish").getCause();
            assertTrue(failure instanceof FaultInterruptedException, "not a FaultInterruptedException: " + failure);
            leaveWriteback.countDown();
            grow.get(10, TimeUnit.SECONDS);
        } finally {
            leaveHandler.countDown();
            leaveWriteback.countDown();
        }
        assertEquals(0, r.stats().preparingPages(), "every claim went back");
        assertEquals(0, r.stats().writablePages(), "no page of the write was published");
        assertEquals(0, r.stats().reservationsOutstanding(), "the claims' reservations were released");
        r.put(PAGE - 8, new byte[16]); // the region works on: the same write, once more
        assertEquals(3, r.getLong(2L * PAGE));
    }
}
