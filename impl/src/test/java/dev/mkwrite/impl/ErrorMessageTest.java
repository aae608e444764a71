package dev.mkwrite.impl;

import dev.mkwrite.HandlerFailedException;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.NoSpaceException;
import dev.mkwrite.RegionWriter;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.WriteSpan;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Errors say what is wrong, for which region, once. */
class ErrorMessageTest {

    @TempDir
    Path dir;

    @Test
    void shouldNameTheMissingDirectoryOfANewRegion() {
        Path file = dir.resolve("nope/sub/x.dat");
        NoSuchFileException e = assertThrows(NoSuchFileException.class, () ->
                MappedRegion.builder(file).size(4096).handler(WriteFaultHandler.none()).open());
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("directory " + dir.resolve("nope/sub") + " does not exist"), e.getMessage());
    }

    /** A span's buffer over more than a ByteBuffer holds: the file, the offset and the page, and the way out. */
    @Test
    void shouldNameTheSpanWhoseBufferWouldNotFit() throws IOException {
        long gib = 1L << 30;
        try (MappedRegion region = MappedRegion.builder(dir.resolve("large.dat")).size(3 * gib).pageSize((int) gib)
                .handler(WriteFaultHandler.none()).open();
             WriteSpan span = region.write(0, 3 * gib)) { // three faults, nothing stored
            UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class, span::buffer);
            assertTrue(e.getMessage().contains(dir.resolve("large.dat").toString())
                    && e.getMessage().contains("offset 0") && e.getMessage().contains("page 0")
                    && e.getMessage().contains("segment()"), e.getMessage());
            assertEquals(3 * gib, span.segment().byteSize(), "the span stays usable");
        }
    }

    /** A closed span's views: the file, the offset and the page, as every write error names them. */
    @Test
    void shouldNameThePageOfAClosedSpan() throws IOException {
        Path file = dir.resolve("closed-span.dat");
        try (MappedRegion region = MappedRegion.builder(file).size(1 << 16).handler(WriteFaultHandler.none()).open()) {
            WriteSpan span = region.write(8192 + 8, 16);
            span.close();
            IllegalStateException e = assertThrows(IllegalStateException.class, span::segment);
            assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("offset 8200")
                    && e.getMessage().contains("page 2") && e.getMessage().contains("closed"), e.getMessage());
            region.putLong(8200, 1); // the region goes on
            assertEquals(1, region.getLong(8200));
        }
    }

    /**
     * A put whose source segment, or a get whose destination, belongs to a closed arena or to another
     * thread's confined one: the JDK's exception type, saying which call, file, offset and page; nothing
     * written, and the region goes on. Before, the JDK's own message named none of them.
     */
    @Test
    void shouldNameTheRegionWhenTheCallersSegmentCannotBeUsed() throws Exception {
        Path file = dir.resolve("segments.dat");
        try (MappedRegion region = MappedRegion.builder(file).size(1 << 16).handler(WriteFaultHandler.none())
                .open(); RegionWriter writer = region.writer()) {
            region.putLong(4096, 1);
            java.lang.foreign.Arena closed = java.lang.foreign.Arena.ofShared();
            java.lang.foreign.MemorySegment gone = closed.allocate(8);
            closed.close();
            java.lang.foreign.MemorySegment foreign;
            java.util.concurrent.ExecutorService other = java.util.concurrent.Executors.newSingleThreadExecutor();
            try {
                foreign = other.submit(() -> java.lang.foreign.Arena.ofConfined().allocate(8)).get();
                for (long offset : new long[] {4096, 8192}) { // a prepared page (the fast path), a clean one
                    String where = "offset " + offset;
                    assertSegmentRefused(IllegalStateException.class, () -> region.put(offset, gone), file, where);
                    assertSegmentRefused(IllegalStateException.class, () -> writer.put(offset, gone), file, where);
                    assertSegmentRefused(IllegalStateException.class, () -> region.get(offset, gone), file, where);
                    assertSegmentRefused(WrongThreadException.class, () -> region.put(offset, foreign), file, where);
                    assertSegmentRefused(WrongThreadException.class, () -> region.get(offset, foreign), file, where);
                }
            } finally {
                other.shutdown();
            }
            assertEquals(1, region.getLong(4096));
            region.putLong(8192, 2);
            assertEquals(2, region.getLong(8192));
        }
    }

    /**
     * As above, on tmpfs with a handler that keeps written-back pages prepared: a read of a page no write
     * prepared goes through the file under the region lock ({@code pread}), not the fast path, and there the
     * JDK's exception for the destination used to come out bare, without file, offset or page.
     */
    @Test
    void shouldNameTheRegionWhenTheCallersSegmentCannotBeUsedForAReadThroughTheFile() throws Exception {
        Path shm = Path.of("/dev/shm");
        assumeTrue(Files.isDirectory(shm) && Files.getFileStore(shm).type().equals("tmpfs"), "needs a tmpfs at /dev/shm");
        Path file = Files.createTempFile(shm, "mkwrite-segments", ".dat");
        TrackingHandler handler = new TrackingHandler();
        handler.preparesOverwrites = false; // pages stay prepared: reads of holes on tmpfs go through the file
        java.util.concurrent.ExecutorService other = java.util.concurrent.Executors.newSingleThreadExecutor();
        try (MappedRegion region = MappedRegion.builder(file).size(1 << 16).handler(handler).open()) {
            assumeTrue(RegionHandle.regionOf(region).readsHolesThroughTheFile(), "reads through the mapping here");
            java.lang.foreign.Arena closed = java.lang.foreign.Arena.ofShared();
            java.lang.foreign.MemorySegment gone = closed.allocate(8);
            closed.close();
            java.lang.foreign.MemorySegment foreign =
                    other.submit(() -> java.lang.foreign.Arena.ofConfined().allocate(8)).get();
            assertSegmentRefused(IllegalStateException.class, () -> region.get(8192, gone), file, "offset 8192");
            assertSegmentRefused(WrongThreadException.class, () -> region.get(8192, foreign), file, "offset 8192");
            region.putLong(8192, 2);
            assertEquals(2, region.getLong(8192));
        } finally {
            other.shutdown();
            Files.deleteIfExists(file);
        }
    }

    private static void assertSegmentRefused(Class<? extends RuntimeException> type, Runnable call, Path file,
            String where) {
        RuntimeException e = assertThrows(type, call::run);
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains(where)
                && e.getMessage().contains("segment cannot be used"), e.getMessage());
    }

    @Test
    void shouldSayAMissingFileWasNotToBeCreated() {
        Path file = dir.resolve("missing.dat");
        NoSuchFileException e = assertThrows(NoSuchFileException.class, () ->
                MappedRegion.builder(file).create(false).handler(WriteFaultHandler.none()).open());
        assertTrue(e.getMessage().contains("create(false)"), e.getMessage());
    }

    @Test
    void shouldSayTheRegionNeedsWriteAccess() throws IOException {
        assumeFalse("root".equals(System.getProperty("user.name")), "root may write any file: nothing to deny");
        Path file = Files.createFile(dir.resolve("read-only.dat"), PosixFilePermissions.asFileAttribute(
                PosixFilePermissions.fromString("r--r--r--")));
        AccessDeniedException e = assertThrows(AccessDeniedException.class, () ->
                MappedRegion.builder(file).size(4096).handler(WriteFaultHandler.none()).open());
        assertTrue(e.getMessage().contains("read and write"), e.getMessage());
    }

    @Test
    void shouldNameTheFileOnceWhenAHandlerWrapsAWriteFaultException() throws IOException {
        WriteFaultHandler handler = fault -> {
            throw new UncheckedIOException(new IOException("inner",
                    new NoSpaceException("inner no space", fault.path(), fault.offset(), fault.page())));
        };
        WriteFaultHandler wrapping = fault -> {
            throw new IllegalStateException(new NoSpaceException("wrapped", fault.path(), fault.offset(), fault.page()));
        };
        for (WriteFaultHandler h : new WriteFaultHandler[]{handler, wrapping}) {
            Path file = dir.resolve("wrapped-" + System.identityHashCode(h) + ".dat");
            try (MappedRegion region = MappedRegion.builder(file).size(4096).handler(h).open()) {
                HandlerFailedException e = assertThrows(HandlerFailedException.class, () -> region.putLong(0, 1));
                assertEquals(1, e.getMessage().split("\\[file ", -1).length - 1, e.getMessage());
            }
        }
    }
}
