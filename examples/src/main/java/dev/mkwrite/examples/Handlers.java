package dev.mkwrite.examples;

import dev.mkwrite.WriteFaultHandler;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Every storage handler the examples use is made here, so that switching to mkwrite's built-in handlers
 * is a change to this one class.
 *
 * <p>TODO(storage): the built-in handlers (fallocate, populate, zero-fill, quota, prepare-ahead in
 * {@code dev.mkwrite.impl.storage}) are being written on another branch. Until they are merged,
 * {@link #preparedSpace} is a small zero-fill handler of the examples' own ({@link ZeroFillSpace}): it
 * reserves a granule by writing zeros through a {@code FileChannel}, the portable stand-in for
 * {@code fallocate}. Once they land, {@link #preparedSpace} becomes the built-in fallocate handler
 * wrapped in the built-in prepare-ahead, and {@link ZeroFillSpace} is deleted.
 */
public final class Handlers {

    private Handlers() {
    }

    /**
     * A handler that reserves real storage for {@code file} before each page's first write, one granule
     * at a time, and, when {@code aheadGranules > 0}, prepares that many granules past the one a write
     * faulted in on a background thread. A full disk then surfaces as
     * {@link dev.mkwrite.NoSpaceException} at the write that needed the space, never as a crash at a
     * store.
     *
     * <p>The file must only grow while the handler is in use (the examples never truncate). Space that
     * existed before the handler was made is treated as unprepared, so use it on new files.
     *
     * @param file          the region's file; created if missing
     * @param granule       bytes reserved at a time: a power of two, at least 4 KiB
     * @param aheadGranules granules to prepare ahead of the writers; 0 for none
     * @return the handler; close it after the region
     * @throws IOException if the file cannot be opened
     */
    public static SpaceHandler preparedSpace(Path file, int granule, int aheadGranules) throws IOException {
        return new ZeroFillSpace(file, granule, aheadGranules);
    }

    /**
     * The handler that prepares nothing: a region with it behaves like a raw mapping with exact dirty
     * tracking and stable pages, and does not protect from a full disk.
     *
     * @return {@link WriteFaultHandler#none()}
     */
    public static WriteFaultHandler none() {
        return WriteFaultHandler.none();
    }
}
