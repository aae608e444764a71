package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A handler's {@code beforeWriteback} is the application's code and may throw anything at the final
 * writeback of a close. The close still ends every reservation, unmaps every mapping, closes the file and
 * tells the handler the region closed; then it reports what was thrown. Before, a RuntimeException skipped
 * the reservations and the unmapping (the views still read after close, the reservations never ended),
 * and an Error skipped the file's close as well.
 */
class CloseWhenWritebackThrowsTest {

    private static final int PAGE = 4096;

    @TempDir
    Path dir;

    enum Thrown {
        RUNTIME_EXCEPTION, ERROR
    }

    @ParameterizedTest
    @EnumSource(Thrown.class)
    void shouldReleaseEverythingAndReportWhatTheHandlerThrew(Thrown thrown) throws Exception {
        for (Backing backing : Backing.values()) {
            Path file = dir.resolve(thrown + "-" + backing + ".dat");
            RuntimeException runtime = new IllegalStateException("test: beforeWriteback failed");
            Error error = new AssertionError("test: beforeWriteback failed");
            TrackingHandler handler = new TrackingHandler();
            MappedRegion region = MappedRegion.builder(file).size(4L * PAGE).pageSize(PAGE).backing(backing)
                    .handler(handler).open();
            region.putLong(0, 1);
            region.putLong(2L * PAGE, 2);
            MemorySegment view = region.view(0, 8);
            handler.writebackHook = (page, contents) -> {
                if (thrown == Thrown.ERROR) {
                    throw error;
                }
                throw runtime;
            };

            if (thrown == Thrown.ERROR) {
                assertSame(error, assertThrows(AssertionError.class, region::close));
            } else {
                IOException e = assertThrows(IOException.class, region::close);
                assertSame(runtime, e.getCause());
                assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
            }

            assertTrue(region.isClosed());
            assertEquals(2, handler.reservations.size());
            assertEquals(0, handler.live(), backing + ": a reservation never ended");
            assertEquals(0, handler.endedTwice());
            assertFalse(view.scope().isAlive(), backing + ": the region's memory is still mapped");
            assertEquals(1, handler.regionsClosed.get(), backing + ": the handler did not hear of the close");
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
                FileLock lock = ch.tryLock();
                assertNotNull(lock, backing + ": the region's file is still locked");
                lock.release();
            }
            region.close(); // a second close does nothing
        }
    }
}
