package dev.mkwrite.impl;

import dev.mkwrite.impl.os.BlockingIo;
import dev.mkwrite.impl.os.Descriptors;
import dev.mkwrite.impl.os.Errno;
import dev.mkwrite.impl.os.ErrnoException;
import dev.mkwrite.impl.os.FileZeros;
import dev.mkwrite.impl.os.PosixNative;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Discards a byte range of a region's file for {@link Region#punchHole}: {@code fallocate(PUNCH_HOLE |
 * KEEP_SIZE)} where native access is enabled and the file system supports it; otherwise zeros written
 * through the region's channel over the parts of the range that are not zero already
 * ({@link FileZeros#zeroData}), so a sparse range stays sparse (the same bytes, but the space of the data
 * is not freed). Those writes run on an I/O thread ({@link BlockingIo}): an interrupt of the caller must
 * not close the region's channel, which would break the region and drop its file lock. Stateless and
 * thread-safe.
 *
 * <p>The native call needs a descriptor: the region opens one with {@link Descriptors#openSameFile} when
 * it opens and keeps it until it closes. A punch then always reaches the region's file, even after the
 * path was renamed or replaced; without a descriptor, zeros go through the channel.
 */
final class FileHoles {

    private static final Logger LOG = LoggerFactory.getLogger(FileHoles.class);
    private static final AtomicBoolean LOGGED_UNSUPPORTED = new AtomicBoolean();

    private FileHoles() {
    }

    /**
     * Makes {@code [offset, offset + length)} of the region's file read as zero. Called with the region
     * lock held exclusive and no writer in the range, so nothing races the change. An interrupt of the
     * caller during the fallback stops it after the chunk it is in, with
     * {@link java.io.InterruptedIOException}; the range may then be zero in part.
     *
     * @param fd      the region's native descriptor ({@link Descriptors#openSameFile}), or -1
     * @param path    the path the region was opened with, for messages
     * @param channel the region's channel
     */
    static void punch(int fd, Path path, FileChannel channel, long offset, long length) throws IOException {
        if (!PosixNative.available()) {
            PosixNative.logUnavailableOnce("punchHole writes zeros instead of deallocating");
        } else if (fd >= 0) {
            int r = PosixNative.fallocate(fd, PosixNative.FALLOC_FL_PUNCH_HOLE | PosixNative.FALLOC_FL_KEEP_SIZE,
                    offset, length);
            if (r == 0) {
                return;
            }
            if (r != -Errno.EOPNOTSUPP && r != -Errno.ENOSYS) {
                throw new ErrnoException("fallocate(PUNCH_HOLE)", -r, path, offset, length, null);
            }
            if (LOGGED_UNSUPPORTED.compareAndSet(false, true)) {
                LOG.info("mkwrite: the file system of {} cannot punch holes ({}); punchHole writes zeros"
                        + " over the data instead, which frees no space", path, Errno.name(-r));
            }
        }
        zeroData(channel, offset, length);
    }

    /** Writes zeros over every unit of the range that is not all zero, on an I/O thread. */
    static void zeroData(FileChannel channel, long offset, long length) throws IOException {
        BlockingIo.call(cancel -> FileZeros.zeroData(channel, offset, offset + length, cancel));
    }
}
