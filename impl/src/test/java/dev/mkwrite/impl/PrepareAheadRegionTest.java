package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link MappedRegion#prepare} and the region's prepare-ahead for sequential writers. */
class PrepareAheadRegionTest {

    static final int PAGE = 4096;

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldPreparePagesWithoutWritingThem(Backing backing) throws IOException {
        TrackingHandler handler = new TrackingHandler();
        try (MappedRegion region = MappedRegion.builder(dir.resolve("prepare.dat")).size(16L * PAGE).pageSize(PAGE)
                .backing(backing).handler(handler).open()) {
            region.putLong(PAGE, 7);
            region.prepare(PAGE, 4L * PAGE);
            assertEquals(4, region.stats().writablePages());
            assertEquals(4, handler.calls(), "page 1 was prepared already; pages 2, 3 and 4 fault");
            assertEquals(7, region.getLong(PAGE), "prepare writes nothing");
            assertEquals(0, region.getLong(3L * PAGE));
            long faults = region.stats().faults();
            region.putLong(3L * PAGE, 9);
            assertEquals(faults, region.stats().faults(), "a prepared page takes no fault");
            assertEquals(4, region.flush());
            assertEquals(0, handler.live());
        }
    }

    /**
     * {@code prepare} takes any offset, and populates the OS pages its range touches: madvise wants an
     * aligned address. Before, an offset inside a page made madvise fail with EINVAL, which mkwrite read as
     * a kernel without MADV_POPULATE_WRITE and turned populate off for the rest of the JVM.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldPrepareFromAnyOffsetAndKeepPopulating(Backing backing) throws IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(dev.mkwrite.impl.os.NativeAccess.available()
                && Mapping.populateSupported(), "populate: native access and Linux 5.14");
        try (MappedRegion region = MappedRegion.builder(dir.resolve("unaligned-" + backing)).size(16L * PAGE)
                .pageSize(PAGE).backing(backing).handler(new TrackingHandler()).open()) {
            region.prepare(PAGE + 100, 10);
            region.prepare(3L * PAGE - 1, 2);
            assertTrue(Mapping.populateSupported(), "an unaligned prepare turned populate off for the JVM");
            assertEquals(3, region.stats().writablePages());
            region.putLong(PAGE + 100, 5);
            assertEquals(5, region.getLong(PAGE + 100));
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldPrepareAheadOfASequentialWriterOnItsOwnThread(Backing backing) throws Exception {
        TrackingHandler handler = new TrackingHandler();
        try (MappedRegion region = MappedRegion.builder(dir.resolve("ahead.dat")).size(256L * PAGE).pageSize(PAGE)
                .backing(backing).prepareAhead(32L * PAGE).handler(handler).open()) {
            region.putLong(0, 1);
            region.putLong(PAGE, 2); // page 1 continues page 0: the window is pages 2..33
            awaitWritable(region, 34);
            assertTrue(agentCalls(handler).anyMatch(c -> c.noWait() && c.page() == 33),
                    "page 33 was prepared, without waiting, by the agent");
            assertEquals(33, lastPage(handler), "nothing past the window");
            long firstAhead = agentCalls(handler).findFirst().orElseThrow().page();
            assertTrue(firstAhead >= 18, "the agent starts at the window's far end, leaving the near pages to a "
                    + "faster writer: its first page was " + firstAhead);
            long faults = region.stats().faults();
            region.putLong(20L * PAGE, 1); // inside the window: no fault
            assertEquals(faults, region.stats().faults());
            // The writer ran through the prepared window; its fault just after it plans the next one.
            region.putLong(34L * PAGE, 1);
            awaitWritable(region, 67);
            assertEquals(66, lastPage(handler), "pages 35..66, nothing past them");
            region.putLong(200L * PAGE, 1); // far away: a random write plans nothing
            Thread.sleep(50);
            assertEquals(68, region.stats().writablePages());
            region.truncate(8L * PAGE); // while the agent may still run: it stops at the end
            assertEquals(8, region.stats().writablePages());
        }
        assertEquals(0, handler.live());
        assertEquals(0, handler.endedTwice());
    }

    /**
     * Readahead's marker: a writer that catches up with the agent and faults inside the planned window
     * plans the next window then, so the agent has work while the writer runs through what it prepared;
     * and never more than two windows ahead of the writer's last fault. Against the earlier planning (each
     * fault extended the window to its own page plus the window's length), the writer's faults of pages 2
     * and 3 got the agent one page more each: 36 pages WRITABLE, not 66.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldPlanTheNextWindowWhenTheWriterCatchesUp(Backing backing) throws Exception {
        TrackingHandler handler = new TrackingHandler();
        CountDownLatch agentHeld = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        handler.behaviour = (fault, h) -> {
            if (Thread.currentThread().getName().equals("mkwrite-prepare-ahead") && agentHeld.getCount() > 0) {
                agentHeld.countDown(); // the agent's first page, at the window's far end, waits
                TrackingHandler.awaitQuietly(release);
            }
            return h.reserve(fault);
        };
        try (MappedRegion region = MappedRegion.builder(dir.resolve("marker.dat")).size(256L * PAGE).pageSize(PAGE)
                .backing(backing).prepareAhead(32L * PAGE).handler(handler).open()) {
            region.putLong(0, 1);
            region.putLong(PAGE, 2); // the window is pages 2..33; the agent starts at 18 and is held there
            assertTrue(agentHeld.await(10, TimeUnit.SECONDS), "the agent started");
            region.putLong(2L * PAGE, 3); // the writer caught up: inside the window, so 34..65 are planned
            region.putLong(3L * PAGE, 4); // two windows ahead already: nothing more
            release.countDown();
            awaitWritable(region, 66);
            assertTrue(agentCalls(handler).anyMatch(c -> c.page() == 65),
                    "the next window was prepared by the agent");
            assertEquals(65, lastPage(handler), "nothing past the second window");
            assertEquals(4, handler.calls.stream().filter(c -> !isAgent(c)).count(),
                    "the writer faulted pages 0..3 only");
        }
        assertEquals(0, handler.live());
        assertEquals(0, handler.endedTwice());
    }

    /** Waits until the region has exactly {@code pages} WRITABLE pages, then a little longer to see no more come. */
    private static void awaitWritable(MappedRegion region, long pages) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (region.stats().writablePages() < pages && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        Thread.sleep(20);
        assertEquals(pages, region.stats().writablePages());
    }

    private static boolean isAgent(TrackingHandler.Call call) {
        return call.thread().getName().equals("mkwrite-prepare-ahead");
    }

    private static Stream<TrackingHandler.Call> agentCalls(TrackingHandler handler) {
        return handler.calls.stream().filter(PrepareAheadRegionTest::isAgent);
    }

    private static long lastPage(TrackingHandler handler) {
        return handler.calls.stream().mapToLong(TrackingHandler.Call::page).max().orElse(-1);
    }
}
