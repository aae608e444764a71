package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.FaultInterruptedException;
import dev.mkwrite.FaultResult;
import dev.mkwrite.HandlerFailedException;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.NoSpaceException;
import dev.mkwrite.OutOfRegionException;
import dev.mkwrite.RegionClosedException;
import dev.mkwrite.RegionStats;
import dev.mkwrite.Reservation;
import dev.mkwrite.WriteSpan;
import dev.mkwrite.impl.reliability.ThrowingRunnable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

import static dev.mkwrite.impl.Blocking.Wait.REGION_LOCK;
import static dev.mkwrite.impl.Blocking.Wait.WAIT_QUEUE;
import static dev.mkwrite.impl.PageState.CLEAN;
import static dev.mkwrite.impl.PageState.WRITABLE;
import static dev.mkwrite.impl.PageState.WRITEBACK;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The contract every backing keeps: rules K1-K10 of PROTOCOL.md and the bad inputs of the core issue.
 * Written once; {@link MemorySegmentRegionTest} and {@link MappedByteBufferRegionTest} run it.
 *
 * <p>Every test ends by closing its region and checking that each reservation ended exactly once.
 *
 * <p>A test that backs a sentence of the public Javadoc names that sentence at the start of its own
 * Javadoc ("MappedRegion.grow: ..."), so that each promise can be found from its proof and back.
 */
abstract class RegionContract {

    static final int PAGE = 4096;
    static final int PAGES = 16;

    @TempDir
    Path dir;

    TrackingHandler handler = new TrackingHandler();
    MappedRegion region;
    final List<AutoCloseable> cleanup = new ArrayList<>();
    final List<CountDownLatch> latches = new ArrayList<>();

    /** A latch that is released after the test, so a failed test never leaves a handler blocked. */
    CountDownLatch latch() {
        CountDownLatch l = new CountDownLatch(1);
        latches.add(l);
        return l;
    }

    abstract Backing backing();

    MappedRegion open() throws IOException {
        return open(handler, PAGES * (long) PAGE);
    }

    MappedRegion open(TrackingHandler h, long size) throws IOException {
        region = MappedRegion.builder(dir.resolve("region.dat")).size(size).pageSize(PAGE).backing(backing())
                .handler(h).open();
        return region;
    }

    Region impl() {
        return RegionHandle.regionOf(region);
    }

    @AfterEach
    void closeAndCheckReservations() throws Exception {
        latches.forEach(CountDownLatch::countDown);
        for (AutoCloseable c : cleanup) {
            c.close();
        }
        if (region != null) {
            if (!region.isClosed()) {
                assertEquals(0, region.stats().pins(), "pins held after the test: a span was never closed");
            }
            region.close();
            assertEquals(0, region.stats().reservationsOutstanding(), "reservations outstanding after close");
            assertEquals(0, region.stats().reservedBytes(), "reserved bytes after close");
        }
        assertEquals(0, handler.endedTwice(), () -> "reservations ended twice: " + handler.reservations);
        assertEquals(0, handler.live(), () -> "reservations never ended: " + handler.reservations);
    }

