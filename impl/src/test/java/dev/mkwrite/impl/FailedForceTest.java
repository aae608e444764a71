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

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldFailEveryFlushAndTheCloseAfterAForceFailed(Backing backing) throws Exception {
        TrackingHandler handler = new TrackingHandler();
        Path file = dir.resolve("eio.dat");
        MappedRegion region = MappedRegion.builder(file).size(8L * PAGE).pageSize(PAGE).backing(backing)
                .handler(handler).open();
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
}
