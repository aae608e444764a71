package dev.mkwrite.impl.storage;

import dev.mkwrite.MappedRegion;
import dev.mkwrite.NoSpaceException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Why mkwrite exists: the same over-committed write through a raw mapping kills the writer with
 * {@code InternalError} (in a child JVM), where a region with a storage handler reports
 * {@link NoSpaceException} and goes on.
 */
class RawMappingTest {

    @RegisterExtension
    static final SmallFilesystem fs = new SmallFilesystem();


    @Test
    void shouldDieWithInternalErrorWhenARawMappingOvercommitsTheDisk() throws Exception {
        long free = fs.usableSpace();
        Path file = fs.dir().resolve("raw");
        ChildJvm.Result r = ChildJvm.onClassPath(List.of(), RawMappedWriter.class, file.toString(),
                String.valueOf(2 * free));
        assertNotEquals(0, r.exit(), r.toString());
        assertTrue(r.stderr().contains("java.lang.InternalError"), r.toString());
        assertTrue(r.stderr().contains("unsafe memory access"), r.toString());
        assertFalse(r.stdout().contains("completed"), r.toString());
    }

    @Test
    void shouldFailWithNoSpaceWhereTheRawMappingDies() throws Exception {
        long free = fs.usableSpace();
        Path file = fs.dir().resolve("region");
        long failedAt = -1;
        try (StorageHandler storage = StorageHandlers.bestAvailable(64 << 10);
             MappedRegion region = MappedRegion.builder(file).size(2 * free).handler(storage).open()) {
            for (long i = 0; i + Long.BYTES <= 2 * free; i += Long.BYTES) {
                try {
                    region.putLong(i, i);
                } catch (NoSpaceException e) {
                    failedAt = i;
                    break;
                }
            }
            assertEquals(free, failedAt, "the first write that failed is not the first one past the free space");
            assertEquals(free - Long.BYTES, region.getLong(free - Long.BYTES));
            assertThrows(NoSpaceException.class, () -> region.putLong(free, 1)); // still no space, still alive
            region.putLong(0, 42); // and the pages it had keep taking writes
        }
    }
}
