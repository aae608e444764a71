package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A handler's {@code beforeWriteback} is the application's code and may throw anything at the final
 * writeback of a close. The close still ends every reservation, unmaps every mapping, closes the file and
 * tells the handler the region closed; then it reports what was thrown. Before, a RuntimeException skipped
 * the reservations and the unmapping (the views still read after close, the reservations never ended),
 * and an Error skipped the file's close as well.
 */
class CloseWhenWritebackThrowsTest {

    private static final int PAGE = 4096;

    @TempDir
    Path dir;

    enum Thrown {
        RUNTIME_EXCEPTION, ERROR
    }

    /**
     * {@code beforeWriteback} must not use its region: a flush, close, resize or write from inside it would
     * wait for the writeback it runs in, or for the region lock its close holds. Each is refused with an
     * exception naming the file, the offset and the page being written back, and the writeback goes on.
     * Before, the flush inside a flush waited for itself forever.
     */
    @org.junit.jupiter.api.Test
    void shouldRefuseToUseTheRegionFromInsideBeforeWriteback() throws Exception {
        Path file = dir.resolve("inside.dat");
        TrackingHandler handler = new TrackingHandler();
        java.util.List<String> refused = new java.util.concurrent.CopyOnWriteArrayList<>();
        MappedRegion region = MappedRegion.builder(file).size(4L * PAGE).pageSize(PAGE).handler(handler).open();
        try {
            handler.writebackHook = (page, contents) -> {
                // grow first: before the scope it went through (a whole last page), and the others, which
                // would have waited for this writeback, were not tried
                for (String op : new String[] {"grow", "flush", "truncate", "punchHole", "close", "put"}) {
                    try {
                        switch (op) {
                            case "flush" -> region.flush();
                            case "truncate" -> region.truncate(PAGE);
                            case "grow" -> region.grow(8L * PAGE);
                            case "punchHole" -> region.punchHole(0, PAGE);
                            case "close" -> region.close();
                            default -> region.putLong(3L * PAGE, 1); // a CLEAN page: a fault
                        }
                        return; // not refused: the rest could wait for this writeback forever
                    } catch (IllegalStateException e) {
                        String m = e.getMessage();
                        if (m.contains(file.toString()) && (m.contains("page " + page) && m.contains("beforeWriteback")
                                || op.equals("put") && m.contains("must not write into their own region"))) {
                            refused.add(op);
                        }
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }
            };
            region.putLong(PAGE, 7);
            assertEquals(1, region.flush());
            assertEquals(java.util.List.of("grow", "flush", "truncate", "punchHole", "close", "put"), refused);
            handler.writebackHook = (page, contents) -> { };
            assertEquals(4L * PAGE, region.size());
            assertEquals(7, region.getLong(PAGE));
            assertEquals(0, region.getLong(3L * PAGE));
        } finally {
            region.close();
        }
    }

    @ParameterizedTest
    @EnumSource(Thrown.class)
    void shouldReleaseEverythingAndReportWhatTheHandlerThrew(Thrown thrown) throws Exception {
        for (Backing backing : Backing.values()) {
            Path file = dir.resolve(thrown + "-" + backing + ".dat");
            RuntimeException runtime = new IllegalStateException("test: beforeWriteback failed");
            Error error = new AssertionError("test: beforeWriteback failed");
            TrackingHandler handler = new TrackingHandler();
            MappedRegion region = MappedRegion.builder(file).size(4L * PAGE).pageSize(PAGE).backing(backing)
                    .handler(handler).open();
            region.putLong(0, 1);
            region.putLong(2L * PAGE, 2);
            MemorySegment view = region.view(0, 8);
            handler.writebackHook = (page, contents) -> {
                if (thrown == Thrown.ERROR) {
                    throw error;
                }
                throw runtime;
            };

            if (thrown == Thrown.ERROR) {
                assertSame(error, assertThrows(AssertionError.class, region::close));
            } else {
                IOException e = assertThrows(IOException.class, region::close);
                assertSame(runtime, e.getCause());
                assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
            }

            assertTrue(region.isClosed());
            assertEquals(2, handler.reservations.size());
            assertEquals(0, handler.live(), backing + ": a reservation never ended");
            assertEquals(0, handler.endedTwice());
            assertFalse(view.scope().isAlive(), backing + ": the region's memory is still mapped");
            assertEquals(1, handler.regionsClosed.get(), backing + ": the handler did not hear of the close");
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
                FileLock lock = ch.tryLock();
                assertNotNull(lock, backing + ": the region's file is still locked");
                lock.release();
            }
            region.close(); // a second close does nothing
        }
    }

