package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.RegionBuilder;
import dev.mkwrite.RegionClosedException;
import dev.mkwrite.Reservation;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.WriteSpan;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * MappedRegion, "Opening a file more than once": a file has one region per JVM, and every open of it with
 * the same settings gets its own handle on that region, closed on its own; the last close closes the
 * region. Opens and closes race from many threads.
 */
class SharedRegionTest {

    static final int PAGE = OsPage.size();
    static final long SIZE = 16L * PAGE;

    @TempDir
    Path dir;

    final WriteFaultHandler handler = fault -> Reservation.none();
    final List<MappedRegion> opened = new ArrayList<>();

    @AfterEach
    void closeEveryHandle() throws IOException {
        for (MappedRegion r : opened) {
            r.close();
        }
        for (MappedRegion r : opened) {
            assertTrue(r.isClosed(), () -> r + " still open after every handle closed");
        }
    }

    RegionBuilder builder(Path path) {
        return MappedRegion.builder(path).size(SIZE).handler(handler);
    }

    MappedRegion open(RegionBuilder builder) throws IOException {
        MappedRegion r = builder.open();
        opened.add(r);
        return r;
    }

    static Region regionOf(MappedRegion handle) {
        return RegionHandle.regionOf(handle);
    }

    @Test
    void shouldHandTheSecondOpenOfAFileAHandleOnTheSameRegion() throws IOException {
        Path file = dir.resolve("shared.dat");
        MappedRegion a = open(builder(file));
        MappedRegion b = open(MappedRegion.builder(file).handler(handler)); // no size: the file's
        assertNotSame(a, b, "each open has its own handle");
        assertSame(regionOf(a), regionOf(b), "over one region");
        a.putLong(PAGE, 42);
        assertEquals(42, b.getLong(PAGE), "a write through one handle is read through the other");
        assertEquals(1, b.stats().faults(), "one page-state table: the write faulted once for both");
        try (WriteSpan span = b.write(2L * PAGE, 8)) {
            span.segment().set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0, 7L);
        }
        assertEquals(2, a.flush(), "a flush through one handle writes back the pages written through both");
        assertEquals(SIZE, b.size());
    }

    @Test
    void shouldMeetAtOneRegionThroughASymbolicLinkAndAHardLink() throws IOException {
        Path file = dir.resolve("target.dat");
        MappedRegion direct = open(builder(file));
        Path symlink = Files.createSymbolicLink(dir.resolve("symlink.dat"), file);
        Path hardLink = Files.createLink(dir.resolve("hardlink.dat"), file);
        MappedRegion viaSymlink = open(builder(symlink));
        MappedRegion viaHardLink = open(builder(hardLink));
        assertSame(regionOf(direct), regionOf(viaSymlink));
        assertSame(regionOf(direct), regionOf(viaHardLink));
        assertEquals(file, viaHardLink.path(), "every handle names the path the region was first opened with");
        viaSymlink.putInt(0, 5);
        assertEquals(5, viaHardLink.getInt(0));
    }

    @Test
    void shouldCloseTheRegionOnlyWhenItsLastHandleCloses() throws IOException {
        Path file = dir.resolve("last.dat");
        MappedRegion a = open(builder(file));
        MappedRegion b = open(builder(file));
        a.putLong(0, 1);
        a.close();
        assertTrue(a.isClosed());
        assertFalse(b.isClosed(), "the other handle goes on");
        assertFalse(regionOf(b).isClosed());
        b.putLong(8, 2);
        assertEquals(1, b.getLong(0));
        b.close();
        assertTrue(regionOf(b).isClosed(), "the last close closed the region");
        assertNull(RegionRegistry.entryOf(file), "and the registry forgot the file");

        MappedRegion c = open(builder(file));
        assertNotSame(regionOf(b), regionOf(c), "the next open opens the region afresh");
        assertEquals(1, c.getLong(0), "after the last close wrote everything back");
        assertEquals(2, c.getLong(8));
    }

    @Test
    void shouldEndOnlyItsOwnHandleWhenAHandleIsClosedTwice() throws IOException {
        Path file = dir.resolve("twice.dat");
        MappedRegion a = open(builder(file));
        MappedRegion b = open(builder(file));
        a.close();
        a.close(); // idempotent: it must not count as b's close
        assertFalse(b.isClosed());
        b.putLong(0, 3);
        assertEquals(3, b.getLong(0));
        assertEquals(1, RegionRegistry.entryOf(file).handles());
    }

    @Test
    void shouldRefuseEveryOperationOfAClosedHandleNamingTheFile() throws IOException {
        Path file = dir.resolve("refused.dat");
        MappedRegion closed = open(builder(file));
        MappedRegion other = open(builder(file));
        closed.close();
        byte[] bytes = new byte[8];
        Map<String, Callable<?>> operations = new LinkedHashMap<>();
        operations.put("write", () -> closed.write(PAGE, 8));
        operations.put("tryWrite", () -> closed.tryWrite(PAGE, 8));
        operations.put("put(byte[], int, int)", call(() -> closed.put(PAGE, bytes, 0, 8)));
        operations.put("put(byte[])", call(() -> closed.put(PAGE, bytes)));
        operations.put("put(MemorySegment)", call(() -> closed.put(PAGE, MemorySegment.ofArray(bytes))));
        operations.put("put(ByteBuffer)", call(() -> closed.put(PAGE, ByteBuffer.wrap(bytes))));
        operations.put("putByte", call(() -> closed.putByte(PAGE, (byte) 1)));
        operations.put("putInt", call(() -> closed.putInt(PAGE, 1)));
        operations.put("putLong", call(() -> closed.putLong(PAGE, 1)));
        operations.put("get(byte[])", call(() -> closed.get(PAGE, bytes, 0, 8)));
        operations.put("get(MemorySegment)", call(() -> closed.get(PAGE, MemorySegment.ofArray(bytes))));
        operations.put("getByte", () -> closed.getByte(PAGE));
        operations.put("getInt", () -> closed.getInt(PAGE));
        operations.put("getLong", () -> closed.getLong(PAGE));
        operations.put("flush()", closed::flush);
        operations.put("flush(offset, length)", () -> closed.flush(PAGE, PAGE));
        operations.put("grow", call(() -> closed.grow(2 * SIZE)));
        operations.put("truncate", call(() -> closed.truncate(PAGE)));
        operations.put("punchHole", call(() -> closed.punchHole(PAGE, PAGE)));
        for (Map.Entry<String, Callable<?>> op : operations.entrySet()) {
            RegionClosedException e = assertThrows(RegionClosedException.class, () -> op.getValue().call(), op.getKey());
            assertTrue(e.getMessage().contains(file.toString()), op.getKey() + ": " + e.getMessage());
        }
        assertEquals(SIZE, closed.size(), "accessors still answer");
        assertEquals(file, closed.path());
        assertEquals(0, closed.stats().pins());
        other.putLong(PAGE, 9);
        assertEquals(9, other.getLong(PAGE), "the region itself is untouched");
        assertEquals(SIZE, other.size());
    }

    interface ThrowingRunnable {
        void run() throws Exception;
    }

    static Callable<Void> call(ThrowingRunnable r) {
        return () -> {
            r.run();
            return null;
        };
    }

    @Test
    void shouldRefuseAnOpenWithOtherSettingsNamingTheFileAndTheSetting() throws IOException {
        Path file = dir.resolve("settings.dat");
        open(builder(file).pageSize(PAGE));
        Map<String, RegionBuilder> differing = new LinkedHashMap<>();
        differing.put("backing", builder(file).backing(Backing.MAPPED_BYTE_BUFFER));
        differing.put("page size", builder(file).pageSize(2 * PAGE));
        differing.put("handler", builder(file).handler(fault -> Reservation.none()));
        differing.put("dirty limit", builder(file).dirtyLimit(4L * PAGE));
        for (Map.Entry<String, RegionBuilder> d : differing.entrySet()) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> open(d.getValue()), d.getKey());
            assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
            assertTrue(e.getMessage().contains("already open in this JVM with " + d.getKey()), e.getMessage());
        }
        assertEquals(1, RegionRegistry.entryOf(file).handles(), "no refused open counted");
        open(builder(file).create(false)); // create need not match, and no page size means the OS's
    }

    @Test
    void shouldNameBothPathsWhenTheRefusedOpenCameThroughAnotherPath() throws IOException {
        Path file = dir.resolve("named.dat");
        open(builder(file));
        Path link = Files.createSymbolicLink(dir.resolve("link.dat"), file);
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> open(builder(link).dirtyLimit(PAGE)));
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains(link.toString()), e.getMessage());
    }

    @Test
    void shouldGrowTheRegionWhenAnOpenAsksForMoreAndLeaveItOtherwise() throws IOException {
        Path file = dir.resolve("grow.dat");
        MappedRegion a = open(builder(file));
        a.putLong(SIZE - 8, 11);
        MappedRegion smaller = open(MappedRegion.builder(file).size(PAGE).handler(handler));
        assertEquals(SIZE, smaller.size(), "a smaller size leaves the region as it is");
        MappedRegion larger = open(MappedRegion.builder(file).size(4 * SIZE).handler(handler));
        assertEquals(4 * SIZE, larger.size());
        assertEquals(4 * SIZE, a.size(), "one region: every handle sees the new size");
        assertEquals(4 * SIZE, Files.size(file));
        assertEquals(11, larger.getLong(SIZE - 8));
        larger.putLong(4 * SIZE - 8, 12);
    }

    @Test
    void shouldEndWithOneRegionWhenManyThreadsOpenTheFileAtOnce() throws Exception {
        int threads = 12;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            for (int round = 0; round < 30; round++) {
                Path file = dir.resolve("many-" + round + ".dat");
                CyclicBarrier start = new CyclicBarrier(threads);
                List<Future<MappedRegion>> opens = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    int slot = t;
                    opens.add(pool.submit(() -> {
                        start.await();
                        MappedRegion r = builder(file).open();
                        r.putLong(8L * slot, slot + 1);
                        return r;
                    }));
                }
                List<MappedRegion> handles = new ArrayList<>();
                for (Future<MappedRegion> f : opens) {
                    handles.add(f.get(30, TimeUnit.SECONDS));
                }
                Map<Region, Boolean> regions = new IdentityHashMap<>();
                handles.forEach(h -> regions.put(regionOf(h), true));
                assertEquals(1, regions.size(), "round " + round + ": one region for every open");
                assertEquals(threads, RegionRegistry.entryOf(file).handles());
                for (int t = 0; t < threads; t++) {
                    assertEquals(t + 1, handles.getFirst().getLong(8L * t));
                }
                CyclicBarrier stop = new CyclicBarrier(threads);
                List<Future<?>> closes = new ArrayList<>();
                for (MappedRegion h : handles) {
                    closes.add(pool.submit(() -> {
                        stop.await();
                        h.close();
                        return null;
                    }));
                }
                for (Future<?> f : closes) {
                    f.get(30, TimeUnit.SECONDS);
                }
                assertTrue(regions.keySet().iterator().next().isClosed(), "the last of the racing closes closed it");
                assertNull(RegionRegistry.entryOf(file));
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void shouldNeverHandOutAClosedRegionWhenAnOpenRacesTheLastClose() throws Exception {
        Path file = dir.resolve("race.dat");
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            MappedRegion previous = builder(file).open();
            for (int round = 1; round <= 300; round++) {
                previous.putLong(8L * (round % 64), round); // a dirty page, so the close has a writeback to do
                MappedRegion closing = previous;
                CyclicBarrier start = new CyclicBarrier(2);
                Future<?> close = pool.submit(() -> {
                    start.await();
                    closing.close();
                    return null;
                });
                Future<MappedRegion> open = pool.submit(() -> {
                    start.await();
                    return builder(file).open();
                });
                close.get(30, TimeUnit.SECONDS);
                MappedRegion fresh = open.get(30, TimeUnit.SECONDS);
                assertFalse(fresh.isClosed(), "round " + round + ": a handle on a closed region");
                assertFalse(regionOf(fresh).isClosed());
                assertEquals(round, fresh.getLong(8L * (round % 64)), "round " + round);
                fresh.putLong(8L * (round % 64), -round);
                assertEquals(-round, fresh.getLong(8L * (round % 64)));
                previous = fresh;
            }
            previous.close();
            assertNull(RegionRegistry.entryOf(file));
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void shouldLeaveNothingBehindWhenAnOpenFails() throws IOException {
        Path missing = dir.resolve("missing.dat");
        assertThrows(NoSuchFileException.class, () -> open(builder(missing).create(false)));
        assertFalse(Files.exists(missing));
        assertThrows(IOException.class, () -> open(builder(dir))); // a directory: the region's open fails
        assertNull(RegionRegistry.entryOf(dir), "a failed open leaves no entry");
        assertThrows(IllegalArgumentException.class, () -> open(builder(missing).pageSize(1024)));
        MappedRegion r = open(builder(missing));
        r.putLong(0, 1);
    }

    @Test
    void shouldCreateAMissingFileThroughADanglingSymbolicLink() throws IOException {
        Path target = dir.resolve("created-through-link.dat");
        Path link = Files.createSymbolicLink(dir.resolve("dangling.dat"), target.getFileName());
        MappedRegion r = open(builder(link));
        r.putLong(0, 4);
        assertTrue(Files.isRegularFile(target), "the link's target was created, as open(O_CREAT) does");
        assertSame(regionOf(r), regionOf(open(builder(target))));
    }

    @Test
    void shouldKeepTheHandleOpenWhenItsLastCloseIsRefusedInsideTheRegionsHandler() throws IOException {
        Path file = dir.resolve("refusal.dat");
        AtomicReference<MappedRegion> self = new AtomicReference<>();
        AtomicReference<Throwable> refusal = new AtomicReference<>();
        WriteFaultHandler closing = fault -> {
            try {
                self.get().close();
            } catch (IllegalStateException | IOException e) {
                refusal.set(e);
            }
            return Reservation.none();
        };
        MappedRegion only = open(MappedRegion.builder(file).size(SIZE).handler(closing));
        self.set(only);
        only.putLong(0, 6);
        assertInstanceOf(IllegalStateException.class, refusal.get(), "close from inside the handler would deadlock");
        assertTrue(refusal.get().getMessage().contains("close()"), refusal.get().getMessage());
        assertFalse(only.isClosed(), "the refused close left the handle open");
        assertEquals(1, RegionRegistry.entryOf(file).handles());
        assertEquals(6, only.getLong(0));
        MappedRegion second = open(MappedRegion.builder(file).handler(closing));
        assertSame(regionOf(only), regionOf(second), "and the region can still be shared");
    }

    /**
     * A file already open here, through another name, is moved over the path while an open of the path runs,
     * after its channel opened: the open took the moved file's lock for its own, waited a second for the
     * region that holds it, and threw "already open". Now it looks the path up again and joins that region.
     */
    @Test
    void shouldJoinTheRegionOfAFileMovedOverThePathWhileItOpens() throws Exception {
        Path path = dir.resolve("target.dat");
        Path other = dir.resolve("other.dat");
        Files.write(path, new byte[(int) SIZE]);
        MappedRegion b = open(builder(other));
        b.putLong(8, 42);
        RegionFile.afterChannelForTests(FailedOpenTest.io(
                () -> Files.move(other, path, java.nio.file.StandardCopyOption.REPLACE_EXISTING)));
        MappedRegion a = open(builder(path));
        assertSame(regionOf(b), regionOf(a), "the open joined the moved file's region");
        assertEquals(42, a.getLong(8));
        assertEquals(2, RegionRegistry.entryOf(path).handles());
    }

    /**
     * An open of the region's file from inside its handler, on a writer's thread, while another thread's last
     * close of it is under way: the open waited for the close to end, and the close for the writer's fault to
     * end. Refused now, as the close of a handle from there is; the fault, then the close, end.
     */
    @Test
    void shouldRefuseAnOpenFromInsideTheHandlerWhileAnotherThreadClosesTheRegion() throws Exception {
        Path file = dir.resolve("open-in-fault.dat");
        java.util.concurrent.CountDownLatch inPrepare = new java.util.concurrent.CountDownLatch(1);
        AtomicReference<Throwable> seen = new AtomicReference<>();
        WriteFaultHandler opening = fault -> {
            inPrepare.countDown();
            try {
                while (RegionRegistry.entryOf(file).handles() > 0) { // until the close below has begun
                    Thread.onSpinWait();
                }
                builder(file).open().close();
                seen.set(new AssertionError("the open went through"));
            } catch (Throwable t) {
                seen.set(t);
            }
            return Reservation.none();
        };
        MappedRegion only = MappedRegion.builder(file).size(SIZE).handler(opening).open(); // not in opened
        Future<?> write = Blocking.onDaemon("writer", () -> {
            only.putLong(0, 3);
            return null;
        });
        inPrepare.await();
        Future<?> close = Blocking.onDaemon("closer", () -> {
            only.close();
            return null;
        });
        boolean wrote = true;
        try {
            write.get(30, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            assertInstanceOf(RegionClosedException.class, e.getCause(), "the close ended the fault first");
            wrote = false;
        }
        close.get(30, TimeUnit.SECONDS);
        assertEquals(wrote ? 3 : 0, open(builder(file)).getLong(0), "the close wrote back what was written");
        assertInstanceOf(IllegalStateException.class, seen.get());
        assertTrue(seen.get().getMessage().contains("open()") && seen.get().getMessage().contains(file.toString()),
                seen.get().getMessage());
        assertTrue(only.isClosed());
    }

    /** The callbacks a region's last close runs on the closing thread. */
    enum CloseCallback { BEFORE_WRITEBACK, CONSUME, REGION_CLOSED }

    /** A handler whose {@code callback}, run by the last close, runs {@code action}; one dirty page to write back. */
    private static WriteFaultHandler calling(CloseCallback callback, Runnable action) {
        Reservation consuming = new Reservation() {
            @Override
            public long bytes() {
                return 0;
            }

            @Override
            public void consume() {
                if (callback == CloseCallback.CONSUME) {
                    action.run();
                }
            }
        };
        return new WriteFaultHandler() {
            @Override
            public Reservation prepare(dev.mkwrite.WriteFault fault) {
                return consuming;
            }

            @Override
            public void beforeWriteback(long page, MemorySegment contents) {
                if (callback == CloseCallback.BEFORE_WRITEBACK) {
                    action.run();
                }
            }

            @Override
            public void regionClosed(Path path) {
                if (callback == CloseCallback.REGION_CLOSED) {
                    action.run();
                }
            }
        };
    }

    /**
     * An open of the region's own file from a callback its last close runs on the closing thread: it joined
     * the registry's entry, CLOSING, and waited for the close to end, that is for itself, for good. Now it is
     * refused with an exception that names the file, the close ends, and the file opens again after it.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(CloseCallback.class)
    void shouldRefuseAnOpenOfItsOwnFileFromACallbackOfTheLastClose(CloseCallback callback) throws Exception {
        Path file = dir.resolve("reopen-" + callback + ".dat");
        AtomicReference<Throwable> seen = new AtomicReference<>();
        WriteFaultHandler reopening = calling(callback, () -> {
            try {
                builder(file).open().close();
                seen.compareAndSet(null, new AssertionError("the open from " + callback + " went through"));
            } catch (Throwable t) {
                seen.compareAndSet(null, t);
            }
        });
        MappedRegion only = MappedRegion.builder(file).size(SIZE).handler(reopening).open(); // not in opened
        only.putLong(0, 9);
        Blocking.within("closer", () -> {
            only.close();
            return null;
        });
        assertInstanceOf(IllegalStateException.class, seen.get(), "from " + callback);
        assertTrue(seen.get().getMessage().contains("open()") && seen.get().getMessage().contains(file.toString()),
                seen.get().getMessage());
        assertTrue(only.isClosed());
        assertNull(RegionRegistry.entryOf(file));
        MappedRegion again = open(builder(file));
        assertEquals(9, again.getLong(0), "the close wrote back");
    }

    /**
     * A close of the same handle from a callback its own close runs on the closing thread: it waited for that
     * close, that is for itself. Now it is refused, and the close ends.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(value = CloseCallback.class, names = {"CONSUME", "REGION_CLOSED"})
    void shouldRefuseACloseOfTheHandleFromACallbackOfItsOwnClose(CloseCallback callback) throws Exception {
        Path file = dir.resolve("reclose-" + callback + ".dat");
        AtomicReference<MappedRegion> self = new AtomicReference<>();
        AtomicReference<Throwable> seen = new AtomicReference<>();
        WriteFaultHandler reclosing = calling(callback, () -> {
            try {
                self.get().close();
                seen.compareAndSet(null, new AssertionError("the close from " + callback + " returned"));
            } catch (Throwable t) {
                seen.compareAndSet(null, t);
            }
        });
        MappedRegion only = MappedRegion.builder(file).size(SIZE).handler(reclosing).open(); // not in opened
        self.set(only);
        only.putLong(0, 8);
        Blocking.within("closer", () -> {
            only.close();
            return null;
        });
        assertInstanceOf(IllegalStateException.class, seen.get(), "from " + callback);
        assertTrue(seen.get().getMessage().contains("close()") && seen.get().getMessage().contains(file.toString()),
                seen.get().getMessage());
        assertTrue(only.isClosed());
        assertNull(RegionRegistry.entryOf(file));
    }

    @Test
    void shouldOpenAndShareOnAnInterruptedThreadKeepingTheInterrupt() throws IOException {
        Path file = dir.resolve("interrupted.dat");
        try {
            Thread.currentThread().interrupt();
            MappedRegion first = open(builder(file));
            MappedRegion second = open(builder(file).size(4 * SIZE)); // shares, and grows
            assertTrue(Thread.interrupted(), "the interrupt status is kept for the caller");
            second.putLong(4 * SIZE - 8, 1); // a fault would end with FaultInterruptedException on an interrupted thread
            Thread.currentThread().interrupt();
            first.close();
            assertTrue(Thread.interrupted());
            assertEquals(1, second.getLong(4 * SIZE - 8));
        } finally {
            Thread.interrupted();
        }
    }

    /**
     * Two threads close one handle (a shutdown hook and the main thread). The second used to lose the
     * handle's CAS and return at once, while the first was still writing the region back: its next write,
     * after its close returned, could still land, against the contract. It now waits for the first close.
     */
    @Test
    void shouldWaitForAnotherThreadsCloseOfTheSameHandle() throws Exception {
        java.util.concurrent.CountDownLatch inWriteback = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        TrackingHandler slow = new TrackingHandler();
        slow.writebackHook = (page, contents) -> {
            inWriteback.countDown();
            TrackingHandler.awaitQuietly(release);
        };
        MappedRegion handle = open(MappedRegion.builder(dir.resolve("two-closers.dat")).size(SIZE).handler(slow));
        handle.putLong(0, 1);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            Future<?> first = pool.submit(() -> {
                handle.close(); // the last handle: writes back, held in the hook
                return null;
            });
            assertTrue(inWriteback.await(30, TimeUnit.SECONDS));
            AtomicReference<Thread> secondThread = new AtomicReference<>();
            Future<?> second = pool.submit(() -> {
                secondThread.set(Thread.currentThread());
                handle.close();
                return null;
            });
            while (secondThread.get() == null) {
                Thread.onSpinWait();
            }
            Blocking.assertBlocked(secondThread.get(), second, Blocking.Wait.HANDLE_CLOSE);
            release.countDown();
            second.get(30, TimeUnit.SECONDS);
            assertTrue(handle.isClosed(), "the second close returned before the region closed");
            first.get(30, TimeUnit.SECONDS);
        } finally {
            release.countDown();
            pool.shutdownNow();
        }
    }

    /**
     * The same, where the second closer holds a span of its own: the first close waits for that span, so a
     * second close that waited for the first would wait for itself. It throws instead, changing nothing;
     * once the span is closed, the first close ends.
     */
    @Test
    void shouldRefuseToWaitForAnotherThreadsCloseUnderItsOwnSpan() throws Exception {
        MappedRegion handle = open(builder(dir.resolve("closer-with-span.dat")));
        WriteSpan span = handle.write(PAGE, 8);
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            AtomicReference<Thread> closer = new AtomicReference<>();
            Future<?> first = pool.submit(() -> {
                closer.set(Thread.currentThread());
                handle.close(); // waits for this thread's span to close
                return null;
            });
            while (closer.get() == null) {
                Thread.onSpinWait();
            }
            Blocking.assertBlocked(closer.get(), first, Blocking.Wait.WAIT_QUEUE);
            IllegalStateException e = assertThrows(IllegalStateException.class, handle::close);
            assertTrue(e.getMessage().contains("close it first"), e.getMessage());
            span.segment().set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0, 5L);
            span.close();
            first.get(30, TimeUnit.SECONDS);
            assertTrue(handle.isClosed());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void shouldDeclareEveryMethodOfMappedRegionInTheHandle() throws NoSuchMethodException {
        for (Method m : MappedRegion.class.getMethods()) {
            if (Modifier.isStatic(m.getModifiers())) {
                continue;
            }
            Method declared = RegionHandle.class.getMethod(m.getName(), m.getParameterTypes());
            assertEquals(RegionHandle.class, declared.getDeclaringClass(),
                    "RegionHandle must declare " + m + ", or a handle would run the interface's default against itself");
        }
    }
}
