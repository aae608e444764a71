package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.RegionStats;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.impl.os.NativeAccess;
import dev.mkwrite.impl.os.PosixNative;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * RegionStats.nativeAccess and nativeMapping: the api shows whether the region has a native descriptor and
 * whether it got one mapping with room to grow, or FileChannel.map.
 */
class NativeStateStatsTest {

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldSayWhetherTheRegionIsMappedNativelyWithRoomToGrow(Backing backing) throws IOException {
        // The tests run with --enable-native-access; the fallback suite also with channel maps only.
        boolean expected = backing == Backing.MEMORY_SEGMENT && Mapping.NativeMapping.usable();
        MappedRegion region = MappedRegion.builder(dir.resolve("stats.dat")).size(1 << 16).backing(backing)
                .handler(WriteFaultHandler.none()).open();
        RegionStats s = region.stats();
        assertEquals(expected, s.nativeMapping(), s.toString());
        assertTrue(!s.nativeMapping() || s.nativeAccess(), "a native mapping maps the native descriptor");
        assertEquals(NativeAccess.available(), s.nativeAccess(), "the descriptor exists iff native access is on");
        region.grow(64L << 20); // past the room: maps anew, natively again
        assertEquals(expected, region.stats().nativeMapping());
        region.close();
        assertEquals(expected, region.stats().nativeMapping(), "the statistics still answer after close");
    }

    @Test
    void shouldReportNoNativeMappingForTheByteBufferBacking() throws IOException {
        try (MappedRegion region = MappedRegion.builder(dir.resolve("buffer.dat")).size(1 << 16)
                .backing(Backing.MAPPED_BYTE_BUFFER).handler(WriteFaultHandler.none()).open()) {
            assertFalse(region.stats().nativeMapping(), "FileChannel.map, always");
        }
    }

    @Test
    void shouldDefaultTheNativeStateToFalseInTheCountersOnlyStatistics() {
        RegionStats s = new RegionStats(4, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 4096, 0, 64);
        assertFalse(s.nativeAccess());
        assertFalse(s.nativeMapping());
        assertEquals(3, s.cleanPages());
    }

    /**
     * Two threads entering one PREPARED page both count it out of the PREPARED count before their CASes, and
     * the loser counts it back after: a snapshot between read -1 PREPARED pages (and with it more clean pages
     * than the region has). The page counts read at least 0.
     */
    @Test
    void shouldNeverShowANegativePageCount() {
        Counters c = new Counters();
        c.prepared.add(1);
        Counters.move(c.prepared, c.writable, 1); // the winner
        Counters.move(c.prepared, c.writable, 1); // the loser, before its CAS fails and it counts back
        RegionStats s = c.snapshot(1, 0, 0, false, false);
        assertEquals(0, s.preparedPages(), s.toString());
        assertEquals(0, s.cleanPages(), s.toString()); // 1 page, 2 writable for the moment: not -1
    }
}
