package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.WriteFaultHandler;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A shrink whose file truncate fails leaves the region open at its new size with every byte below it, and
 * the file's discarded tail never comes back: the file is truncated again before the region grows over it
 * (a grow that cannot do so throws, and changes nothing), and at close (which says so if it cannot).
 */
class ShrinkFailureTest {

    private static final int PAGE = 4096;

    @TempDir
    Path dir;

    private MappedRegion open(Path file, Backing backing) throws IOException {
        return MappedRegion.builder(file).size(4L * PAGE).pageSize(PAGE).backing(backing)
                .handler(WriteFaultHandler.none()).open();
    }

    private static void failNextTruncate(MappedRegion region, IOException failure) {
        RegionHandle.regionOf(region).failNextTruncateForTests(failure);
    }

    private static IOException injected() {
        return new IOException("test: ftruncate failed (EIO)");
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldStayOpenAndNeverExposeTheDiscardedTailWhenTheFileCannotBeShortened(Backing backing)
            throws IOException {
        Path file = dir.resolve("shrink.dat");
        try (MappedRegion region = open(file, backing)) {
            for (int p = 0; p < 4; p++) {
                region.putLong((long) p * PAGE + 8, 0x1111L * (p + 1));
            }
            IOException cause = injected();
            failNextTruncate(region, cause);
            IOException e = assertThrows(IOException.class, () -> region.truncate(2L * PAGE));
            assertSame(cause, e.getCause());
            assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("offset " + 2 * PAGE)
                    && e.getMessage().contains("page 2"), e.getMessage());
            assertEquals(2L * PAGE, region.size(), "the region shrank");
            assertEquals(4L * PAGE, Files.size(file), "the file did not");

            // Usable, with every byte below the new end.
            assertEquals(0x1111L, region.getLong(8));
            assertEquals(0x2222L, region.getLong(PAGE + 8));
            region.putLong(PAGE + 16, 42);
            region.flush();
            assertEquals(42, region.getLong(PAGE + 16));

            region.grow(4L * PAGE);
            assertEquals(0, region.getLong(2L * PAGE + 8), "the discarded page 2 came back");
            assertEquals(0, region.getLong(3L * PAGE + 8), "the discarded page 3 came back");
            region.putLong(3L * PAGE, 7);
            assertEquals(7, region.getLong(3L * PAGE));
        }
    }

