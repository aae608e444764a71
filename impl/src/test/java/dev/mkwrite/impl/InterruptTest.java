package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.Reservation;
import dev.mkwrite.WriteFaultHandler;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A thread interrupt ends at most the one operation it interrupted, and never breaks the region: the
 * JDK closes a FileChannel for every thread when a thread is interrupted in one of its blocking calls,
 * and with the channel the region's file lock would go. Each test calls an operation on an interrupted
 * thread, then checks that the region still grows, truncates, punches, flushes and closes, that its
 * file lock still keeps a second region off the file, and that the interrupt status was kept.
 */
class InterruptTest {

    static final int PAGE = 4096;

    @TempDir
    Path dir;

    private MappedRegion region;

    @AfterEach
    void clearInterrupt() throws IOException {
        Thread.interrupted();
        if (region != null) {
            region.close();
        }
    }

    private MappedRegion open(Backing backing) throws IOException {
        region = MappedRegion.builder(dir.resolve("interrupted.dat")).size(4L * PAGE).pageSize(PAGE)
                .backing(backing).handler(WriteFaultHandler.none()).open();
        region.putLong(0, 42);
        return region;
    }

    /** The region works on, and still holds its file lock. */
    private void assertIntact(MappedRegion r) throws IOException {
        assertTrue(Thread.interrupted(), "the interrupt status is kept for the caller");
        r.grow(r.size() + (64L << 20)); // past any room the mapping has: maps anew
        r.putLong(r.size() - Long.BYTES, 7);
        r.truncate(8L * PAGE);
        r.punchHole(PAGE, PAGE);
        assertEquals(42, r.getLong(0));
        r.flush();
        IllegalStateException second = assertThrows(IllegalStateException.class, () ->
                MappedRegion.builder(r.path()).handler(fault -> Reservation.none()).open(),
                "the region is still open: an open with another handler is refused");
        assertTrue(second.getMessage().contains("already open"), second.getMessage());
        // Past the registry, the file lock itself still keeps a second region off the file.
        IllegalStateException locked = assertThrows(IllegalStateException.class, () ->
                Region.open(MappedRegion.builder(r.path()).handler(WriteFaultHandler.none())).close(),
                "the region's file lock is still held");
        assertTrue(locked.getMessage().contains("already open"), locked.getMessage());
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldKeepTheRegionWhenGrowRunsOnAnInterruptedThread(Backing backing) throws IOException {
        MappedRegion r = open(backing);
        Thread.currentThread().interrupt();
        r.grow(256L << 20); // past the mapping's room: a new mapping
        assertEquals(256L << 20, r.size());
        assertIntact(r);
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldKeepTheRegionWhenTruncateRunsOnAnInterruptedThread(Backing backing) throws IOException {
        MappedRegion r = open(backing);
        Thread.currentThread().interrupt();
        r.truncate(2L * PAGE);
        assertEquals(2L * PAGE, r.size());
        assertIntact(r);
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldKeepTheRegionWhenPunchHoleRunsOnAnInterruptedThread(Backing backing) throws IOException {
        MappedRegion r = open(backing);
        r.putLong(2L * PAGE, 9);
        Thread.currentThread().interrupt();
        r.punchHole(2L * PAGE, PAGE);
        assertIntact(r);
        assertEquals(0, r.getLong(2L * PAGE));
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldCloseCleanlyOnAnInterruptedThread(Backing backing) throws IOException {
        MappedRegion r = open(backing);
        Thread.currentThread().interrupt();
        r.close();
        assertTrue(Thread.interrupted());
        region = MappedRegion.builder(r.path()).handler(WriteFaultHandler.none()).backing(backing).open();
        assertEquals(42, region.getLong(0), "the close wrote back and released the lock");
    }
}
