package dev.mkwrite.impl;

import dev.mkwrite.StorageFile;
import dev.mkwrite.impl.os.BlockingIo;
import dev.mkwrite.impl.os.Errno;
import dev.mkwrite.impl.os.ErrnoException;
import dev.mkwrite.impl.os.FileZeros;
import dev.mkwrite.impl.os.LazyLogger;
import dev.mkwrite.impl.os.NativeAccess;
import dev.mkwrite.impl.os.PosixNative;
import dev.mkwrite.impl.os.SharedFile;

import java.io.IOException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Discards a byte range of a region's file for {@link Region#punchHole}: {@code fallocate(PUNCH_HOLE |
 * KEEP_SIZE)} where native access is enabled and the file system supports it; otherwise zeros written
 * through the region's file over the parts of the range that are not zero already
 * ({@link FileZeros#zeroData}), so a sparse range stays sparse (the same bytes, but the space of the data
 * is not freed). Those writes run on an I/O thread ({@link BlockingIo}), so an interrupt of the caller
 * stops them between chunks and never closes the region's channel. Stateless and thread-safe.
 *
 * <p>Both go through the region's own descriptors ({@link SharedFile}), so a punch always reaches the
 * region's file, even after the path was renamed or replaced.
 */
final class FileHoles {

    private static final LazyLogger LOG = new LazyLogger(FileHoles.class);
    private static final AtomicBoolean LOGGED_UNSUPPORTED = new AtomicBoolean();

    private FileHoles() {
    }

    /**
     * Makes {@code [offset, offset + length)} of the region's file read as zero. Called with the region
     * lock held exclusive and no writer in the range, so nothing races the change. An interrupt of the
     * caller during the fallback stops it after the chunk it is in, with
     * {@link java.io.InterruptedIOException}; the range may then be zero in part.
     *
     * @param file the region's file
     */
    static void punch(SharedFile file, long offset, long length) throws IOException {
        if (!NativeAccess.available()) {
            NativeAccess.logUnavailableOnce("punchHole writes zeros instead of deallocating");
        } else {
            StorageFile.Outcome done = file.punchHole(offset, length);
            if (done == StorageFile.Outcome.DONE) {
                return;
            }
            if (done != StorageFile.Outcome.UNSUPPORTED) {
                throw refused("fallocate(PUNCH_HOLE)", done, file, offset, length);
            }
            if (LOGGED_UNSUPPORTED.compareAndSet(false, true)) {
                LOG.get().info("mkwrite: the file system of {} cannot punch holes; punchHole writes zeros over the data"
                        + " instead, which frees no space", file.path());
            }
        }
        zeroData(file, offset, length);
    }

    /**
     * Makes {@code [offset, offset + length)} of the region's file read as zero and keeps its blocks
     * ({@link SharedFile#zeroRange}), for the parts of a punch that cut a folio unit ({@code Resizing}); where
     * the file system cannot (tmpfs, whose faults allocate no blocks beside a page), or without native access,
     * {@link #punch}es it. Called as {@link #punch} is.
     */
    static void zeroInPlace(SharedFile file, long offset, long length) throws IOException {
        if (NativeAccess.available()) {
            StorageFile.Outcome done = file.zeroRange(offset, length);
            if (done == StorageFile.Outcome.DONE) {
                return;
            }
            if (done != StorageFile.Outcome.UNSUPPORTED) {
                throw refused("fallocate(ZERO_RANGE)", done, file, offset, length);
            }
        }
        punch(file, offset, length);
    }

    /** A fallocate the disk or the quota refused. */
    private static ErrnoException refused(String call, StorageFile.Outcome done, SharedFile file, long offset,
                                          long length) {
        return new ErrnoException(call, done == StorageFile.Outcome.NO_SPACE ? Errno.ENOSPC : Errno.EDQUOT, file.path(),
                offset, length, null);
    }

    /** Writes zeros over every unit of the range that is not all zero, on an I/O thread. */
    static void zeroData(StorageFile file, long offset, long length) throws IOException {
        BlockingIo.call(cancel -> FileZeros.zeroData(file, offset, offset + length, cancel));
    }
}
