package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.NoSpaceException;
import dev.mkwrite.RegionStats;
import dev.mkwrite.WriteSpan;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * K7 for writes over several pages: a write that fails on a later page leaves nothing behind on the
 * earlier pages it prepared. They go back to CLEAN with their reservations released, so no flush writes
 * them back and consumes a reservation for bytes that were never written.
 */
class FailedWriteTest {

    static final int PAGE = 4096;

    @TempDir
    Path dir;

    private MappedRegion open(Backing backing, TrackingHandler handler) throws IOException {
        return MappedRegion.builder(dir.resolve("failed-write.dat")).size(8L * PAGE).pageSize(PAGE)
                .backing(backing).handler(handler).open();
    }

    /** Reserves every page except {@code noSpacePage}, which gets a NoSpaceException. */
    private static TrackingHandler noSpaceOn(long noSpacePage) {
        return new TrackingHandler((fault, h) -> {
            if (fault.page() == noSpacePage) {
                throw new NoSpaceException("test: no space", fault.path(), fault.offset(), fault.page());
            }
            return h.reserve(fault);
        });
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldReleaseEarlierPagesWhenAPutFailsOnALaterPage(Backing backing) throws IOException {
        TrackingHandler handler = noSpaceOn(1);
        try (MappedRegion region = open(backing, handler)) {
            assertThrows(NoSpaceException.class, () -> region.put(0, new byte[2 * PAGE], 0, 2 * PAGE));
            RegionStats stats = region.stats();
            assertEquals(0, stats.writablePages(), "pages left WRITABLE by the failed write: " + stats);
            assertEquals(0, stats.preparingPages(), stats.toString());
            assertEquals(0, stats.reservationsOutstanding(), stats.toString());
            assertEquals(0, handler.live(), "reservations neither consumed nor released: " + handler.reservations);
            assertEquals(1, handler.released(), "page 0's reservation is released: " + handler.reservations);
            assertEquals(0, region.flush(), "the next flush writes back nothing");
            assertEquals(0, handler.consumed());
            assertEquals(0, stats.pins());
        }
        assertEquals(0, handler.endedTwice());
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldReleaseEveryPreparedPageWhenASpanFailsOnItsLastPage(Backing backing) throws IOException {
        TrackingHandler handler = noSpaceOn(3);
        try (MappedRegion region = open(backing, handler)) {
            assertThrows(NoSpaceException.class, () -> region.write(PAGE, 3L * PAGE).close());
            assertEquals(0, region.stats().writablePages());
            assertEquals(0, region.stats().reservationsOutstanding());
            assertEquals(3, handler.calls(), "pages 1, 2 and 3 were asked for");
            assertEquals(2, handler.released());
            assertEquals(0, region.flush());
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldKeepPagesPreparedBeforeTheWriteWhenItFails(Backing backing) throws IOException {
        TrackingHandler handler = noSpaceOn(1);
        try (MappedRegion region = open(backing, handler)) {
            byte[] acked = {1, 2, 3, 4};
            region.put(PAGE - acked.length, acked, 0, acked.length); // page 0 WRITABLE, acknowledged
            assertThrows(NoSpaceException.class, () -> region.put(0, new byte[2 * PAGE], 0, 2 * PAGE));
            assertEquals(1, region.stats().writablePages(), "page 0 was prepared before, by another write");
            byte[] read = new byte[acked.length];
            region.get(PAGE - acked.length, read, 0, read.length);
            assertArrayEquals(acked, read, "no byte of the failed write landed; the acknowledged bytes are intact");
            assertEquals(1, region.flush());
            assertEquals(1, handler.consumed());
            assertEquals(0, handler.released());
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldLeaveNothingWhenANoWaitWriteWouldBlockOnALaterPage(Backing backing) throws IOException {
        TrackingHandler handler = new TrackingHandler((fault, h) -> {
            if (fault.page() == 1 && fault.isNoWait()) {
                return dev.mkwrite.FaultResult.RETRY; // the handler would have to wait
            }
            return h.reserve(fault);
        });
        try (MappedRegion region = open(backing, handler)) {
            assertNull(region.tryWrite(0, 2L * PAGE));
            assertEquals(0, region.stats().writablePages());
            assertEquals(0, region.stats().reservationsOutstanding());
            try (WriteSpan span = region.write(0, 2L * PAGE)) {
                assertNotNull(span);
            }
            assertEquals(2, region.stats().writablePages());
        }
    }
}
