package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

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

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldPrepareAheadOfASequentialWriterOnItsOwnThread(Backing backing) throws Exception {
        TrackingHandler handler = new TrackingHandler();
        try (MappedRegion region = MappedRegion.builder(dir.resolve("ahead.dat")).size(256L * PAGE).pageSize(PAGE)
                .backing(backing).prepareAhead(32L * PAGE).handler(handler).open()) {
            for (long page = 0; page < 3; page++) {
                region.putLong(page * PAGE, page + 1);
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            // Page 1 continues page 0: the window becomes pages 2..33. Page 2 may be prepared before its
            // writer reaches it (then it takes no fault, and the window stays), or fault (then it extends
            // to 34).
            while (region.stats().writablePages() < 34 && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            Thread.sleep(20);
            long writable = region.stats().writablePages();
            assertTrue(writable == 34 || writable == 35, "the 32 pages after page 1 or 2 are prepared: " + writable);
            assertTrue(handler.calls.stream().anyMatch(c -> c.thread().getName().equals("mkwrite-prepare-ahead")
                    && c.noWait() && c.page() == 33), "page 33 was prepared, without waiting, by the agent");
            assertTrue(handler.calls.stream().noneMatch(c -> c.page() > 34), "nothing past the window");
            long firstAhead = handler.calls.stream().filter(c -> c.thread().getName().equals("mkwrite-prepare-ahead"))
                    .findFirst().orElseThrow().page();
            assertTrue(firstAhead >= 18, "the agent starts at the window's far end, leaving the near pages to a "
                    + "faster writer: its first page was " + firstAhead);
            long faults = region.stats().faults();
            region.putLong(20L * PAGE, 1); // inside the window: no fault
            assertEquals(faults, region.stats().faults());
            region.putLong(200L * PAGE, 1); // far away: a random write plans nothing
            Thread.sleep(50);
            assertEquals(writable + 1, region.stats().writablePages());
            region.truncate(8L * PAGE); // while the agent may still run: it stops at the end
            assertEquals(8, region.stats().writablePages());
        }
        assertEquals(0, handler.live());
        assertEquals(0, handler.endedTwice());
    }
}
