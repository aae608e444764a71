package dev.mkwrite.impl;

import dev.mkwrite.impl.os.PosixNative;
import dev.mkwrite.impl.storage.ErrnoException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Discards a byte range of a region's file for {@link Region#punchHole}: {@code fallocate(PUNCH_HOLE |
 * KEEP_SIZE)} where native access is enabled and the file system supports it; otherwise zeros written
 * through the region's channel over the parts of the range that are not zero already, so a sparse range
 * stays sparse (the same bytes, but the space of the data is not freed). Stateless and thread-safe.
 *
 * <p>The native call needs a descriptor, and nothing public hands one out of a {@link FileChannel}, so the
 * region opens its file again by path when it opens ({@link #openSameFile}), checks that the descriptor's
 * file is the one its channel opened (by {@code fileKey}, through {@code /proc/self/fd}), and keeps it
 * until it closes. A punch then always reaches the region's file, even after the path was renamed or
 * replaced; without a descriptor, zeros go through the channel.
 */
final class FileHoles {

    private static final Logger LOG = LoggerFactory.getLogger(FileHoles.class);

    /** The unit compared and zeroed by the fallback: a typical file system block. */
    private static final int UNIT = 4096;
    private static final int CHUNK = 1 << 16;
    private static final MemorySegment ZERO_UNIT = MemorySegment.ofArray(new byte[UNIT]);
    private static final AtomicBoolean LOGGED_UNSUPPORTED = new AtomicBoolean();

    private FileHoles() {
    }

    /**
     * Opens the file at {@code path} for the native calls, if it is still the file whose key is
     * {@code fileKey}. The region keeps the descriptor until it closes: closing any descriptor of a file
     * drops every POSIX lock the process holds on it, the region's {@code FileLock} among them.
     *
     * @return the descriptor, or -1 without native access, without a file key, or if the path now names
     *         another file (nothing is left open then)
     */
    static int openSameFile(Path path, Object fileKey) {
        if (!PosixNative.available() || fileKey == null) {
            return -1;
        }
        int fd = PosixNative.open(path);
        if (fd >= 0 && !sameFile(fd, fileKey)) {
            PosixNative.close(fd); // another file: closing it drops no lock of the region's
            return -1;
        }
        return Math.max(fd, -1);
    }

    /**
     * Makes {@code [offset, offset + length)} of the region's file read as zero. Called with the region
     * lock held exclusive and no writer in the range, so nothing races the change.
     *
     * @param fd      the region's native descriptor ({@link #openSameFile}), or -1
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
            if (r != -PosixNative.EOPNOTSUPP && r != -PosixNative.ENOSYS) {
                throw new ErrnoException("fallocate(PUNCH_HOLE)", -r, path, offset, length, null);
            }
            if (LOGGED_UNSUPPORTED.compareAndSet(false, true)) {
                LOG.info("mkwrite: the file system of {} cannot punch holes ({}); punchHole writes zeros"
                        + " over the data instead, which frees no space", path, PosixNative.errnoName(-r));
            }
        }
        zeroData(channel, offset, length);
    }

    /** Whether the descriptor refers to the file whose key is {@code fileKey} (false without /proc). */
    static boolean sameFile(int fd, Object fileKey) {
        try {
            Object key = Files.readAttributes(Path.of("/proc/self/fd/" + fd), BasicFileAttributes.class).fileKey();
            return Objects.equals(key, fileKey);
        } catch (IOException | RuntimeException e) {
            return false; // no /proc: do not risk punching another file
        }
    }

    /** Writes zeros over every unit of the range that is not all zero; reading a hole allocates nothing. */
    static void zeroData(FileChannel channel, long offset, long length) throws IOException {
        ByteBuffer chunk = ByteBuffer.allocateDirect((int) Math.min(CHUNK, length));
        ByteBuffer zeros = ByteBuffer.allocateDirect(UNIT);
        MemorySegment seen = MemorySegment.ofBuffer(chunk);
        long end = offset + length;
        for (long pos = offset; pos < end; ) {
            int want = (int) Math.min(chunk.capacity(), end - pos);
            chunk.clear().limit(want);
            int got = 0;
            while (got < want) {
                int n = channel.read(chunk, pos + got);
                if (n < 0) {
                    break; // past the end of the file: reads as zero already
                }
                got += n;
            }
            for (int u = 0; u < got; u += UNIT) {
                int len = Math.min(UNIT, got - u);
                if (MemorySegment.mismatch(seen, u, u + len, ZERO_UNIT, 0, len) != -1) {
                    zeros.clear().limit(len);
                    while (zeros.hasRemaining()) {
                        channel.write(zeros, pos + u + zeros.position());
                    }
                }
            }
            if (got < want) {
                return;
            }
            pos += want;
        }
    }
}
