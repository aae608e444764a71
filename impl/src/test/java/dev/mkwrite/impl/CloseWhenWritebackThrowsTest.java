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

    /**
     * {@code beforeWriteback} must not use its region: a flush, close, resize or write from inside it would
     * wait for the writeback it runs in, or for the region lock its close holds. Each is refused with an
     * exception naming the file, the offset and the page being written back, and the writeback goes on.
     * Before, the flush inside a flush waited for itself forever.
     */
    @org.junit.jupiter.api.Test
    void shouldRefuseToUseTheRegionFromInsideBeforeWriteback() throws Exception {
        Path file = dir.resolve("inside.dat");
        TrackingHandler handler = new TrackingHandler();
        java.util.List<String> refused = new java.util.concurrent.CopyOnWriteArrayList<>();
        MappedRegion region = MappedRegion.builder(file).size(4L * PAGE).pageSize(PAGE).handler(handler).open();
        try {
            handler.writebackHook = (page, contents) -> {
                // grow first: before the scope it went through (a whole last page), and the others, which
                // would have waited for this writeback, were not tried
                for (String op : new String[] {"grow", "flush", "truncate", "punchHole", "close", "put"}) {
                    try {
                        switch (op) {
                            case "flush" -> region.flush();
                            case "truncate" -> region.truncate(PAGE);
                            case "grow" -> region.grow(8L * PAGE);
                            case "punchHole" -> region.punchHole(0, PAGE);
                            case "close" -> region.close();
                            default -> region.putLong(3L * PAGE, 1); // a CLEAN page: a fault
                        }
                        return; // not refused: the rest could wait for this writeback forever
                    } catch (IllegalStateException e) {
                        String m = e.getMessage();
                        if (m.contains(file.toString()) && (m.contains("page " + page) && m.contains("beforeWriteback")
                                || op.equals("put") && m.contains("must not write into their own region"))) {
                            refused.add(op);
                        }
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }
            };
            region.putLong(PAGE, 7);
            assertEquals(1, region.flush());
            assertEquals(java.util.List.of("grow", "flush", "truncate", "punchHole", "close", "put"), refused);
            handler.writebackHook = (page, contents) -> { };
            assertEquals(4L * PAGE, region.size());
            assertEquals(7, region.getLong(PAGE));
            assertEquals(0, region.getLong(3L * PAGE));
        } finally {
            region.close();
        }
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