    /**
     * Flush F1 takes page 0 to writeback and its {@code beforeWriteback} holds it there; flush F2 finds the
     * page under F1's writeback and waits for it; a close begins (holding the region lock) and waits too.
     * F1 fails and gives the page back dirty; the close's own writeback of it fails. F2 used to wake, find
     * the region closed and return as if the close had written back every dirty page, though the write made
     * before it began was never forced. It now throws, naming the file.
     */
    @org.junit.jupiter.api.Test
    void shouldFailAFlushThatWaitedForAWritebackTheCloseCouldNotDo() throws Exception {
        Path file = dir.resolve("flush-then-close.dat");
        TrackingHandler handler = new TrackingHandler();
        MappedRegion region = openFourPages(file, handler);
        CountDownLatch inFirst = new CountDownLatch(1);
        CountDownLatch releaseFirst = new CountDownLatch(1);
        AtomicBoolean first = new AtomicBoolean(true);
        handler.writebackHook = (page, contents) -> {
            if (first.getAndSet(false)) {
                inFirst.countDown();
                try {
                    releaseFirst.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            throw new IllegalStateException("test: the device failed");
        };
        region.putLong(0, 7); // acknowledged before either flush began
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(3);
        try {
            java.util.concurrent.Future<Long> f1 = pool.submit(() -> region.flush());
            assertTrue(inFirst.await(10, java.util.concurrent.TimeUnit.SECONDS));
            java.util.concurrent.atomic.AtomicReference<Thread> f2Thread = new java.util.concurrent.atomic.AtomicReference<>();
            java.util.concurrent.Future<Long> f2 = pool.submit(() -> {
                f2Thread.set(Thread.currentThread());
                return region.flush();
            });
            awaitWaiting(f2Thread); // for F1's writeback of page 0
            java.util.concurrent.Future<?> closing = pool.submit(() -> {
                region.close();
                return null;
            });
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (!closedYet(region)) { // the close holds the region lock from here to its end
                assertTrue(System.nanoTime() < deadline, "the close did not begin");
                Thread.sleep(1);
            }
            releaseFirst.countDown();

            assertThrows(java.util.concurrent.ExecutionException.class, f1::get); // what the handler threw
            assertTrue(assertThrows(java.util.concurrent.ExecutionException.class, closing::get).getCause()
                    instanceof IOException);
            Throwable e = assertThrows(java.util.concurrent.ExecutionException.class,
                    () -> f2.get(10, java.util.concurrent.TimeUnit.SECONDS),
                    "the second flush returned, its page never forced").getCause();
            assertTrue(e instanceof IOException, String.valueOf(e));
            assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("page 0"), e.getMessage());
        } finally {
            releaseFirst.countDown();
            pool.shutdownNow();
            region.close();
        }
    }

    /**
     * A reservation's {@code consume()}, the application's code too, throws an Error at the end of a flush's
     * writeback, after it had made page 0 dirty again and a second flush had taken the page (held in its
     * {@code beforeWriteback}). The first flush's failure path used to give back every page of its batch,
     * those already ended too: page 0 went from the second flush's WRITEBACK to WRITABLE, under a writeback
     * in progress (writers entered a stable page), and that flush's end found it gone. The Error now reaches
     * the caller with every page of the batch ended, and nobody else's page is touched.
     */
    @org.junit.jupiter.api.Test
    void shouldNotTakeAnotherFlushsPageWhenConsumeThrowsAnError() throws Exception {
        TrackingHandler handler = new TrackingHandler();
        MappedRegion region = openFourPages(dir.resolve("consume-throws.dat"), handler);
        CountDownLatch inSecond = new CountDownLatch(1);
        CountDownLatch releaseSecond = new CountDownLatch(1);
        AtomicBoolean armed = new AtomicBoolean(true);
        java.util.concurrent.ExecutorService second = java.util.concurrent.Executors.newSingleThreadExecutor(
                r -> new Thread(r, "second-flush"));
        java.util.concurrent.atomic.AtomicReference<java.util.concurrent.Future<Long>> secondFlush =
                new java.util.concurrent.atomic.AtomicReference<>();
        handler.writebackHook = (page, contents) -> {
            if (Thread.currentThread().getName().equals("second-flush")) {
                inSecond.countDown();
                TrackingHandler.awaitQuietly(releaseSecond);
            }
        };
        handler.endHook = (reservation, consumed) -> {
            if (consumed && reservation.page == 0 && armed.getAndSet(false)) {
                try { // page 0, just ended CLEAN, dirty again: on another thread, as consume() may not write
                    second.submit(() -> region.putLong(0, 9)).get();
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
                secondFlush.set(second.submit(() -> region.flush(0, PAGE)));
                TrackingHandler.awaitQuietly(inSecond); // the second flush holds page 0 under writeback
                throw new AssertionError("test: consume failed");
            }
        };
        try {
            region.putLong(0, 1);
            region.putLong(PAGE, 2);
            assertThrows(AssertionError.class, region::flush);
            assertEquals("WRITEBACK", ReliabilityProbe.state(region, 0), "the second flush's page was taken from it");
            assertEquals("CLEAN", ReliabilityProbe.state(region, 1), "page 1 was forced: its writeback ended");
            releaseSecond.countDown();
            assertEquals(1, secondFlush.get().get(10, java.util.concurrent.TimeUnit.SECONDS));
            assertEquals("CLEAN", ReliabilityProbe.state(region, 0));
            assertEquals(9, region.getLong(0));
            assertEquals(0, handler.endedTwice());
        } finally {
            releaseSecond.countDown();
            second.shutdownNow();
            region.close();
        }
    }

    private static MappedRegion openFourPages(Path file, TrackingHandler handler) throws IOException {
        return MappedRegion.builder(file).size(4L * PAGE).pageSize(PAGE).handler(handler).open();
    }

    /** Whether the region is closed: its close marks it so under the region lock, first thing. */
    private static boolean closedYet(MappedRegion region) {
        return RegionHandle.regionOf(region).isClosed();
    }

    private static void awaitWaiting(java.util.concurrent.atomic.AtomicReference<Thread> ref) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        for (;;) {
            Thread t = ref.get();
            if (t != null && (t.getState() == Thread.State.WAITING || t.getState() == Thread.State.TIMED_WAITING)) {
                return;
            }
            assertTrue(System.nanoTime() < deadline, "the thread never waited");
            Thread.sleep(1);
        }
    }
}
