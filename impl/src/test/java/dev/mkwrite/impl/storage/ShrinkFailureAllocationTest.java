package dev.mkwrite.impl.storage;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.impl.ReliabilityProbe;
import dev.mkwrite.impl.os.NativeAccess;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
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

    @Test
    void shouldAllocateThePagesOfTheTruncatedTailAgainAfterTheGrow() throws Exception {
        try (StorageHandler storage = StorageHandlers.fallocate(GRANULE);
             MappedRegion region = openWithALongerFile(storage, "tail.dat")) {
            region.grow(2L * GRANULE); // truncates the tail first: pages 8-15 lose their blocks
            assertAllocatesPage9Again(region, storage);
        }
    }

    /** A grow that truncated the tail and then failed to map: the next grow must not extend in place either. */
    @Test
    void shouldMapAnewAfterAGrowThatTruncatedAndThenFailed() throws Exception {
        try (StorageHandler storage = StorageHandlers.fallocate(GRANULE);
             MappedRegion region = openWithALongerFile(storage, "failed-grow.dat")) {
            IOException cause = new IOException("test: mmap failed (ENOMEM)");
            ReliabilityProbe.failNextMap(region, cause);
            IOException failed = assertThrows(IOException.class, () -> region.grow(2L * GRANULE));
            assertSame(cause, failed.getCause()); // named: the file, the offset, the page
            assertTrue(failed.getMessage().contains("grow(") && failed.getMessage().contains(region.path().toString()),
                    failed.getMessage());
            assertEquals(8L * PAGE, region.size());
            assertEquals(8L * PAGE, Files.size(dir.resolve("failed-grow.dat")), "the failed grow truncated first");

            region.grow(2L * GRANULE);
            assertAllocatesPage9Again(region, storage);
        }
    }

    /**
     * A region of 32 pages over a file a shrink to 8 pages could not truncate, whose page 0 was then written:
     * its granule, pages 0-15, reaches 8 pages into the file's tail, and the handler recorded them allocated.
     * Segment backing with native access: a grow extends its mapping in place when it may (a buffer mapping
     * always maps anew, so it could not show the fault).
     */
    private MappedRegion openWithALongerFile(StorageHandler storage, String name) throws IOException {
        assumeTrue(NativeAccess.available(), "fallocate: " + NativeAccess.unavailableReason());
        Path file = dir.resolve(name);
        MappedRegion region = MappedRegion.builder(file).size(2L * GRANULE).pageSize(PAGE)
                .backing(Backing.MEMORY_SEGMENT).handler(storage).open();
        ReliabilityProbe.failNextTruncate(region, new IOException("test: ftruncate failed (EIO)"));
        assertThrows(IOException.class, () -> region.truncate(8L * PAGE));
        assertEquals(2L * GRANULE, Files.size(file), "the file kept its length");
        region.putLong(0, 1);
        assertEquals(1, storage.stats().fallocates());
        return region;
    }

    private static void assertAllocatesPage9Again(MappedRegion region, StorageHandler storage) {
        long already = storage.stats().alreadyAllocated();
        region.putLong(9L * PAGE, 2);
        assertEquals(already, storage.stats().alreadyAllocated(),
                "page 9's blocks were truncated away, yet its allocation record was trusted: " + storage.stats());
        assertEquals(2, storage.stats().fallocates(), storage.stats().toString());
        assertEquals(2, region.getLong(9L * PAGE));
    }
}
