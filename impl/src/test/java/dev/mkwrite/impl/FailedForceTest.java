package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.RegionClosedException;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A force of the region's pages that fails (msync returning EIO) is sticky. Linux reports a failed
 * writeback once per open file and marks clean the pages it could not write, so the next force of the same
 * pages succeeds though their data never reached the disk. A flush that then returned success would
 * acknowledge lost data (the page went back to WRITABLE in mkwrite, and the second flush made it CLEAN).
 * Every later flush, and the close, throws instead; reads and writes go on.
 */
class FailedForceTest {

    private static final int PAGE = 4096;

    @TempDir
    Path dir;

    /** A region of 8 pages over {@code file}. */
    private static MappedRegion open(Path file, Backing backing, TrackingHandler handler) throws IOException {
        return MappedRegion.builder(file).size(8L * PAGE).pageSize(PAGE).backing(backing).handler(handler).open();
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldFailEveryFlushAndTheCloseAfterAForceFailed(Backing backing) throws Exception {
        TrackingHandler handler = new TrackingHandler();
        Path file = dir.resolve("eio.dat");
        MappedRegion region = open(file, backing, handler);
        try {
            region.putLong(0, 1);
            IOException eio = new IOException("msync of [0, 4096) failed: EIO (the test's)");
            RegionHandle.regionOf(region).failNextForceForTests(eio);
            IOException first = assertThrows(IOException.class, region::flush);
            assertTrue(first.getMessage().contains(file.toString()), first.getMessage());

            IOException again = assertThrows(IOException.class, region::flush, "a flush after the failed one"
                    + " returned: it would acknowledge what the kernel may have dropped");
            assertTrue(again.getMessage().contains("an earlier writeback") && again.getMessage().contains(file.toString())
                    && again.getMessage().contains("offset 0"), again.getMessage());
            assertSame(first, again.getCause());

            region.putLong(PAGE, 2); // reads and writes go on
            assertEquals(1, region.getLong(0));
            assertEquals(2, region.getLong(PAGE));
            IOException ranged = assertThrows(IOException.class, () -> region.flush(PAGE, PAGE));
            assertTrue(ranged.getMessage().contains("offset " + PAGE) && ranged.getMessage().contains("page 1"),
                    ranged.getMessage());
        } finally {
            IOException closing = assertThrows(IOException.class, region::close);
            assertTrue(closing.getMessage().startsWith("close of " + file), closing.getMessage());
        }
        assertThrows(RegionClosedException.class, region::flush);
        assertEquals(0, handler.live(), "reservations left after the close");
        assertEquals(0, handler.endedTwice());
    }

    /**
     * A flush that fails between taking a page to WRITEBACK and recording it (out of memory growing its list
     * of pages, on a region with many dirty pages and a tight heap): the pages taken so far stayed under a
     * writeback nobody ran, and every later flush, and the close, waited for them for good. They go back to
     * WRITABLE, dirty, and the next flush writes them all back.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldGiveBackThePagesAFlushTookWhenItsScanFails(Backing backing) throws Exception {
        TrackingHandler handler = new TrackingHandler();
        try (MappedRegion region = open(dir.resolve("scan.dat"), backing, handler)) {
            for (int p = 0; p < 4; p++) {
                region.putLong((long) p * PAGE, p + 1);
            }
            int[] takes = {0};
            RegionHandle.regionOf(region).afterFlushTakesForTests(() -> {
                if (++takes[0] == 3) {
                    throw new OutOfMemoryError("the test's: growing the flush's list of pages");
                }
            });
            assertThrows(OutOfMemoryError.class, region::flush);
            RegionHandle.regionOf(region).afterFlushTakesForTests(null);
            assertEquals(0, region.stats().writebackPages(), region.stats().toString());
            assertEquals(4, region.stats().writablePages(), region.stats().toString());
            assertEquals(4L, (long) Blocking.within("flush", region::flush), "the next flush writes back every page");
        }
        assertEquals(0, handler.live());
    }

    /**
     * The failure reaches a flush that began before it: flush B waits for page 0, which flush A is writing
     * back; A's force fails and gives the page back dirty; B takes it again and forces it. On Linux that
     * force returns 0 (A was told of the error, the page is clean in the kernel), and B returned success for
     * a page whose data was dropped: it had looked for an earlier failure only as it began. A flush now
     * looks before each force, and once its forces are done, after those that ran beside them.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldFailAFlushThatWaitedForTheOneWhoseForceFailed(Backing backing) throws Exception {
        TrackingHandler handler = new TrackingHandler();
        java.util.concurrent.CountDownLatch inWriteback = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch letGo = new java.util.concurrent.CountDownLatch(1);
        Thread[] first = new Thread[1];
        handler.writebackHook = (page, contents) -> {
            if (first[0] == null) {
                first[0] = Thread.currentThread();
                inWriteback.countDown();
                TrackingHandler.awaitQuietly(letGo); // A, in its writeback of page 0, before its force
            }
        };
        try (MappedRegion region = open(dir.resolve("beside.dat"), backing, handler)) {
            region.putLong(0, 1);
            java.util.concurrent.Future<Long> a = Blocking.onDaemon("flush A", region::flush);
            assertTrue(inWriteback.await(Blocking.REACH_SECONDS, java.util.concurrent.TimeUnit.SECONDS));
            Thread[] bThread = new Thread[1];
            java.util.concurrent.Future<Long> b = Blocking.onDaemon("flush B", () -> {
                bThread[0] = Thread.currentThread();
                return region.flush();
            });
            while (bThread[0] == null) {
                Thread.onSpinWait();
            }
            Blocking.assertBlocked(bThread[0], b, Blocking.Wait.WAIT_QUEUE); // for A's writeback of page 0
            RegionHandle.regionOf(region).failNextForceForTests(new IOException("msync: EIO (the test's)"));
            letGo.countDown();
            java.util.concurrent.ExecutionException failedA = assertThrows(java.util.concurrent.ExecutionException.class,
                    () -> a.get(Blocking.REACH_SECONDS, java.util.concurrent.TimeUnit.SECONDS));
            assertTrue(failedA.getCause() instanceof IOException, String.valueOf(failedA.getCause()));
            java.util.concurrent.ExecutionException failedB = assertThrows(java.util.concurrent.ExecutionException.class,
                    () -> b.get(Blocking.REACH_SECONDS, java.util.concurrent.TimeUnit.SECONDS),
                    "flush B returned success for the page whose force failed");
            assertTrue(String.valueOf(failedB.getCause().getMessage()).contains("an earlier writeback"),
                    String.valueOf(failedB.getCause()));
            assertThrows(IOException.class, region::close);
        }
        assertEquals(0, handler.live());
    }
}
