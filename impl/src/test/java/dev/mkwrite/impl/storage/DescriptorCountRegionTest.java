package dev.mkwrite.impl.storage;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.impl.os.NativeAccess;
import dev.mkwrite.impl.os.PosixNative;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * One descriptor per open file: a region and the storage handler that prepares its pages hold, between
 * them, the region's descriptors only, and none once the region closed. With native access a
 * MEMORY_SEGMENT region holds one native descriptor; a MAPPED_BYTE_BUFFER region, and any region mapped
 * through {@code FileChannel.map} (the "fallbacks" run), holds that channel too; without native access, one
 * channel. Counted through {@code /proc/self/fd} after faults that allocated or zero-filled.
 */
class DescriptorCountRegionTest {

    private static final boolean CHANNEL_MAPS = Boolean.getBoolean("dev.mkwrite.impl.testing.channelMaps");

    @TempDir
    Path dir;

    @ParameterizedTest
    @CsvSource({"MEMORY_SEGMENT, FALLOCATE", "MEMORY_SEGMENT, ZERO_FILL", "MAPPED_BYTE_BUFFER, FALLOCATE",
            "MAPPED_BYTE_BUFFER, ZERO_FILL"})
    void shouldHoldOnlyTheRegionsDescriptorsAfterFaultsAndNoneAfterClose(Backing backing,
            StorageHandler.Allocation allocation) throws Exception {
        assumeTrue(NativeAccess.available(), "native access is on in the test JVM");
        Path file = dir.resolve("region");
        int expected = backing == Backing.MEMORY_SEGMENT && !CHANNEL_MAPS ? 1 : 2;
        try (StorageHandler storage = StorageHandlers.create(allocation, 64 << 10, false)) {
            try (MappedRegion region = MappedRegion.builder(file).size(1 << 20).backing(backing).handler(storage)
                    .open()) {
                DescriptorCount.writeThreeGranules(region);
                region.flush();
                DescriptorCount.writeThreeGranules(region); // faults again after writeback
                assertEquals(expected, DescriptorCount.of(file), backing + " with " + allocation
                        + (CHANNEL_MAPS ? ", channel maps" : ""));
            }
            assertEquals(0, DescriptorCount.of(file), "after the region closed");
        }
    }

    @ParameterizedTest
    @CsvSource({"MEMORY_SEGMENT, FALLOCATE", "MAPPED_BYTE_BUFFER, ZERO_FILL"})
    void shouldHoldOneChannelWithoutNativeAccess(Backing backing, StorageHandler.Allocation allocation)
            throws Exception {
        Path file = dir.resolve("region");
        ChildJvm.Result r = ChildJvm.onClassPath(List.of(), DescriptorCount.class, file.toString(), backing.name(),
                allocation.name());
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.stdout().contains("open=1\n"), r.toString());
        assertTrue(r.stdout().contains("closed=0\n"), r.toString());
        assertTrue(r.stdout().contains("handlerClosed=0\n"), r.toString());
    }
}