    static byte[] bytes(int n, int seed) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (seed * 31 + i * 7 + 1);
        }
        return b;
    }

    byte[] read(long offset, int length) {
        byte[] b = new byte[length];
        region.get(offset, b, 0, length);
        return b;
    }

    int state(long page) {
        return PageState.state(impl().stateWord(page));
    }

    /** The thread of each future {@link #async} returned, so {@link #assertBlocked} can watch it. */
    final Map<Future<?>, Thread> threads = new ConcurrentHashMap<>();

    /** Runs {@code task} on a new daemon thread. */
    <T> Future<T> async(Supplier<T> task) {
        AtomicReference<Thread> thread = new AtomicReference<>();
        Future<T> f = CompletableFuture.supplyAsync(task, r -> {
            Thread t = new Thread(r, "contract-async");
            t.setDaemon(true);
            thread.set(t);
            t.start();
        });
        threads.put(f, thread.get()); // the executor ran inside supplyAsync: the thread exists
        return f;
    }

    Future<Void> asyncRun(ThrowingRunnable task) {
        return async(() -> {
            try {
                task.run();
                return null;
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
    }

    Future<Long> asyncFlush() {
        return async(() -> {
            try {
                return region.flush();
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
    }

    /** Starts a flush and returns once its writeback is inside beforeWriteback, held until {@code release}. */
    Future<Void> flushBlockedInWriteback(CountDownLatch release) throws InterruptedException {
        CountDownLatch inWriteback = latch();
        handler.writebackHook = (page, contents) -> {
            inWriteback.countDown();
            TrackingHandler.awaitQuietly(release);
        };
        Future<Void> flush = asyncRun(region::flush);
        assertTrue(inWriteback.await(10, TimeUnit.SECONDS), "the flush reached writeback");
        return flush;
    }

    /**
     * Asserts that {@code f}, started by {@link #async}, is blocked in {@code where}: its thread is seen
     * parked there, and still is a moment later, with {@code f} not done ({@link Blocking}). A thread that
     * has not reached the wait yet does not count.
     */
    void assertBlocked(Future<?> f, Blocking.Wait where) throws Exception {
        Blocking.assertBlocked(threads.get(f), f, where);
    }

    /**
     * Whether some thread holds the region lock exclusively now: a read, which takes the lock shared, is
     * started on another thread and seen parked on the lock rather than completing. Safe to call from a
     * callback that runs under the lock (the read then ends once the lock is released, or fails with
     * RegionClosedException after a close).
     */
    boolean regionLockHeldExclusively() {
        MappedRegion r = region;
        // An empty flush takes the region lock shared and returns at once; reads take no lock.
        Future<Void> read = asyncRun(() -> {
            try {
                r.flush(0, 0);
            } catch (RegionClosedException e) {
                // it waited for a close
            }
        });
        try {
            if (Blocking.parksIn(threads.get(read), read, REGION_LOCK)) {
                return true;
            }
            read.get(); // completed: rethrow if it failed
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        } catch (ExecutionException e) {
            throw new AssertionError("the probing read failed", e.getCause());
        }
    }

    static <T> T done(Future<T> f) throws Exception {
        return f.get(20, TimeUnit.SECONDS);
    }

    static Throwable failure(Future<?> f) throws Exception {
        try {
            f.get(20, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            Throwable t = e.getCause();
            return t instanceof RuntimeException r && r.getCause() != null && r.getClass() == RuntimeException.class
                    ? r.getCause() : t;
        }
        throw new AssertionError("expected the operation to fail");
    }

    /** A handler behaviour that signals it started, then waits for {@code release} (lock held). */
    static TrackingHandler.Behaviour blockingWithLock(CountDownLatch started, CountDownLatch release) {
        return (fault, h) -> {
            started.countDown();
            release.await();
            return h.reserve(fault);
        };
    }

    /**
     * Starts {@code write} on another thread with a handler that drops the lock and then waits for
     * {@code release}; returns once the lock is dropped.
     */
    Future<Void> faultWithDroppedLock(CountDownLatch release, ThrowingRunnable write) throws InterruptedException {
        CountDownLatch dropped = latch();
        handler.behaviour = droppingLock(dropped, release);
        Future<Void> fault = asyncRun(write);
        assertTrue(dropped.await(10, TimeUnit.SECONDS), "the handler never dropped the lock");
        return fault;
    }

    /** Drops the lock on the first attempt, waits for {@code release}, caches a reservation, retries. */
    static TrackingHandler.Behaviour droppingLock(CountDownLatch dropped, CountDownLatch release) {
        return (fault, h) -> {
            if (fault.mayDropLock()) {
                fault.dropLock();
                dropped.countDown();
                release.await();
                fault.cacheReservation(h.reserve(fault));
                return FaultResult.RETRY;
            }
            return h.reserve(fault);
        };
    }

    // ---------------------------------------------------------------------------------------------
    // K1: a store to a page that is not WRITABLE calls the handler first

    @Test
    void shouldCallHandlerOnceBeforeTheFirstWriteOfEachPage() throws Exception {
        open();
        region.put(PAGE - 10, bytes(20, 1)); // pages 0 and 1
        region.put(5, bytes(10, 2)); // page 0 again: no fault
        assertEquals(2, handler.calls());
        assertEquals(List.of(0L, 1L), handler.calls.stream().map(TrackingHandler.Call::page).toList());
        assertEquals(WRITABLE, state(0));
        assertEquals(WRITABLE, state(1));
        assertEquals(CLEAN, state(2));
        assertEquals(2, region.stats().faults());
    }

    /**
     * A write over pages of two chunks of the page table pins without a fault only when every page of
     * both is WRITABLE: the writer checks the pages a chunk at a time, and a CLEAN page in either chunk
     * makes it fault exactly that page.
     */
    @Test
    void shouldFaultOnlyTheCleanPageOfAWriteAcrossTwoChunks() throws Exception {
        long lastOfChunk = Chunk.PAGES - 1;
        open(handler, (Chunk.PAGES + 2L) * PAGE);
        region.putByte(lastOfChunk * PAGE - 1, (byte) 1); // the page before it
        region.putByte(lastOfChunk * PAGE, (byte) 1); // the last page of chunk 0
        region.putByte((lastOfChunk + 2) * PAGE, (byte) 1); // the second page of chunk 1
        assertEquals(3, handler.calls());
        byte[] across = bytes(4 * PAGE, 7); // pages lastOfChunk - 1 .. lastOfChunk + 2
        region.put((lastOfChunk - 1) * PAGE, across);
        assertEquals(4, handler.calls(), "only the first page of chunk 1 was CLEAN");
        assertEquals(lastOfChunk + 1, handler.calls.getLast().page());
        region.put((lastOfChunk - 1) * PAGE, across);
        assertEquals(4, handler.calls(), "every page of both chunks WRITABLE: no fault");
        assertArrayEquals(across, read((lastOfChunk - 1) * PAGE, 4 * PAGE));
    }

    @Test
    void shouldLandNoByteWhenTheHandlerFailsOnALaterPageOfTheWrite() throws Exception {
        open();
        byte[] before = read(0, 3 * PAGE);
        handler.behaviour = (fault, h) -> {
            if (fault.page() == 2) {
                throw new IOException("simulated EIO on page 2");
            }
            return h.reserve(fault);
        };
        HandlerFailedException e = assertThrows(HandlerFailedException.class, () -> region.put(100, bytes(2 * PAGE, 3)));
        assertEquals(2, e.page());
        assertArrayEquals(before, read(0, 3 * PAGE), "no byte of the failed write may land");
        assertEquals(CLEAN, state(2));
        handler.behaviour = (fault, h) -> h.reserve(fault);
        region.put(100, bytes(2 * PAGE, 3)); // the region stays usable: the same write now succeeds
        assertArrayEquals(bytes(2 * PAGE, 3), read(100, 2 * PAGE));
    }

    @Test
    void shouldHandTheHandlerTheFaultingPage() throws Exception {
        open(handler, 3 * PAGE + 100);
        region.putByte(3 * PAGE + 50, (byte) 1);
        TrackingHandler.Call call = handler.calls.getFirst();
        assertEquals(3, call.page());
        assertEquals(3L * PAGE, call.offset());
        assertEquals(100, call.length(), "the last page is shorter");
        assertFalse(call.retry());
        assertTrue(call.mayDropLock());
        assertNull(call.cached());
    }

    @Test
    void shouldWriteAndReadThroughEveryAccessor() throws Exception {
        open();
        region.putLong(PAGE - 4, 0x0102030405060708L); // straddles two pages
        region.putInt(3 * PAGE, 0xCAFEBABE);
        region.putByte(5 * PAGE + 7, (byte) 0x7F);
        region.put(6 * PAGE, MemorySegment.ofArray(bytes(64, 4)));
        ByteBuffer src = ByteBuffer.wrap(bytes(32, 5));
        region.put(7 * PAGE, src);
        assertEquals(0, src.remaining(), "put(ByteBuffer) consumes the buffer");
        try (WriteSpan span = region.write(8 * PAGE, 16)) {
            span.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 99L);
            span.buffer().putLong(8, 100L);
        }
        assertEquals(0x0102030405060708L, region.getLong(PAGE - 4));
        assertEquals(0xCAFEBABE, region.getInt(3 * PAGE));
        assertEquals((byte) 0x7F, region.getByte(5 * PAGE + 7));
        assertArrayEquals(bytes(64, 4), read(6 * PAGE, 64));
        assertArrayEquals(bytes(32, 5), read(7 * PAGE, 32));
        MemorySegment dst = MemorySegment.ofArray(new byte[16]);
        region.get(8 * PAGE, dst);
        assertEquals(99L, dst.get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
        assertEquals(100L, region.getLong(8 * PAGE + 8), "a span's buffer and the typed accessors share one byte order");
        assertEquals(0x08, region.getByte(PAGE - 4), "little-endian");
    }

    @Test
    void shouldPersistWritesAcrossCloseAndReopen() throws Exception {
        open();
        region.put(3 * PAGE + 1, bytes(500, 6));
        region.close();
        MappedRegion again = MappedRegion.builder(dir.resolve("region.dat")).pageSize(PAGE).backing(backing())
                .handler(handler).open();
        region = again;
        assertEquals(PAGES * (long) PAGE, again.size(), "the region takes the file's size");
        assertArrayEquals(bytes(500, 6), read(3 * PAGE + 1, 500));
    }

    // ---------------------------------------------------------------------------------------------
    // K2: faults hold the region lock shared, exclusive operations hold it exclusive; the fast path none

    @Test
    void shouldWriteWritablePagesWithoutTheLockWhileAFaultHoldsItAndGrowWaits() throws Exception {
        open();
        region.put(0, bytes(8, 1)); // page 0 WRITABLE
        CountDownLatch started = latch();
        CountDownLatch release = latch();
        handler.behaviour = blockingWithLock(started, release);
        Future<Void> slow = asyncRun(() -> region.put(5 * PAGE, bytes(8, 2)));
        assertTrue(started.await(10, TimeUnit.SECONDS));
        Future<Void> grow = asyncRun(() -> region.grow(2L * PAGES * PAGE));
        assertBlocked(grow, REGION_LOCK); // exclusive waits for the shared holder
        region.put(16, bytes(100, 3)); // the fast path needs no lock
        assertFalse(grow.isDone());
        release.countDown();
        done(slow);
        done(grow);
        assertArrayEquals(bytes(100, 3), read(16, 100)); // reads take the lock shared: after the grow
        assertEquals(2L * PAGES * PAGE, region.size());
    }

    @Test
    void shouldQueueNewFaultsBehindAWaitingExclusiveOperation() throws Exception {
        // The stall that dropLock() exists to avoid: writer-preferring lock, slow fault, queued grow.
        open();
        CountDownLatch started = latch();
        CountDownLatch release = latch();
        handler.behaviour = blockingWithLock(started, release);
        Future<Void> slow = asyncRun(() -> region.put(5 * PAGE, bytes(8, 2)));
        assertTrue(started.await(10, TimeUnit.SECONDS));
        Future<Void> grow = asyncRun(() -> region.grow(2L * PAGES * PAGE));
        assertBlocked(grow, REGION_LOCK);
        handler.behaviour = (fault, h) -> h.reserve(fault);
        Future<Void> other = asyncRun(() -> region.put(9 * PAGE, bytes(8, 3)));
        assertBlocked(other, REGION_LOCK); // queued behind the exclusive operation
        release.countDown();
        done(slow);
        done(grow);
        done(other);
    }

    // ---------------------------------------------------------------------------------------------
    // Reads see the writes that happen-before them (MappedRegion, "Reads")

    /**
     * MappedRegion, Reads: a read sees every write that happens-before it: the same thread's, and another
     * thread's ordered by the caller's own synchronization (here a latch counted down after the writer's span
     * closed and its put returned), whether the write took the fast path or faulted.
     */
    @Test
    void shouldLetAReadSeeEveryWriteThatHappensBeforeIt() throws Exception {
        open();
        region.putLong(0, 1L);
        assertEquals(1L, region.getLong(0), "the same thread's earlier write");
        region.putLong(PAGE, 0L); // page 1 WRITABLE: the other thread's span takes the fast path
        CountDownLatch written = latch();
        Future<Void> writer = asyncRun(() -> {
            try (WriteSpan span = region.write(PAGE, 16)) {
                span.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 2L);
                span.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, 8, 3L);
            }
            region.put(5L * PAGE, bytes(64, 4)); // page 5 CLEAN: faults
            written.countDown(); // the happens-before edge: the writer's stores, then the count-down
        });
        assertTrue(written.await(10, TimeUnit.SECONDS));
        assertEquals(2L, nativeLong(read(PAGE, 8)));
        assertEquals(3L, nativeLong(read(PAGE + 8, 8)));
        assertArrayEquals(bytes(64, 4), read(5L * PAGE, 64));
        done(writer);
    }

    /**
     * MappedRegion, Reads: a flush on the reading thread orders the writes it waited for before that thread's
     * later reads, with no other synchronization. The writer here is pinned when the flush begins, stores only
     * once the flush has taken its page, and tells the reading thread nothing afterwards.
     */
    @Test
    void shouldLetTheFlushingThreadReadTheWritesItsFlushWaitedFor() throws Exception {
        open();
        region.putLong(2L * PAGE, 0L); // WRITABLE: the writer pins it on the fast path
        AtomicReference<Long> forced = new AtomicReference<>();
        handler.writebackHook = (page, contents) -> forced.set(contents.get(ValueLayout.JAVA_LONG_UNALIGNED, 8));
        CountDownLatch pinned = latch();
        Future<Void> writer = asyncRun(() -> {
            try (WriteSpan span = region.write(2L * PAGE, 16)) {
                pinned.countDown();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (state(2) != WRITEBACK && System.nanoTime() - deadline < 0) {
                    Thread.onSpinWait(); // until the flush has taken the page
                }
                span.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 5L);
                span.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, 8, 6L);
            }
        });
        assertTrue(pinned.await(10, TimeUnit.SECONDS));
        assertEquals(1, region.flush(), "it took the page, waited for the writer, then wrote the page back");
        assertEquals(6L, forced.get(), "forced after the writer left");
        assertEquals(5L, nativeLong(read(2L * PAGE, 8)), "a read after the flush sees the writer's stores");
        assertEquals(6L, nativeLong(read(2L * PAGE + 8, 8)));
        done(writer);
    }

    // ---------------------------------------------------------------------------------------------
    // K4: one lock drop per fault; the retry may not drop again

    @Test
    void shouldRetryAfterTheHandlerDroppedTheLockAndNotLetTheRetryDropAgain() throws Exception {
        open();
        List<Boolean> mayDropOnRetry = new ArrayList<>();
        AtomicReference<Throwable> secondDrop = new AtomicReference<>();
        handler.behaviour = (fault, h) -> {
            if (!fault.isRetry()) {
                assertTrue(fault.mayDropLock());
                fault.dropLock();
                assertFalse(fault.mayDropLock(), "only once");
                return FaultResult.RETRY;
            }
            mayDropOnRetry.add(fault.mayDropLock());
            secondDrop.set(assertThrows(IllegalStateException.class, fault::dropLock));
            return h.reserve(fault);
        };
        region.putLong(2 * PAGE, 7);
        assertEquals(2, handler.calls());
        assertTrue(handler.calls.get(1).retry());
        assertEquals(List.of(false), mayDropOnRetry);
        assertTrue(secondDrop.get().getMessage().contains("retry may not drop"), secondDrop.get().getMessage());
        RegionStats s = region.stats();
        assertEquals(1, s.faults());
        assertEquals(1, s.retries());
        assertEquals(1, s.lockDrops());
        assertEquals(7, region.getLong(2 * PAGE));
    }

    @Test
    void shouldLetGrowAndFaultsOnOtherPagesProceedWhileAFaultHasDroppedTheLock() throws Exception {
        open();
        CountDownLatch dropped = latch();
        CountDownLatch release = latch();
        handler.behaviour = (fault, h) -> fault.page() == 3
                ? droppingLock(dropped, release).prepare(fault, h) : h.reserve(fault);
        Future<Void> slow = asyncRun(() -> region.put(3 * PAGE, bytes(64, 1)));
        assertTrue(dropped.await(10, TimeUnit.SECONDS));
        region.grow(4L * PAGES * PAGE); // G7: exclusive operations proceed
        region.put(7 * PAGE, bytes(64, 2)); // and so do faults on other pages
        region.truncate(3L * PAGES * PAGE);
        assertFalse(slow.isDone());
        release.countDown();
        done(slow);
        assertArrayEquals(bytes(64, 1), read(3 * PAGE, 64));
        assertArrayEquals(bytes(64, 2), read(7 * PAGE, 64));
        assertEquals(2, handler.calls(), "the retry adopted the cached reservation without a call");
    }

    @Test
    void shouldMakeOtherWritersOfThePageWaitForTheDroppedFault() throws Exception {
        open();
        CountDownLatch release = latch();
        Future<Void> first = faultWithDroppedLock(release, () -> region.put(3 * PAGE, bytes(8, 1)));
        Future<Void> second = asyncRun(() -> region.put(3 * PAGE + 100, bytes(8, 2)));
        assertBlocked(second, WAIT_QUEUE);
        assertNull(region.tryWrite(3 * PAGE, 8), "tryWrite does not wait for another fault's preparation");
        release.countDown();
        done(first);
        done(second);
        assertEquals(1, handler.calls(), "exactly one preparation per clean cycle");
        assertEquals(1, handler.reservations.size());
    }

    // ---------------------------------------------------------------------------------------------
    // K5: the retry reads the page-state table

    @Test
    void shouldAdoptTheCachedReservationOnTheRetryWithoutCallingTheHandler() throws Exception {
        open();
        handler.behaviour = (fault, h) -> {
            fault.dropLock();
            TrackingHandler.Tracked r = h.reserve(fault);
            fault.cacheReservation(r);
            assertSame(r, fault.cachedReservation());
            return FaultResult.RETRY;
        };
        region.putLong(PAGE, 1);
        assertEquals(1, handler.calls());
        assertEquals(1, region.stats().reservationsOutstanding());
        assertEquals(PAGE, region.stats().reservedBytes());
        assertEquals(1, region.flush());
        assertEquals(1, handler.consumed(), "adopted, then consumed by writeback");
    }

    /**
     * A handler that caches its reservation after dropping the lock and then also returns it (a chain whose
     * member cached X and returned X does this): one reservation, adopted once. The return used to count as
     * a second reservation, released with a protocol error, and the cached one released again: released
     * twice, and the write failed.
     */
    @Test
    void shouldAdoptAReservationBothCachedAndReturnedOnce() throws Exception {
        open();
        handler.behaviour = (fault, h) -> {
            fault.dropLock();
            TrackingHandler.Tracked r = h.reserve(fault);
            fault.cacheReservation(r);
            return r;
        };
        region.putLong(PAGE, 1);
        assertEquals(1, handler.calls());
        assertEquals(1, region.stats().reservationsOutstanding());
        assertEquals(1, region.flush());
        assertEquals(1, handler.consumed(), "adopted, then consumed by writeback");
        assertEquals(0, handler.released());
        assertEquals(0, handler.endedTwice());
        assertEquals(1, region.getLong(PAGE));
    }

    @Test
    void shouldCallTheHandlerAgainOnTheRetryWhenNothingWasCached() throws Exception {
        open();
        handler.behaviour = (fault, h) -> {
            if (fault.mayDropLock()) {
                fault.dropLock(); // waited for something, prepared nothing
                return FaultResult.RETRY;
            }
            return h.reserve(fault);
        };
        region.putLong(PAGE, 1);
        assertEquals(2, handler.calls());
        assertTrue(handler.calls.get(1).retry());
        assertNull(handler.calls.get(1).cached());
    }

    @Test
    void shouldTreatReadyAfterADropAsACachedReservation() throws Exception {
        open();
        handler.behaviour = (fault, h) -> {
            fault.dropLock();
            return h.reserve(fault); // should have been cache + RETRY; mkwrite revalidates it anyway
        };
        region.putLong(PAGE, 1);
        assertEquals(1, handler.calls());
        assertEquals(1, region.stats().retries());
    }

    @Test
    void shouldReleaseTheRedundantReservationWhenAnotherFaultPreparedThePageMeanwhile() throws Exception {
        open();
        CountDownLatch release = latch();
        Future<Void> first = faultWithDroppedLock(release, () -> region.put(3 * PAGE, bytes(8, 1)));
        region.truncate(0);
        region.grow(PAGES * (long) PAGE);
        handler.behaviour = (fault, h) -> h.reserve(fault);
        region.put(3 * PAGE + 8, bytes(8, 2)); // another fault prepares the page afresh
        release.countDown();
        done(first); // its retry finds the page WRITABLE at a new generation
        assertEquals(2, handler.reservations.size());
        TrackingHandler.Tracked stale = handler.reservations.stream()
                .min(java.util.Comparator.comparingLong(t -> t.generation)).orElseThrow();
        assertEquals(1, stale.released.get(), "the stale reservation is released exactly once");
        assertEquals(0, stale.consumed.get(), "and never adopted");
        assertArrayEquals(bytes(8, 1), read(3 * PAGE, 8));
        assertArrayEquals(bytes(8, 2), read(3 * PAGE + 8, 8));
    }

    // ---------------------------------------------------------------------------------------------
    // K6: truncate moves generations; stale work is released exactly once and never adopted

    @Test
    void shouldReleaseTheStaleReservationWhenTruncatedDuringTheRetry() throws Exception {
        open();
        CountDownLatch release = latch();
        Future<Void> fault = faultWithDroppedLock(release, () -> region.put(5 * PAGE, bytes(8, 1)));
        region.truncate(2L * PAGE);
        release.countDown();
        OutOfRegionException e = assertInstanceOf(OutOfRegionException.class, failure(fault));
        assertEquals(5L * PAGE, e.offset());
        assertTrue(e.getMessage().contains(dir.resolve("region.dat").toString()), e.getMessage());
        assertEquals(1, handler.reservations.getFirst().released.get());
        assertEquals(0, region.stats().reservationsOutstanding());
        assertEquals(0, region.stats().preparingPages());
        assertEquals(2L * PAGE, Files.size(dir.resolve("region.dat")), "nothing written beyond the end");
    }

    /**
     * A fault whose handler dropped the lock fails, and gives its claim back (without the lock) just after a
     * punch read the page PREPARING: the punch's plain store counted the page out of PREPARING a second time
     * (the statistics read -1 preparing pages for good). The punch ends the claim by CAS now.
     */
    @Test
    void shouldCountAClaimGivenBackDuringAPunchOutOnce() throws Exception {
        open();
        CountDownLatch dropped = latch();
        CountDownLatch fail = latch();
        handler.behaviour = (fault, h) -> {
            fault.dropLock();
            dropped.countDown();
            fail.await();
            throw new IOException("test: the handler failed");
        };
        Future<Void> writer = asyncRun(() -> region.putLong(PAGE, 1));
        assertTrue(dropped.await(10, java.util.concurrent.TimeUnit.SECONDS));
        Resizing.beforeEndClaimForTests = () -> {
            fail.countDown(); // the fault fails and gives its claim back, while the punch holds the lock
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (state(1) != CLEAN && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertEquals(CLEAN, state(1), "the failing fault gave its claim back"); // else the test proves nothing
        };
        try {
            region.punchHole(PAGE, PAGE);
        } finally {
            Resizing.beforeEndClaimForTests = null;
        }
        assertTrue(failure(writer) instanceof RuntimeException);
        assertEquals(0, region.stats().preparingPages());
        assertEquals(0, region.stats().reservationsOutstanding());
        handler.behaviour = (fault, h) -> h.reserve(fault);
        region.putLong(PAGE, 2);
        assertEquals(2, region.getLong(PAGE));
    }

    @Test
    void shouldPrepareAfreshWhenTruncatedAndExtendedDuringTheRetry() throws Exception {
        open();
        CountDownLatch release = latch();
        Future<Void> fault = faultWithDroppedLock(release, () -> region.put(5 * PAGE, bytes(8, 1)));
        region.truncate(2L * PAGE);
        region.grow(PAGES * (long) PAGE);
        release.countDown();
        done(fault);
        assertEquals(2, handler.calls());
        TrackingHandler.Call retry = handler.calls.get(1);
        assertTrue(retry.retry());
        assertFalse(retry.mayDropLock());
        assertNotEquals(handler.calls.get(0).generation(), retry.generation(), "a new generation after truncate");
        TrackingHandler.Tracked stale = handler.reservations.get(0);
        TrackingHandler.Tracked fresh = handler.reservations.get(1);
        assertEquals(1, stale.released.get());
        assertEquals(0, stale.consumed.get());
        assertEquals(0, fresh.ends());
        assertArrayEquals(bytes(8, 1), read(5 * PAGE, 8));
    }

    @Test
    void shouldReleaseReservationsOfTruncatedPagesAndReadZerosAfterExtending() throws Exception {
        open();
        region.put(0, bytes(PAGES * PAGE, 1));
        region.truncate(3L * PAGE + 100);
        assertEquals(PAGES - 4, handler.released(), "pages 4.. were removed");
        assertEquals(3L * PAGE + 100, Files.size(dir.resolve("region.dat")));
        region.grow(PAGES * (long) PAGE);
        byte[] all = read(0, PAGES * PAGE);
        assertArrayEquals(Arrays.copyOf(bytes(PAGES * PAGE, 1), 3 * PAGE + 100), Arrays.copyOf(all, 3 * PAGE + 100));
        for (int i = 3 * PAGE + 100; i < all.length; i++) {
            assertEquals(0, all[i], "byte " + i + " re-extended after truncate must read zero");
        }
    }

    @Test
    void shouldGiveAPageShortenedByTruncateANewGenerationAndKeepItsData() throws Exception {
        open();
        region.put(2L * PAGE, bytes(PAGE, 1));
        long before = handler.calls.getLast().generation();
        region.truncate(2L * PAGE + 100); // page 2 keeps 100 bytes and loses the blocks past them
        assertEquals(WRITABLE, state(2), "the dirty page keeps its data and reservation");
        assertNotEquals(before, PageState.generation(impl().stateWord(2)));
        region.grow(4L * PAGE);
        region.putByte(2L * PAGE + 3000, (byte) 7);
        TrackingHandler.Call again = handler.calls.getLast();
        assertEquals(2, again.page());
        assertNotEquals(before, again.generation(), "a handler keyed by generation prepares it again");
        assertArrayEquals(Arrays.copyOf(bytes(PAGE, 1), 100), read(2L * PAGE, 100));
    }

    // ---------------------------------------------------------------------------------------------
    // Hole punching: a range discarded in place (K6, K7)

    @Test
    void shouldPunchAHoleThatReadsZeroReleasesReservationsAndFaultsAgain() throws Exception {
        open();
        region.put(0, bytes(6 * PAGE, 1));
        long generation = PageState.generation(impl().stateWord(2));
        region.punchHole(2L * PAGE, 2L * PAGE);
        assertEquals(2, handler.released(), "the reservations of pages 2 and 3 are released");
        assertEquals(CLEAN, state(2));
        assertEquals(CLEAN, state(3));
        assertEquals(WRITABLE, state(1), "pages outside the hole keep their state");
        assertNotEquals(generation, PageState.generation(impl().stateWord(2)));
        assertEquals(4, region.stats().writablePages());
        assertEquals(PAGES * (long) PAGE, region.size());
        byte[] all = read(0, 6 * PAGE);
        byte[] want = bytes(6 * PAGE, 1);
        Arrays.fill(want, 2 * PAGE, 4 * PAGE, (byte) 0);
        assertArrayEquals(want, all);
        region.flush();
        ByteBuffer onDisk = ByteBuffer.allocate(6 * PAGE);
        try (FileChannel ch = FileChannel.open(dir.resolve("region.dat"))) {
            ch.read(onDisk, 0);
        }
        assertArrayEquals(want, onDisk.array(), "the file holds zeros in the hole, data around it");
        int calls = handler.calls();
        region.putByte(3L * PAGE + 5, (byte) 9);
        assertEquals(calls + 1, handler.calls(), "a write into the hole faults again");
        assertEquals(3, handler.calls.getLast().page());
        assertNotEquals(generation, handler.calls.getLast().generation(), "and is prepared at a new generation");
        assertEquals(9, region.getByte(3L * PAGE + 5));
    }

    @Test
    void shouldPunchTheHoleToTheEndOfARegionWithAPartialLastPage() throws Exception {
        open(handler, 3L * PAGE + 100);
        region.put(0, bytes(3 * PAGE + 100, 1));
        region.punchHole(2L * PAGE, PAGE + 100);
        byte[] want = bytes(3 * PAGE + 100, 1);
        Arrays.fill(want, 2 * PAGE, want.length, (byte) 0);
        assertArrayEquals(want, read(0, want.length));
        assertEquals(3L * PAGE + 100, Files.size(dir.resolve("region.dat")), "the file keeps its size");
        region.putByte(3L * PAGE + 99, (byte) 1);
        assertEquals(1, region.getByte(3L * PAGE + 99));
    }

    @Test
    void shouldRejectAHoleThatIsNotWholePagesOrPastTheEndAndChangeNothing() throws Exception {
        open();
        region.put(0, bytes(4 * PAGE, 1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> region.punchHole(PAGE + 1, PAGE));
        assertTrue(e.getMessage().contains("region.dat") && e.getMessage().contains("offset 4097")
                && e.getMessage().contains("page 1"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> region.punchHole(PAGE, PAGE - 1));
        assertThrows(IllegalArgumentException.class, () -> region.punchHole(-PAGE, PAGE));
        assertThrows(IllegalArgumentException.class, () -> region.punchHole(PAGE, Long.MAX_VALUE));
        OutOfRegionException past = assertThrows(OutOfRegionException.class,
                () -> region.punchHole((PAGES - 1L) * PAGE, 2L * PAGE));
        assertTrue(past.getMessage().contains("region.dat"), past.getMessage());
        region.punchHole(PAGE, 0);
        region.punchHole(PAGE + 1, 0);
        assertEquals(0, handler.released(), "no page was touched");
        assertArrayEquals(bytes(4 * PAGE, 1), read(0, 4 * PAGE));
        region.close();
        assertThrows(RegionClosedException.class, () -> region.punchHole(0, PAGE));
    }

    @Test
    void shouldReleaseTheStaleReservationWhenAHoleIsPunchedDuringTheRetry() throws Exception {
        open();
        CountDownLatch release = latch();
        Future<Void> fault = faultWithDroppedLock(release, () -> region.put(5 * PAGE, bytes(8, 1)));
        region.punchHole(4L * PAGE, 4L * PAGE);
        release.countDown();
        done(fault);
        assertEquals(2, handler.calls(), "the retry found its preparation stale and prepared again");
        assertNotEquals(handler.calls.get(0).generation(), handler.calls.get(1).generation());
        assertEquals(1, handler.reservations.get(0).released.get());
        assertEquals(0, handler.reservations.get(0).consumed.get());
        assertArrayEquals(bytes(8, 1), read(5 * PAGE, 8));
    }

    @Test
    void shouldPunchTheRegionsOwnFileEvenAfterItsPathWasRenamedAndReplaced() throws Exception {
        open();
        region.put(0, bytes(4 * PAGE, 1));
        region.flush();
        Path moved = dir.resolve("segment-1.dat");
        Files.move(dir.resolve("region.dat"), moved);
        byte[] other = bytes(4 * PAGE, 2);
        Files.write(dir.resolve("region.dat"), other);
        region.punchHole(0, 2L * PAGE);
        assertArrayEquals(other, Files.readAllBytes(dir.resolve("region.dat")), "the file now at the path is untouched");
        byte[] want = bytes(4 * PAGE, 1);
        Arrays.fill(want, 0, 2 * PAGE, (byte) 0);
        assertArrayEquals(want, read(0, 4 * PAGE));
        assertArrayEquals(want, Arrays.copyOf(Files.readAllBytes(moved), 4 * PAGE), "the region's own file has the hole");
    }

    @Test
    void shouldPunchWithoutWaitingForWritersOfOtherPages() throws Exception {
        open();
        region.put(0, bytes(2 * PAGE, 1));
        try (WriteSpan span = region.write(10L * PAGE, 8)) {
            region.punchHole(0, 2L * PAGE); // same thread: would deadlock if it waited for page 10's pin
            span.segment().fill((byte) 4);
        }
        assertArrayEquals(new byte[2 * PAGE], read(0, 2 * PAGE));
        assertEquals(4, region.getByte(10L * PAGE));
        assertEquals(WRITABLE, state(10));
    }

    /**
     * Reservation: punchHole releases the reservations of the pages it removes, and only those, on the
     * punching thread with the region lock held exclusively.
     */
    @Test
    void shouldReleaseTheReservationsOfThePagesAHoleRemovesUnderTheExclusiveLock() throws Exception {
        open();
        region.put(0, bytes(6 * PAGE, 1));
        List<String> ends = new CopyOnWriteArrayList<>();
        Thread punching = Thread.currentThread();
        handler.endHook = (r, consumed) -> ends.add(r.page + (consumed ? " consumed" : " released")
                + (Thread.currentThread() == punching ? " here" : " elsewhere")
                + (regionLockHeldExclusively() ? " locked" : " unlocked"));
        region.punchHole(2L * PAGE, 2L * PAGE);
        assertEquals(List.of("2 released here locked", "3 released here locked"), ends);
        for (TrackingHandler.Tracked r : handler.reservations) {
            assertEquals(r.page == 2 || r.page == 3 ? 1 : 0, r.ends(), "the reservation of page " + r.page);
        }
        handler.endHook = (r, consumed) -> { };
    }

    /**
     * Reservation: grow (when it writes back a partly covered last page), truncate and close end reservations
     * with the region lock held exclusively; flush consumes them without it.
     */
    @Test
    void shouldEndReservationsUnderTheExclusiveLockInGrowTruncateAndCloseButNotInFlush() throws Exception {
        open(handler, 4L * PAGE + 100);
        List<String> ends = new CopyOnWriteArrayList<>();
        handler.endHook = (r, consumed) -> ends.add(r.page + (consumed ? " consumed" : " released")
                + (regionLockHeldExclusively() ? " locked" : " unlocked"));
        region.putLong(0, 1L);
        region.flush();
        region.putLong(4L * PAGE, 1L); // the partly covered last page
        region.grow(8L * PAGE);
        region.putLong(6L * PAGE, 1L);
        region.putLong(7L * PAGE, 1L);
        region.truncate(6L * PAGE);
        region.putLong(PAGE, 1L);
        region.close();
        assertEquals(List.of("0 consumed unlocked", "4 consumed locked", "6 released locked", "7 released locked",
                "1 consumed locked"), ends);
    }

    @Test
    void shouldWaitForAPinnedWriterBeforePunchingAHole() throws Exception {
        open();
        WriteSpan span = region.write(2L * PAGE, 8);
        Future<Void> punch = asyncRun(() -> region.punchHole(0, 4L * PAGE));
        assertBlocked(punch, WAIT_QUEUE);
        span.segment().fill((byte) 3);
        span.close();
        done(punch);
        assertArrayEquals(new byte[8], read(2L * PAGE, 8), "the hole was punched after the writer left");
        assertEquals(0, region.stats().pins());
    }

    @Test
    void shouldPrepareTheWholePartialLastPageWhenGrownWhileItsFaultHadDroppedTheLock() throws Exception {
        open(handler, PAGE + 100);
        CountDownLatch release = latch();
        Future<Void> fault = faultWithDroppedLock(release, () -> region.putByte(PAGE + 10, (byte) 1));
        region.grow(4L * PAGE); // the page now covers 4096 bytes, not the 100 that were prepared
        release.countDown();
        done(fault);
        assertEquals(List.of(100, PAGE), handler.calls.stream().map(TrackingHandler.Call::length).toList(),
                "the retry found its short preparation stale and prepared the whole page");
        assertEquals(1, handler.reservations.getFirst().released.get());
    }

    @Test
    void shouldNeverReuseAGenerationAcrossRegionsOverTheSameFile() throws Exception {
        open();
        region.putByte(0, (byte) 1);
        long first = handler.calls.getLast().generation();
        region.close();
        open();
        region.truncate(PAGE);
        region.putByte(0, (byte) 2);
        assertNotEquals(first, handler.calls.getLast().generation());
    }

    @Test
    void shouldRepreparePartialLastPageAfterGrow() throws Exception {
        open(handler, 2L * PAGE + 100);
        region.putByte(2L * PAGE + 10, (byte) 1);
        assertEquals(100, handler.calls.getLast().length());
        region.grow(4L * PAGE);
        region.putByte(2L * PAGE + 3000, (byte) 2);
        assertEquals(PAGE, handler.calls.getLast().length(), "the grown page is prepared for all its bytes");
        assertEquals((byte) 1, region.getByte(2L * PAGE + 10));
    }

    // ---------------------------------------------------------------------------------------------
    // K7: errors leave nothing behind and the region usable

    @Test
    void shouldReportNoSpaceAndLeaveThePageCleanAndTheRegionUsable() throws Exception {
        open();
        region.put(0, bytes(100, 1));
        handler.behaviour = (fault, h) -> {
            throw new NoSpaceException("test budget is full", fault.path(), fault.offset(), fault.page());
        };
        NoSpaceException e = assertThrows(NoSpaceException.class, () -> region.putLong(4 * PAGE, 1));
        assertEquals(4, e.page());
        assertEquals(CLEAN, state(4));
        region.put(0, bytes(100, 2)); // prepared pages still take writes
        handler.behaviour = (fault, h) -> h.reserve(fault);
        region.putLong(4 * PAGE, 1); // and once space is back, new writes succeed
        assertEquals(1, region.getLong(4 * PAGE));
    }

    @Test
    void shouldTranslateAnIoExceptionSayingTheDeviceIsFullToNoSpace() throws Exception {
        open();
        handler.behaviour = (fault, h) -> {
            throw new IOException("No space left on device");
        };
        NoSpaceException e = assertThrows(NoSpaceException.class, () -> region.putLong(4 * PAGE, 1));
        assertTrue(e.getMessage().contains("page 4"), e.getMessage());
        assertTrue(e.getMessage().contains("offset " + 4 * PAGE), e.getMessage());
    }

    @Test
    void shouldReleaseTheCachedReservationWhenTheHandlerFailsAfterDroppingTheLock() throws Exception {
        open();
        handler.behaviour = (fault, h) -> {
            fault.dropLock();
            fault.cacheReservation(h.reserve(fault));
            throw new IOException("failed after caching");
        };
        assertThrows(HandlerFailedException.class, () -> region.putLong(4 * PAGE, 1));
        assertEquals(1, handler.released());
        assertEquals(0, region.stats().reservationsOutstanding());
        assertEquals(CLEAN, state(4));
    }

    // ---------------------------------------------------------------------------------------------
    // K8: writeback

    @Test
    void shouldWriteBackExactlyTheDirtyPagesAndFaultAgainAfterwards() throws Exception {
        open();
        region.putByte(PAGE, (byte) 1);
        region.putByte(7 * PAGE, (byte) 1);
        region.putByte(8 * PAGE, (byte) 1);
        assertEquals(3, region.stats().writablePages());
        assertEquals(3, region.flush());
        assertEquals(List.of(1L, 7L, 8L), handler.writebacks);
        assertEquals(3, handler.consumed(), "writeback consumes the reservations");
        assertEquals(0, region.flush(), "nothing is dirty any more");
        assertEquals(CLEAN, state(7));
        region.putByte(7 * PAGE, (byte) 2);
        assertEquals(4, handler.calls(), "a cleaned page faults again");
        assertEquals(3, region.stats().pagesWrittenBack());
    }

    @Test
    void shouldKeepAWrittenBackPagePreparedWhenOverwritesNeedNoPreparing() throws Exception {
        handler.preparesOverwrites = false;
        open();
        region.putByte(7 * PAGE, (byte) 1);
        assertEquals(1, region.flush());
        assertEquals(PageState.PREPARED, state(7), "kept prepared, not CLEAN");
        RegionStats kept = region.stats();
        assertEquals(1, kept.preparedPages());
        assertEquals(0, kept.writablePages());
        assertEquals(1, kept.reservationsOutstanding(), "the kept page holds an empty reservation");
        assertEquals(0, kept.reservedBytes());
        assertEquals(PAGES - 1, kept.cleanPages());
        assertEquals(1, handler.consumed(), "writeback consumed the handler's reservation");
        assertEquals(0, region.dirtyRanges((o, l) -> fail("nothing is dirty: " + o + "+" + l)));

        region.putByte(7 * PAGE + 1, (byte) 2);
        assertEquals(1, handler.calls(), "the kept page is entered without a fault");
        assertEquals(1, region.stats().faults());
        assertEquals(WRITABLE, state(7));
        List<Long> dirty = new ArrayList<>();
        assertEquals(1, region.dirtyRanges((o, l) -> {
            dirty.add(o);
            dirty.add(l);
        }));
        assertEquals(List.of(7L * PAGE, (long) PAGE), dirty, "dirty again, exactly that page");
        assertEquals(1, region.flush(), "the overwrite is written back");
        assertEquals(List.of(7L, 7L), handler.writebacks);
        assertEquals(2, region.stats().pagesWrittenBack());
        assertEquals((byte) 2, region.getByte(7 * PAGE + 1));
        assertEquals(PageState.PREPARED, state(7));
    }

    @Test
    void shouldPrepareAKeptPageAgainAfterATruncateOrAHole() throws Exception {
        handler.preparesOverwrites = false;
        open();
        region.putByte(3 * PAGE, (byte) 1);
        region.putByte(9 * PAGE, (byte) 1);
        assertEquals(2, region.flush());
        assertEquals(PageState.PREPARED, state(3));
        assertEquals(PageState.PREPARED, state(9));

        region.truncate(2L * PAGE); // takes both kept pages away
        assertEquals(0, region.stats().preparedPages());
        assertEquals(0, region.stats().reservationsOutstanding());
        region.grow(PAGES * (long) PAGE);
        region.putByte(3 * PAGE, (byte) 2);
        assertEquals(3, handler.calls(), "after truncate and grow the page faults and is prepared again");
        assertEquals((byte) 0, region.getByte(3 * PAGE + 1), "re-extended bytes read as zero");

        assertEquals(1, region.flush());
        assertEquals(PageState.PREPARED, state(3));
        region.punchHole(3L * PAGE, PAGE); // the page's storage goes: it must be prepared again
        assertEquals(CLEAN, state(3));
        assertEquals(0, region.stats().preparedPages());
        region.putByte(3 * PAGE, (byte) 3);
        assertEquals(4, handler.calls(), "a hole punched over a kept page is prepared again");
    }

    @Test
    void shouldMakeAWrittenBackPageCleanByDefault() throws Exception {
        open(); // TrackingHandler answers preparesOverwrites with the default, true
        region.putByte(5 * PAGE, (byte) 1);
        assertEquals(1, region.flush());
        assertEquals(CLEAN, state(5));
        assertEquals(0, region.stats().preparedPages());
        region.putByte(5 * PAGE, (byte) 2);
        assertEquals(2, handler.calls());
    }

    @Test
    void shouldFlushOnlyThePagesOfTheRange() throws Exception {
        open();
        region.put(0, bytes(6 * PAGE, 1));
        assertEquals(2, region.flush(2L * PAGE + 5, PAGE)); // touches pages 2 and 3
        assertEquals(WRITABLE, state(1));
        assertEquals(CLEAN, state(2));
        assertEquals(CLEAN, state(3));
        assertEquals(WRITABLE, state(4));
    }

    @Test
    void shouldWaitForAPinnedWriterBeforeWritingBackItsPage() throws Exception {
        open();
        WriteSpan span = region.write(2 * PAGE, 16);
        Future<Long> flush = asyncFlush();
        assertBlocked(flush, WAIT_QUEUE);
        assertEquals(WRITEBACK, state(2), "new writers are already held off");
        assertTrue(handler.writebacks.isEmpty(), "nothing forced while the writer is inside");
        span.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 42L);
        span.close();
        assertEquals(1L, done(flush));
        assertEquals(42L, nativeLong(read(2 * PAGE, 8)));
    }

    @Test
    void shouldMakeAWriterWaitWhileItsPageIsUnderWriteback() throws Exception {
        open();
        region.putLong(2 * PAGE, 1);
        CountDownLatch inWriteback = latch();
        CountDownLatch release = latch();
        AtomicReference<Long> seen = new AtomicReference<>();
        handler.writebackHook = (page, contents) -> {
            seen.set(contents.get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
            inWriteback.countDown();
            TrackingHandler.awaitQuietly(release);
            assertEquals(seen.get(), contents.get(ValueLayout.JAVA_LONG_UNALIGNED, 0), "stable page");
        };
        Future<Void> flush = asyncRun(region::flush);
        assertTrue(inWriteback.await(10, TimeUnit.SECONDS));
        Future<Void> writer = asyncRun(() -> region.putLong(2 * PAGE, 2));
        assertBlocked(writer, WAIT_QUEUE);
        assertNull(region.tryWrite(2 * PAGE, 8), "tryWrite does not wait for writeback");
        region.putLong(5 * PAGE, 3); // other pages are not held
        release.countDown();
        done(flush);
        done(writer);
        assertEquals(2, region.getLong(2 * PAGE));
        assertEquals(1, region.stats().writebackWaits());
    }

    @Test
    void shouldWaitForAnotherFlushOfTheSamePages() throws Exception {
        open();
        region.putLong(2 * PAGE, 1);
        CountDownLatch release = latch();
        Future<Void> first = flushBlockedInWriteback(release);
        Future<Long> second = asyncFlush();
        assertBlocked(second, WAIT_QUEUE); // it must not return before the first one forced the page
        release.countDown();
        done(first);
        assertEquals(0L, done(second));
    }

    /**
     * MappedRegion.flush: a WRITABLE page goes to WRITEBACK at once, even with a writer pinned in it, so new
     * writers wait from then on; the flush waits for the pinned writer to leave before the handler sees the
     * page and it is forced.
     */
    @Test
    void shouldTakeAPinnedPageToWritebackAtOnceAndForceItOnceItsWriterLeft() throws Exception {
        open();
        region.putLong(2L * PAGE, 1L);
        AtomicReference<long[]> forced = new AtomicReference<>();
        handler.writebackHook = (page, contents) -> forced.set(new long[] {
                contents.get(ValueLayout.JAVA_LONG_UNALIGNED, 0), contents.get(ValueLayout.JAVA_LONG_UNALIGNED, 8)});
        WriteSpan span = region.write(2L * PAGE, 8);
        Future<Long> flush = asyncFlush();
        assertBlocked(flush, WAIT_QUEUE);
        assertEquals(WRITEBACK, state(2), "taken at once, with the writer still inside");
        assertTrue(handler.writebacks.isEmpty(), "neither shown to the handler nor forced yet");
        Future<Void> late = asyncRun(() -> region.putLong(2L * PAGE + 8, 3L));
        assertBlocked(late, WAIT_QUEUE); // a new writer waits for the writeback to end
        assertNull(region.tryWrite(2L * PAGE + 16, 8), "tryWrite does not wait for it");
        span.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 2L);
        span.close();
        assertEquals(1L, done(flush));
        done(late);
        assertArrayEquals(new long[] {2L, 0L}, forced.get(),
                "forced with the pinned writer's store and without the new writer's");
        assertEquals(3L, region.getLong(2L * PAGE + 8));
        assertEquals(WRITABLE, state(2), "the new writer faulted the page in again after the writeback");
        // One wait, or more where the pinned writer's unpin changed the state word (state-word pins).
        assertTrue(region.stats().writebackWaits() >= 1, "the new writer waited for the writeback");
    }

    /**
     * WriteFaultHandler.beforeWriteback: flush calls it without the region lock, as does the writeback a write
     * starts at the dirty limit (on the writing thread); close, for every dirty page, and grow, for a dirty last
     * page that the old size covers partly, call it with the region lock held exclusively.
     */
    @Test
    void shouldCallBeforeWritebackWithoutTheLockFromFlushAndUnderItFromGrowAndClose() throws Exception {
        open(handler, 3L * PAGE + 100);
        List<String> calls = new CopyOnWriteArrayList<>();
        List<Thread> callers = new CopyOnWriteArrayList<>();
        handler.writebackHook = (page, contents) -> {
            calls.add(page + (regionLockHeldExclusively() ? " locked" : " unlocked"));
            callers.add(Thread.currentThread());
        };
        region.putLong(0, 1L);
        region.flush();
        assertEquals(List.of("0 unlocked"), calls, "flush");
        region.putLong(PAGE, 1L);
        region.putLong(3L * PAGE, 1L); // the partly covered last page
        region.grow(8L * PAGE);
        assertEquals(List.of("0 unlocked", "3 locked"), calls, "grow: the partly covered last page only");
        region.putLong(5L * PAGE, 1L);
        region.close();
        assertEquals(List.of("0 unlocked", "3 locked", "1 locked", "5 locked"), calls, "close: every dirty page");
        assertEquals(List.of(Thread.currentThread()), callers.stream().distinct().toList(), "the calling thread");

        region = MappedRegion.builder(dir.resolve("limited.dat")).size(4L * PAGE).pageSize(PAGE).backing(backing())
                .handler(handler).dirtyLimit(PAGE).open();
        calls.clear();
        callers.clear();
        region.putLong(0, 1L);
        Future<Void> writer = asyncRun(() -> region.putLong(PAGE, 1L)); // past the dirty limit: writes back first
        done(writer);
        assertEquals(List.of("0 unlocked"), calls, "the dirty limit's writeback");
        assertEquals(List.of(threads.get(writer)), callers, "on the writing thread");
    }

    // ---------------------------------------------------------------------------------------------
    // K9: interrupts and no-wait

    @Test
    void shouldThrowFaultInterruptedAndLeaveNoStateWhenInterruptedWhileWaitingForWriteback() throws Exception {
        open();
        region.putLong(2 * PAGE, 1);
        CountDownLatch release = latch();
        Future<Void> flush = flushBlockedInWriteback(release);
        AtomicReference<Thread> writerThread = new AtomicReference<>();
        AtomicReference<Boolean> interruptFlag = new AtomicReference<>();
        Future<Void> writer = asyncRun(() -> {
            writerThread.set(Thread.currentThread());
            try {
                region.putLong(2 * PAGE, 2);
            } finally {
                interruptFlag.set(Thread.interrupted());
            }
        });
        assertBlocked(writer, WAIT_QUEUE);
        writerThread.get().interrupt();
        FaultInterruptedException e = assertInstanceOf(FaultInterruptedException.class, failure(writer));
        assertEquals(2, e.page());
        assertTrue(interruptFlag.get(), "the interrupt status is set again");
        release.countDown();
        done(flush);
        RegionStats s = region.stats();
        assertEquals(0, s.preparingPages());
        assertEquals(1, region.getLong(2 * PAGE), "the interrupted write did not land");
    }

    @Test
    void shouldThrowFaultInterruptedWhenInterruptedWhileWaitingForTheLock() throws Exception {
        open();
        CountDownLatch started = latch();
        CountDownLatch release = latch();
        handler.behaviour = blockingWithLock(started, release);
        Future<Void> slow = asyncRun(() -> region.putLong(5 * PAGE, 1));
        assertTrue(started.await(10, TimeUnit.SECONDS));
        Future<Void> grow = asyncRun(() -> region.grow(2L * PAGES * PAGE));
        assertBlocked(grow, REGION_LOCK);
        handler.behaviour = (fault, h) -> h.reserve(fault);
        AtomicReference<Thread> writerThread = new AtomicReference<>();
        Future<Void> writer = asyncRun(() -> {
            writerThread.set(Thread.currentThread());
            region.putLong(9 * PAGE, 2);
        });
        assertBlocked(writer, REGION_LOCK);
        writerThread.get().interrupt();
        assertInstanceOf(FaultInterruptedException.class, failure(writer));
        release.countDown();
        done(slow);
        done(grow);
        assertEquals(CLEAN, state(9));
    }

    /**
     * MappedRegion.grow: it does not wait for every pinned writer; a writer pinned in a whole page below the
     * old end goes on writing during the grow, through the old mapping if the grow mapped anew.
     */
    @Test
    void shouldGrowWithoutWaitingForAWriterPinnedBelowTheOldEnd() throws Exception {
        open(); // whole pages: the old last page keeps its extent, so nothing needs quiescing
        try (WriteSpan span = region.write(PAGE, 16)) {
            span.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 7L);
            done(asyncRun(() -> region.grow(2L * PAGES * PAGE))); // G6 still: the writer's mapping stays
            span.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, 8, 8L); // through the old mapping, after the grow
            assertEquals(2L * PAGES * PAGE, region.size());
        }
        assertEquals(7L, region.getLong(PAGE));
        assertEquals(8L, region.getLong(PAGE + 8), "a store through the old mapping lands in the file's page");
        region.flush();
        region.putLong(2L * PAGES * PAGE - 8, 9L);
        assertEquals(9L, region.getLong(2L * PAGES * PAGE - 8));
    }

    /**
     * MappedRegion.grow: it waits only for the writers of a last page that the old size covers partly, then
     * writes that page back and gives it a new generation; writers of the whole pages below go on meanwhile.
     */
    @Test
    void shouldMakeGrowWaitForAWriterPinnedInAPartlyCoveredLastPage() throws Exception {
        open(handler, 2L * PAGE + 100);
        region.putLong(PAGE, 1L); // page 1: a whole page, dirty
        WriteSpan span = region.write(2L * PAGE + 8, 8); // page 2, partly covered: pinned
        long generation = PageState.generation(impl().stateWord(2));
        Future<Void> grow = asyncRun(() -> region.grow(4L * PAGE));
        assertBlocked(grow, WAIT_QUEUE);
        assertTrue(handler.writebacks.isEmpty(), "nothing written back while the writer is inside");
        done(asyncRun(() -> region.putLong(PAGE + 8, 2L))); // a writer of page 1 goes on during the grow
        span.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 7L);
        span.close();
        done(grow);
        assertEquals(List.of(2L), handler.writebacks, "grow wrote back the partly covered page, and only it");
        assertEquals(CLEAN, state(2));
        assertNotEquals(generation, PageState.generation(impl().stateWord(2)), "a new generation");
        assertEquals(WRITABLE, state(1), "the whole page keeps its state");
        assertEquals(7L, nativeLong(read(2 * PAGE + 8, 8)));
        assertEquals(2L, region.getLong(PAGE + 8));
        assertEquals(4L * PAGE, region.size());
    }

    /** MappedRegion.grow: it also waits for a writeback of a last page that the old size covers partly. */
    @Test
    void shouldMakeGrowWaitForAWritebackOfAPartlyCoveredLastPage() throws Exception {
        open(handler, 2L * PAGE + 100);
        region.putLong(2L * PAGE, 1L);
        CountDownLatch release = latch();
        Future<Void> flush = flushBlockedInWriteback(release);
        Future<Void> grow = asyncRun(() -> region.grow(4L * PAGE));
        assertBlocked(grow, WAIT_QUEUE);
        assertEquals(2L * PAGE + 100, region.size(), "not grown while the page is under writeback");
        release.countDown();
        done(flush);
        done(grow);
        assertEquals(4L * PAGE, region.size());
        assertEquals(List.of(2L), handler.writebacks, "written back once, by the flush");
    }

    @Test
    void shouldNotWaitInTryWriteAndRunTheHandlerAsANoWaitFault() throws Exception {
        open();
        handler.behaviour = (fault, h) -> {
            assertFalse(fault.mayDropLock(), "a no-wait fault may not drop the lock");
            assertThrows(IllegalStateException.class, fault::dropLock);
            return fault.isNoWait() && fault.page() == 3 ? FaultResult.RETRY : h.reserve(fault);
        };
        try (WriteSpan span = region.tryWrite(PAGE, 10)) {
            assertNotNull(span, "a clean page is prepared in place");
        }
        assertNull(region.tryWrite(3 * PAGE, 10), "the handler said it would block");
        assertEquals(CLEAN, state(3));
        assertTrue(handler.calls.stream().allMatch(TrackingHandler.Call::noWait));
    }

    // ---------------------------------------------------------------------------------------------
    // K10: dirty throttling

    @Test
    void shouldWriteBackWhenTheDirtyLimitIsReached() throws Exception {
        region = MappedRegion.builder(dir.resolve("region.dat")).size(PAGES * (long) PAGE).pageSize(PAGE)
                .backing(backing()).handler(handler).dirtyLimit(4L * PAGE).open();
        for (int p = 0; p < PAGES; p++) {
            region.putByte((long) p * PAGE, (byte) p);
            assertTrue(region.stats().writablePages() <= 5, "dirty pages stay near the limit");
        }
        assertTrue(region.stats().pagesWrittenBack() >= PAGES - 5);
    }

    @Test
    void shouldHoldKeptPagesToTheDirtyLimitToo() throws Exception {
        handler.preparesOverwrites = false;
        region = MappedRegion.builder(dir.resolve("region.dat")).size(PAGES * (long) PAGE).pageSize(PAGE)
                .backing(backing()).handler(handler).dirtyLimit(4L * PAGE).open();
        for (int p = 0; p < PAGES; p++) {
            region.putByte((long) p * PAGE, (byte) p);
        }
        region.flush();
        assertEquals(PAGES, region.stats().preparedPages(), "every page kept prepared");
        long writtenBack = region.stats().pagesWrittenBack();
        for (int p = 0; p < PAGES; p++) {
            region.putByte((long) p * PAGE + 1, (byte) p); // enters a kept page, no fault
            assertTrue(region.stats().writablePages() <= 5, "a kept page entered counts as dirty: "
                    + region.stats());
        }
        assertEquals(PAGES, handler.calls(), "kept pages are entered without a handler call");
        assertTrue(region.stats().pagesWrittenBack() - writtenBack >= PAGES - 5, "the limit wrote them back");
        RegionStats s = region.stats();
        assertEquals(s.writablePages() + s.preparedPages(), s.reservationsOutstanding(),
                "every writable and every kept page holds one reservation");
        region.flush();
        assertEquals(PAGES, region.stats().preparedPages());
        for (int p = 0; p < PAGES; p++) {
            assertEquals((byte) p, region.getByte((long) p * PAGE + 1));
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Bad input: a clear exception, the region usable, its data unchanged, no deadlock

    @Test
    void shouldRejectNegativeAndOverflowingOffsetsAndLengths() throws Exception {
        open();
        region.put(0, bytes(64, 1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> region.write(-1, 8));
        assertTrue(e.getMessage().contains("offset -1"), e.getMessage());
        assertTrue(e.getMessage().contains("region.dat"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> region.write(PAGE * 3L, -5));
        assertTrue(e.getMessage().contains("page 3"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> region.write(Long.MAX_VALUE - 3, 8));
        assertThrows(IllegalArgumentException.class, () -> region.putLong(-8, 1));
        assertThrows(IllegalArgumentException.class, () -> region.putLong(Long.MAX_VALUE - 3, 1));
        assertThrows(IllegalArgumentException.class, () -> region.getLong(-1));
        assertThrows(IllegalArgumentException.class, () -> region.flush(-1, 10));
        assertThrows(IllegalArgumentException.class, () -> region.flush(10, Long.MAX_VALUE));
        e = assertThrows(IllegalArgumentException.class, () -> region.truncate(-1));
        assertTrue(e.getMessage().contains("region.dat") && e.getMessage().contains("offset -1"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> region.grow(PAGE + 1));
        assertTrue(e.getMessage().contains("region.dat") && e.getMessage().contains("offset " + (PAGE + 1))
                && e.getMessage().contains("page 1"), e.getMessage());
        IndexOutOfBoundsException source = assertThrows(IndexOutOfBoundsException.class,
                () -> region.put(PAGE * 3L + 5, new byte[4], 2, 4));
        assertTrue(source.getMessage().contains("region.dat"), source.getMessage());
        assertTrue(source.getMessage().contains("offset " + (PAGE * 3L + 5)), source.getMessage());
        assertTrue(source.getMessage().contains("page 3"), source.getMessage());
        assertThrows(IndexOutOfBoundsException.class, () -> region.put(0, new byte[4], -1, 2));
        assertThrows(IndexOutOfBoundsException.class, () -> region.put(0, new byte[4], 1, -1));
        assertThrows(IndexOutOfBoundsException.class, () -> region.put(0, new byte[4], Integer.MAX_VALUE, 2));
        source = assertThrows(IndexOutOfBoundsException.class, () -> region.put(64, new byte[4], 0, 5)); // WRITABLE page
        assertTrue(source.getMessage().contains("offset 64, page 0"), source.getMessage());
        assertTrue(source.getMessage().contains("source of 4 bytes"), source.getMessage());
        assertEquals(0, region.stats().pins(), "a refused put left no pin");
        IndexOutOfBoundsException destination = assertThrows(IndexOutOfBoundsException.class,
                () -> region.get(PAGE + 9, new byte[8], 4, 8));
        assertTrue(destination.getMessage().contains("destination of 8 bytes"), destination.getMessage());
        assertTrue(destination.getMessage().contains("region.dat, offset " + (PAGE + 9) + ", page 1"),
                destination.getMessage());
        assertThrows(IndexOutOfBoundsException.class, () -> region.get(0, new byte[8], -1, 2));
        assertThrows(IndexOutOfBoundsException.class, () -> region.get(0, new byte[8], 2, -1));
        assertEquals(1, handler.calls(), "no bad input reached the handler");
        assertArrayEquals(bytes(64, 1), read(0, 64));
        region.put(64, bytes(64, 2));
    }

    @Test
    void shouldRejectSpansPastTheEndWithoutCallingTheHandler() throws Exception {
        open();
        long size = region.size();
        OutOfRegionException e = assertThrows(OutOfRegionException.class, () -> region.write(size - 4, 8));
        assertEquals(size - 4, e.offset());
        assertEquals(size, e.regionSize());
        assertTrue(e.getMessage().contains("region.dat"), e.getMessage());
        assertThrows(OutOfRegionException.class, () -> region.putLong(size, 1));
        assertThrows(OutOfRegionException.class, () -> region.write(size + PAGE, 0));
        assertThrows(OutOfRegionException.class, () -> region.getLong(size - 4));
        assertEquals(0, handler.calls());
        try (WriteSpan empty = region.write(size, 0)) {
            assertEquals(0, empty.length());
        }
        region.putLong(size - 8, 5);
        assertEquals(5, region.getLong(size - 8));
    }

    /**
     * A span's views are taken when asked, not when it opened: one taken after a grow that mapped the region
     * anew reaches the same file pages as one taken before, and both stay mapped until the span closes.
     */
    @Test
    void shouldWriteThroughViewsOfASpanTakenBeforeAndAfterAGrowThatRemaps() throws Exception {
        open();
        try (WriteSpan span = region.write(PAGE, 3)) {
            MemorySegment before = span.segment();
            region.grow(2 * Mapping.NativeMapping.MIN_CAPACITY); // past the mapping: maps anew, retires the old
            MemorySegment after = span.segment();
            ByteBuffer buffer = span.buffer();
            before.set(ValueLayout.JAVA_BYTE, 0, (byte) 1);
            after.set(ValueLayout.JAVA_BYTE, 1, (byte) 2);
            buffer.put(2, (byte) 3);
        }
        assertEquals(1, region.getByte(PAGE));
        assertEquals(2, region.getByte(PAGE + 1));
        assertEquals(3, region.getByte(PAGE + 2));
    }

    /**
     * An empty span pins nothing, so the region may shrink below its offset while it is open; its views are
     * then empty views at the new end, not an exception.
     */
    @Test
    void shouldGiveAnEmptySpanEmptyViewsAfterTheRegionShrankBelowIt() throws Exception {
        open();
        long size = region.size();
        try (WriteSpan empty = region.write(size, 0)) {
            region.truncate(size / 2);
            assertEquals(0, empty.segment().byteSize());
            assertEquals(0, empty.buffer().remaining());
        }
        assertEquals(size / 2, region.size());
    }

    /**
     * The fast path's range check: a write within one WRITABLE page, the region's partial last page, that
     * runs past the region's end is refused as any other, and the page stays writable.
     */
    @Test
    void shouldRejectWritesPastTheEndWithinAWritablePartialLastPage() throws Exception {
        long size = PAGE + PAGE / 2;
        open(handler, size);
        region.putLong(PAGE, 1); // page 1, the partial last page, is WRITABLE now
        OutOfRegionException span = assertThrows(OutOfRegionException.class, () -> region.write(size - 4, 8));
        assertEquals(size - 4, span.offset());
        assertTrue(span.getMessage().contains("region.dat") && span.getMessage().contains("page 1"), span.getMessage());
        assertThrows(OutOfRegionException.class, () -> region.tryWrite(size - 4, 8));
        assertThrows(OutOfRegionException.class, () -> region.putLong(size - 4, 2));
        assertThrows(OutOfRegionException.class, () -> region.putInt(size - 2, 2));
        assertThrows(OutOfRegionException.class, () -> region.putByte(size, (byte) 2));
        assertThrows(OutOfRegionException.class, () -> region.put(size - 4, bytes(8, 2), 0, 8));
        assertThrows(OutOfRegionException.class, () -> region.put(size - 4, MemorySegment.ofArray(bytes(8, 2))));
        assertEquals(1, handler.calls(), "no bad write reached the handler");
        assertEquals(0, region.stats().pins(), "no pin left behind");
        region.putLong(size - 8, 3);
        assertEquals(3, region.getLong(size - 8));
        assertEquals(1, region.getLong(PAGE));
    }

    @Test
    void shouldRejectWritesAfterClose() throws Exception {
        open();
        region.putLong(0, 1);
        region.close();
        region.close(); // idempotent
        assertTrue(region.isClosed());
        RegionClosedException e = assertThrows(RegionClosedException.class, () -> region.putLong(0, 2));
        assertTrue(e.getMessage().contains("region.dat"), e.getMessage());
        assertThrows(RegionClosedException.class, () -> region.write(PAGE, 8));
        assertThrows(RegionClosedException.class, () -> region.tryWrite(PAGE, 8));
        assertThrows(RegionClosedException.class, () -> region.getLong(0));
        assertThrows(RegionClosedException.class, region::flush);
        RegionClosedException grow = assertThrows(RegionClosedException.class, () -> region.grow(1L << 20));
        assertEquals(1L << 20, grow.offset(), "a closed region's grow names the new size");
        assertEquals((1L << 20) / PAGE, grow.page());
        RegionClosedException truncate = assertThrows(RegionClosedException.class, () -> region.truncate(PAGE));
        assertEquals(PAGE, truncate.offset());
        assertEquals(1, truncate.page());
        assertEquals(1, handler.consumed(), "close wrote back the dirty page");
    }

    @Test
    void shouldReportAHandlerThatThrows() throws Exception {
        open();
        RuntimeException boom = new IllegalArgumentException("bad granule");
        handler.behaviour = (fault, h) -> {
            throw boom;
        };
        HandlerFailedException e = assertThrows(HandlerFailedException.class, () -> region.putLong(3 * PAGE, 1));
        assertSame(boom, e.getCause());
        assertEquals(3, e.page());
        assertEquals(3L * PAGE, e.offset());
        assertEquals(CLEAN, state(3));
        assertEquals(0, region.stats().preparingPages());
    }

    @Test
    void shouldReportAHandlerThatReturnsRetryWithoutDroppingTheLock() throws Exception {
        open();
        handler.behaviour = (fault, h) -> FaultResult.RETRY;
        HandlerFailedException e = assertThrows(HandlerFailedException.class, () -> region.putLong(3 * PAGE, 1));
        assertInstanceOf(IllegalStateException.class, e.getCause());
        assertTrue(e.getMessage().contains("without dropping the lock"), e.getMessage());
        assertEquals(1, handler.calls(), "no retry loop");
        assertEquals(CLEAN, state(3));
        assertAfterwardsUsable();
    }

    @Test
    void shouldReportAHandlerThatDropsTheLockTwice() throws Exception {
        open();
        handler.behaviour = (fault, h) -> {
            fault.dropLock();
            fault.dropLock();
            return FaultResult.RETRY;
        };
        HandlerFailedException e = assertThrows(HandlerFailedException.class, () -> region.putLong(3 * PAGE, 1));
        assertInstanceOf(IllegalStateException.class, e.getCause());
        assertTrue(e.getCause().getMessage().contains("already dropped once"), e.getCause().getMessage());
        assertTrue(e.getCause().getMessage().contains("page 3"), e.getCause().getMessage());
        assertEquals(CLEAN, state(3));
        assertAfterwardsUsable();
    }

    @Test
    void shouldReportAHandlerThatDropsTheLockOnTheRetry() throws Exception {
        open();
        handler.behaviour = (fault, h) -> {
            fault.dropLock(); // throws on the retry
            return FaultResult.RETRY;
        };
        HandlerFailedException e = assertThrows(HandlerFailedException.class, () -> region.putLong(3 * PAGE, 1));
        assertTrue(e.getCause().getMessage().contains("retry may not drop"), e.getCause().getMessage());
        assertEquals(2, handler.calls());
        assertEquals(CLEAN, state(3));
        assertAfterwardsUsable();
    }

    @Test
    void shouldReportAHandlerThatReturnsNoReservation() throws Exception {
        open();
        handler.behaviour = (fault, h) -> null;
        HandlerFailedException e = assertThrows(HandlerFailedException.class, () -> region.putLong(3 * PAGE, 1));
        assertTrue(e.getMessage().contains("Reservation.none()"), e.getMessage());
        assertEquals(CLEAN, state(3));
        assertAfterwardsUsable();
    }

    /**
     * A's handler writes into another region, B, whose handler writes back into A's page that A's handler is
     * preparing: the check looked at the innermost handler call only (B's), so the write faulted and waited
     * for that page's preparation, its own thread's, for good. Every level is checked now: refused.
     */
    @Test
    void shouldRefuseAWriteBackIntoTheRegionFromAnotherRegionsHandlerInsideItsOwn() throws Exception {
        open();
        AtomicReference<Throwable> nested = new AtomicReference<>();
        try (MappedRegion other = MappedRegion.builder(dir.resolve("other.dat")).size(4L * PAGE).pageSize(PAGE)
                .backing(backing()).handler(fault -> {
                    try {
                        region.putLong(3 * PAGE + 16, 5); // A's page 3, which A's handler is preparing
                    } catch (IllegalStateException e) {
                        nested.set(e);
                    }
                    return dev.mkwrite.Reservation.none();
                }).open()) {
            handler.behaviour = (fault, h) -> {
                if (fault.page() == 3) {
                    other.putLong(0, 1); // B faults: B's handler runs inside A's
                }
                return h.reserve(fault);
            };
            async(() -> { // a daemon: the old code's wait for its own preparation ignored interrupts
                region.putLong(3 * PAGE, 4);
                return null;
            }).get(30, java.util.concurrent.TimeUnit.SECONDS);
            assertInstanceOf(IllegalStateException.class, nested.get());
            assertTrue(nested.get().getMessage().contains("page 3"), nested.get().getMessage());
            assertEquals(4, region.getLong(3 * PAGE));
            assertEquals(1, other.getLong(0));
        }
        assertAfterwardsUsable();
    }

    @Test
    void shouldRefuseAWriteIntoTheSameRegionFromInsideTheHandler() throws Exception {
        open();
        region.putLong(0, 1); // page 0 WRITABLE
        AtomicReference<Throwable> nested = new AtomicReference<>();
        handler.behaviour = (fault, h) -> {
            region.putLong(8, 2); // a WRITABLE page: the fast path is fine
            try {
                region.putLong(9 * PAGE, 3); // would fault: refused
            } catch (IllegalStateException e) {
                nested.set(e);
            }
            assertThrows(IllegalStateException.class, region::flush);
            assertThrows(IllegalStateException.class, () -> region.grow(1L << 20));
            assertThrows(IllegalStateException.class, () -> region.truncate(0));
            assertThrows(IllegalStateException.class, () -> region.punchHole(0, PAGE));
            assertThrows(IllegalStateException.class, region::close);
            assertEquals(1, region.getLong(0), "reading is allowed");
            return h.reserve(fault);
        };
        region.putLong(3 * PAGE, 4);
        assertNotNull(nested.get());
        assertTrue(nested.get().getMessage().contains("page 9"), nested.get().getMessage());
        assertEquals(2, region.getLong(8));
        assertEquals(4, region.getLong(3 * PAGE));
        assertEquals(CLEAN, state(9));
        handler.behaviour = (fault, h) -> {
            region.putLong(10 * PAGE, 1);
            return h.reserve(fault);
        };
        HandlerFailedException e = assertThrows(HandlerFailedException.class, () -> region.putLong(11 * PAGE, 1));
        assertInstanceOf(IllegalStateException.class, e.getCause());
        assertAfterwardsUsable();
    }

    @Test
    void shouldRejectARegionTooLargeForTheBackingAndAPageSmallerThanTheOs() {
        Path file = dir.resolve("big.dat");
        if (backing() == Backing.MAPPED_BYTE_BUFFER) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> MappedRegion.builder(file)
                    .size(3L << 30).backing(backing()).handler(handler).open());
            assertTrue(e.getMessage().contains("MEMORY_SEGMENT"), e.getMessage());
        }
        IllegalArgumentException small = assertThrows(IllegalArgumentException.class,
                () -> MappedRegion.builder(file).pageSize(1024).handler(handler).backing(backing()).open());
        assertTrue(small.getMessage().contains("operating system's page size"), small.getMessage());
        assertThrows(IllegalArgumentException.class, () -> MappedRegion.builder(file).pageSize(3 * 4096));
        assertThrows(IllegalStateException.class, () -> MappedRegion.builder(file).open(), "a handler is required");
    }

    @Test
    void shouldRefuseToOpenTheSameFileWithAnotherHandler() throws Exception {
        open();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> MappedRegion.builder(
                dir.resolve("region.dat")).handler(new TrackingHandler()).backing(backing()).open());
        assertTrue(e.getMessage().contains("already open"), e.getMessage());
        region.putLong(0, 1);
    }

    void assertAfterwardsUsable() {
        handler.behaviour = (fault, h) -> h.reserve(fault);
        region.putLong(3 * PAGE, 77);
        assertEquals(77, region.getLong(3 * PAGE));
    }

    // ---------------------------------------------------------------------------------------------
    // Close (G6) and statistics

    @Test
    void shouldWaitForAPinnedWriterAndWriteBackEverythingOnClose() throws Exception {
        open();
        region.putLong(0, 1);
        WriteSpan span = region.write(5 * PAGE, 8);
        Future<Void> close = asyncRun(region::close);
        assertBlocked(close, WAIT_QUEUE);
        span.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 9L);
        span.close();
        done(close);
        assertEquals(2, handler.consumed());
        region = MappedRegion.builder(dir.resolve("region.dat")).pageSize(PAGE).backing(backing()).handler(handler)
                .open();
        assertEquals(9L, nativeLong(read(5 * PAGE, 8)));
    }

    @Test
    void shouldFailADroppedFaultWithClosedWhenTheRegionClosesAndReleaseItsWork() throws Exception {
        open();
        CountDownLatch release = latch();
        Future<Void> fault = faultWithDroppedLock(release, () -> region.putLong(5 * PAGE, 1));
        Future<Void> close = asyncRun(region::close);
        assertBlocked(close, WAIT_QUEUE); // waits for the fault in flight to leave
        release.countDown();
        done(close);
        assertInstanceOf(RegionClosedException.class, failure(fault));
        assertEquals(1, handler.released());
        assertEquals(0, region.stats().reservationsOutstanding());
    }

    @Test
    void shouldCountPagesAndReservationsInTheStatistics() throws Exception {
        open();
        region.put(0, bytes(3 * PAGE, 1));
        RegionStats s = region.stats();
        assertEquals(PAGES, s.pages());
        assertEquals(3, s.writablePages());
        assertEquals(PAGES - 3, s.cleanPages());
        assertEquals(3, s.reservationsOutstanding());
        assertEquals(3L * PAGE, s.reservedBytes());
        assertEquals(3, s.faults());
        assertTrue(s.handlerNanos() > 0);
        assertTrue(s.metadataBytes() > 0);
        region.flush();
        s = region.stats();
        assertEquals(0, s.writablePages());
        assertEquals(0, s.reservationsOutstanding());
        assertEquals(3, s.pagesWrittenBack());
    }

    @Test
    void shouldCountThePinsOfOpenSpans() throws Exception {
        open();
        assertEquals(0, region.stats().pins());
        try (WriteSpan span = region.write(PAGE / 2, 2L * PAGE)) { // covers pages 0, 1 and 2
            assertEquals(3, region.stats().pins());
            try (WriteSpan inner = region.write(PAGE, 8)) {
                assertEquals(4, region.stats().pins());
                inner.segment().fill((byte) 1);
            }
            span.segment().fill((byte) 2);
        }
        assertEquals(0, region.stats().pins());
    }

    /** Reads a long in native order, for tests that wrote it through a span's segment. */
    static long nativeLong(byte[] b) {
        return MemorySegment.ofArray(b).get(ValueLayout.JAVA_LONG_UNALIGNED, 0);
    }
}
