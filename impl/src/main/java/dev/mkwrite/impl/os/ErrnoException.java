package dev.mkwrite.impl.os;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A system call of mkwrite failed. The message names the call, the errno (number, symbolic name and the C
 * library's description), the file, the byte range and, where there is one, a hint; the accessors give the
 * same facts to code, and {@link Errno#isNoSpace(IOException)} decides by its errno.
 *
 * <p>A storage handler throws it from {@link dev.mkwrite.WriteFaultHandler#prepare}, so the writer sees it
 * as the cause of a {@link dev.mkwrite.HandlerFailedException}, or of a {@link dev.mkwrite.NoSpaceException}
 * for ENOSPC and EDQUOT; {@code MappedRegion.punchHole} throws it as it is. In a package that is not
 * exported: on the module path, code outside mkwrite sees an {@link IOException} with this message.
 * Immutable.
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
     * @param path   the file, or null if the call had none (mmap)
     * @param offset the first byte of the range the call worked on
     * @param length the length of that range
     * @param hint   what the user can do, or null
     */
    public ErrnoException(String call, int errno, Path path, long offset, long length, String hint) {
        super(call + " failed with errno " + errno + " (" + Errno.name(errno) + ": " + Errno.describe(errno) + ")"
                + (path == null ? "" : " for " + path) + " at offset " + offset + ", length " + length
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
        return Errno.name(errno);
    }

    /**
     * The file.
     *
     * @return the path, or null if the call had none or after deserialization
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
