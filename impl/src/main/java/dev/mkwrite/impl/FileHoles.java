package dev.mkwrite.impl;

import dev.mkwrite.impl.os.PosixNative;
import dev.mkwrite.impl.storage.ErrnoException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;

/**
 * Discards a byte range of a file for {@link Region#punchHole}: {@code fallocate(PUNCH_HOLE | KEEP_SIZE)}
 * where native access is enabled and the file system supports it, otherwise positional writes of zeros
 * through the region's channel (the same bytes, but no space freed). Stateless and thread-safe.
 */
final class FileHoles {

    private static final int ZEROS = 1 << 16;

    private FileHoles() {
    }

    /**
     * Makes {@code [offset, offset + length)} of the file read as zero. Called with the region lock held
     * exclusive and no writer in the range, so nothing races the change.
     *
     * @return true if the blocks were deallocated, false if the range was overwritten with zeros
     */
    static boolean punch(Path path, FileChannel channel, long offset, long length) throws IOException {
        if (PosixNative.available()) {
            int fd = PosixNative.open(path);
            if (fd < 0) {
                throw new ErrnoException("open", -fd, path, offset, length, "punching a hole");
            }
            try {
                int r = PosixNative.fallocate(fd, PosixNative.FALLOC_FL_PUNCH_HOLE | PosixNative.FALLOC_FL_KEEP_SIZE,
                        offset, length);
                if (r == 0) {
                    return true;
                }
                if (r != -PosixNative.EOPNOTSUPP && r != -PosixNative.ENOSYS) {
                    throw new ErrnoException("fallocate(PUNCH_HOLE)", -r, path, offset, length, null);
                }
            } finally {
                PosixNative.close(fd);
            }
        } else {
            PosixNative.logUnavailableOnce("punchHole writes zeros instead of deallocating");
        }
        writeZeros(channel, offset, length);
        return false;
    }

    private static void writeZeros(FileChannel channel, long offset, long length) throws IOException {
        ByteBuffer zeros = ByteBuffer.allocateDirect((int) Math.min(ZEROS, length));
        long done = 0;
        while (done < length) {
            zeros.clear().limit((int) Math.min(zeros.capacity(), length - done));
            while (zeros.hasRemaining()) {
                done += channel.write(zeros, offset + done);
            }
        }
    }
}