    /**
     * A grow whose mapping fails after the file grew (its {@code mmap} refused, as for ENOMEM, once the file
     * was extended): the region keeps its size and every byte, and the file is trimmed back to it at close.
     * Before, the file kept the failed grow's length.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldTrimWhatAFailedGrowAddedToTheFile(Backing backing) throws IOException {
        Path file = dir.resolve("failed-map.dat");
        MappedRegion region = open(file, backing);
        try {
            region.putLong(8, 0x1111L);
            IOException cause = new IOException("test: mmap failed (ENOMEM)");
            RegionHandle.regionOf(region).failNextMapForTests(cause, true);
            // Past a native mapping's 1 MiB of room, so that the grow maps anew on either backing.
            IOException failed = assertThrows(IOException.class, () -> region.grow(512L * PAGE));
            assertSame(cause, failed.getCause()); // named: the file, the offset, the page
            assertTrue(failed.getMessage().contains("grow(") && failed.getMessage().contains(region.path().toString()),
                    failed.getMessage());
            assertEquals(4L * PAGE, region.size());
            assertEquals(512L * PAGE, Files.size(file), "the failed map extended the file");
            assertEquals(0x1111L, region.getLong(8));
            region.putLong(PAGE + 8, 5);
            assertEquals(5, region.getLong(PAGE + 8));
        } finally {
            region.close();
        }
        assertEquals(4L * PAGE, Files.size(file), "the close trimmed what the failed grow added");
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldLeaveTheRegionAsItWasWhenAGrowCannotShortenTheFileEither(Backing backing) throws IOException {
        Path file = dir.resolve("grow.dat");
        try (MappedRegion region = open(file, backing)) {
            region.putLong(3L * PAGE, 99);
            region.putLong(PAGE, 5);
            failNextTruncate(region, injected());
            assertThrows(IOException.class, () -> region.truncate(2L * PAGE));

            IOException cause = injected();
            failNextTruncate(region, cause);
            IOException failed = assertThrows(IOException.class, () -> region.grow(4L * PAGE));
            assertSame(cause, failed.getCause()); // named: the file, the offset, the page
            assertTrue(failed.getMessage().contains("grow(") && failed.getMessage().contains(region.path().toString()),
                    failed.getMessage());
            assertEquals(2L * PAGE, region.size(), "the failed grow changed the size");
            assertEquals(4L * PAGE, Files.size(file), "the failed grow changed the file");
            assertEquals(5, region.getLong(PAGE));
            region.putLong(PAGE + 8, 6);

            region.grow(4L * PAGE);
            assertEquals(0, region.getLong(3L * PAGE), "the discarded page 3 came back");
            assertEquals(6, region.getLong(PAGE + 8));
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldShortenTheFileAtCloseOrSayWhyNot(Backing backing) throws IOException {
        Path closing = dir.resolve("closing.dat");
        try (MappedRegion region = open(closing, backing)) {
            failNextTruncate(region, injected());
            assertThrows(IOException.class, () -> region.truncate(PAGE));
            assertEquals(4L * PAGE, Files.size(closing));
        }
        assertEquals(PAGE, Files.size(closing), "the close shortened the file");

        // Failing again at close: the close reports it, and the file keeps the discarded bytes past the end.
        Path failing = dir.resolve("failing.dat");
        MappedRegion region = open(failing, backing);
        failNextTruncate(region, injected());
        assertThrows(IOException.class, () -> region.truncate(PAGE));
        IOException atClose = injected();
        failNextTruncate(region, atClose);
        assertSame(atClose, assertThrows(IOException.class, region::close));
        assertTrue(region.isClosed());
        assertEquals(4L * PAGE, Files.size(failing));
    }

    /**
     * A punchHole whose discard fails after its punch freed blocks (here the zeroing of its partial tail
     * fails, as ENOSPC can on an extent split): the pages over the punched unit were thawed WRITABLE, over a
     * hole, and their next store went to the kernel's fault lock-free, which needs a block: SIGBUS on a full
     * disk. Once the discard has begun every page of the range is now removed, and faults in mkwrite before
     * its next store; the handler prepares it again, and the region stays usable.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldMakeThePagesOfAPunchThatFailedPartwayFaultAgain(Backing backing) throws IOException {
        Path file = dir.resolve("punch.dat");
        long unit = Resizing.LARGEST_FOLIO;
        TrackingHandler handler = new TrackingHandler();
        try (MappedRegion region = MappedRegion.builder(file).size(2 * unit).pageSize(PAGE).backing(backing)
                .handler(handler).open()) {
            region.putLong(0, 1);
            region.putLong(unit, 2);
            IOException cause = new IOException("test: fallocate(ZERO_RANGE) failed (ENOSPC)");
            RegionHandle.regionOf(region).failNextZeroInPlaceForTests(cause);
            // [0, unit) is punched whole, then [unit, unit + PAGE) zeroed in place: that fails
            IOException e = assertThrows(IOException.class, () -> region.punchHole(0, unit + PAGE));
            assertSame(cause, e.getCause());
            assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("page 0"), e.getMessage());
            int calls = handler.calls();
            region.putLong(0, 3); // page 0's blocks were punched: it must fault, and be prepared again
            assertEquals(calls + 1, handler.calls(), "page 0 took a store over its punched hole without a fault");
            assertEquals(3, region.getLong(0));
            region.flush();
        }
    }

    /**
     * A punchHole whose discard fails before it changed anything (the zeroing in place of a page refused for
     * want of space): the caller is told it failed and may go on using the range, but its dirty page was
     * dropped to CLEAN with its reservation released, so no flush would ever force what was written into it.
     * It is now written back first (its reservation consumed, as a flush's), then removed as on success.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldWriteBackTheDirtyPagesOfAPunchThatFailed(Backing backing) throws IOException {
        Path file = dir.resolve("punch-refused.dat");
        TrackingHandler handler = new TrackingHandler();
        try (MappedRegion region = MappedRegion.builder(file).size(Resizing.LARGEST_FOLIO).pageSize(PAGE)
                .backing(backing).handler(handler).open()) {
            region.putLong(PAGE, 7);
            long writtenBack = region.stats().pagesWrittenBack();
            IOException cause = new IOException("test: fallocate(ZERO_RANGE) failed (ENOSPC)");
            RegionHandle.regionOf(region).failNextZeroInPlaceForTests(cause);
            IOException e = assertThrows(IOException.class, () -> region.punchHole(PAGE, PAGE));
            assertSame(cause, e.getCause());
            assertEquals(1, handler.consumed(), "the dirty page's reservation: written back, not dropped");
            assertEquals(0, handler.released());
            assertEquals(writtenBack + 1, region.stats().pagesWrittenBack());
            assertEquals(7, region.getLong(PAGE));
            int calls = handler.calls();
            region.putLong(PAGE, 8); // removed as on success: the page faults again
            assertEquals(calls + 1, handler.calls());
        }
        assertEquals(0, handler.live());
    }
}
