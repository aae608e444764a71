package dev.mkwrite.impl.storage;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.impl.ReliabilityProbe;
import dev.mkwrite.impl.os.NativeAccess;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * After a shrink whose file truncate failed, the file is longer than the region, so a granule allocated
 * for a page near the new end reaches into the discarded tail, and the handler records those units as
 * allocated. The grow that truncates the tail away frees their blocks: it must map anew, so that the
 * handler's next fault sees a new mapping period and forgets what it recorded (a record trusted there
 * would leave the page a hole, and a write into it on a full disk would die with SIGBUS).
 */
class ShrinkFailureAllocationTest {

    private static final int PAGE = 4096;
    private static final int GRANULE = 16 * PAGE;

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldAllocateThePagesOfTheTruncatedTailAgainAfterTheGrow(Backing backing) throws Exception {
        assumeTrue(NativeAccess.available(), "fallocate: " + NativeAccess.unavailableReason());
        Path file = dir.resolve("tail.dat");
        try (StorageHandler storage = StorageHandlers.fallocate(GRANULE);
             MappedRegion region = MappedRegion.builder(file).size(2L * GRANULE).pageSize(PAGE).backing(backing)
                     .handler(storage).open()) {
            ReliabilityProbe.failNextTruncate(region, new IOException("test: ftruncate failed (EIO)"));
            assertThrows(IOException.class, () -> region.truncate(8L * PAGE));
            assertEquals(2L * GRANULE, Files.size(file), "the file kept its length");

            region.putLong(0, 1); // its granule, pages 0-15, reaches 8 pages into the file's tail
            assertEquals(1, storage.stats().fallocates());

            region.grow(2L * GRANULE); // truncates the tail first: pages 8-15 lose their blocks
            long already = storage.stats().alreadyAllocated();
            region.putLong(9L * PAGE, 2);
            assertEquals(already, storage.stats().alreadyAllocated(),
                    "page 9's blocks were truncated away, yet its allocation record was trusted: " + storage.stats());
            assertEquals(2, storage.stats().fallocates(), storage.stats().toString());
            assertEquals(2, region.getLong(9L * PAGE));
        }
    }
}
