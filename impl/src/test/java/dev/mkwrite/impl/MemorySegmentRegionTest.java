package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The contract on the Foreign Memory backing, plus what only it can do: regions beyond 2 GiB. */
class MemorySegmentRegionTest extends RegionContract {

    @Override
    Backing backing() {
        return Backing.MEMORY_SEGMENT;
    }

    @Test
    void shouldMapATebibyteSparselyWithMetadataThatGrowsWithThePagesWritten() throws Exception {
        handler = new TrackingHandler();
        region = MappedRegion.builder(dir.resolve("huge.dat")).size(1L << 40).pageSize(PAGE).backing(backing())
                .handler(handler).open();
        long before = region.stats().metadataBytes();
        assertTrue(before < 512 * 1024, "an empty 1 TiB region holds " + before + " bytes of page state");
        for (long offset = (1L << 40) - (64L << 20); offset < 1L << 40; offset += 1L << 20) {
            region.putLong(offset, offset); // 64 pages spread over the last 64 MiB
        }
        region.putLong(5L << 32, 1);
        assertEquals(65, region.stats().writablePages());
        long after = region.stats().metadataBytes();
        assertTrue(after - before < 6 * Chunk.BYTES, "metadata grew by " + (after - before));
        assertEquals((1L << 40) - (1L << 20), region.getLong((1L << 40) - (1L << 20)));
    }

    @Test
    void shouldThrowIllegalStateWhenASegmentIsUsedAfterItsMappingWasReplaced() throws Exception {
        open();
        MemorySegment stale;
        try (var span = region.write(0, 8)) {
            stale = span.segment();
        }
        region.grow(2L * PAGES * PAGE); // unmaps the old mapping, deterministically
        assertThrows(IllegalStateException.class, () -> stale.get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
    }
}
