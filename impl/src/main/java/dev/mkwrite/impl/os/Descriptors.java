package dev.mkwrite.impl.os;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Objects;

/**
 * Native descriptors of files that Java already opened as channels. Nothing public hands a descriptor out
 * of a {@link java.nio.channels.FileChannel}, so a native call on a region's file needs the file opened
 * again by path, and a check that the path still names the file the channel opened. Stateless and
 * thread-safe.
 */
public final class Descriptors {

    private Descriptors() {
    }

    /**
     * Opens the file at {@code path} for native calls, if it is still the file whose key is
     * {@code fileKey} (as {@link BasicFileAttributes#fileKey()} gave it when the channel was opened). Keep
     * the descriptor until the channel closes: closing any descriptor of a file drops every POSIX lock the
     * process holds on it, the channel's {@code FileLock} among them.
     *
     * @param path    the file
     * @param fileKey its key, read just after opening the channel
     * @return the descriptor, or -1 without native access, without a file key, or if the path now names
     *         another file (nothing is left open then)
     */
    public static int openSameFile(Path path, Object fileKey) {
        if (!NativeAccess.available() || fileKey == null) {
            return -1;
        }
        int fd = PosixNative.open(path);
        if (fd >= 0 && !isSameFile(fd, fileKey)) {
            PosixNative.close(fd); // another file: closing it drops no lock of the caller's
            return -1;
        }
        return Math.max(fd, -1);
    }

    /**
     * Whether the descriptor refers to the file whose key is {@code fileKey}, through
     * {@code /proc/self/fd}.
     *
     * @param fd      a descriptor
     * @param fileKey a file key
     * @return true if it does; false if not, or without {@code /proc} (never risk the wrong file)
     */
    public static boolean isSameFile(int fd, Object fileKey) {
        try {
            Object key = Files.readAttributes(Path.of("/proc/self/fd/" + fd), BasicFileAttributes.class).fileKey();
            return Objects.equals(key, fileKey);
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }
}
