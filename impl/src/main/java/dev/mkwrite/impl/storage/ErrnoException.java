package dev.mkwrite.impl.storage;

import dev.mkwrite.impl.os.PosixNative;
import java.io.IOException;
import java.nio.file.Path;

/**
 * A system call of a storage handler failed with an {@code errno} other than "no space". The message
 * names the call, the errno (number, symbolic name and the C library's description), the file, the byte
 * range and, where there is one, a hint; the accessors give the same facts to code.
 *
 * <p>A handler throws it from {@link dev.mkwrite.WriteFaultHandler#prepare}, so the writer sees it as the
 * cause of a {@link dev.mkwrite.HandlerFailedException}; no space (ENOSPC, EDQUOT) is reported as
 * {@link dev.mkwrite.NoSpaceException} instead. Immutable.
 */
public class ErrnoException extends IOException {

    private static final long serialVersionUID = 1L;

    private final String call;
    private final int errno;
    private final transient Path path;
    private final long offset;
    private final long length;

    /**
     * Creates the exception.
     *
     * @param call   the system call, e.g. {@code fallocate}
     * @param errno  the errno, positive
     * @param path   the file
     * @param offset the first byte of the range the call worked on
     * @param length the length of that range
     * @param hint   what the user can do, or null
     */
    public ErrnoException(String call, int errno, Path path, long offset, long length, String hint) {
        super(call + " failed with errno " + errno + " (" + PosixNative.errnoName(errno) + ": "
                + PosixNative.describe(errno) + ") for " + path + " at offset " + offset + ", length " + length
                + (hint == null ? "" : "; " + hint));
        this.call = call;
        this.errno = errno;
        this.path = path;
        this.offset = offset;
        this.length = length;
    }

    /**
     * The system call that failed.
     *
     * @return its name
     */
    public String call() {
        return call;
    }

    /**
     * The errno the call reported.
     *
     * @return the errno, positive
     */
    public int errno() {
        return errno;
    }

    /**
     * The symbolic name of {@link #errno()}, such as {@code EIO}.
     *
     * @return the name
     */
    public String errnoName() {
        return PosixNative.errnoName(errno);
    }

    /**
     * The file.
     *
     * @return the path, or null after deserialization
     */
    public Path path() {
        return path;
    }

    /**
     * The first byte of the range the call worked on.
     *
     * @return the file offset
     */
    public long offset() {
        return offset;
    }

    /**
     * The length of the range the call worked on.
     *
     * @return bytes
     */
    public long length() {
        return length;
    }
}
