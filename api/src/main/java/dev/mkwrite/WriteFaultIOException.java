package dev.mkwrite;

import java.nio.file.FileSystemException;
import java.nio.file.Path;

/**
 * A {@link WriteFaultException} as a checked {@link java.io.IOException}, for a store whose methods declare
 * {@code IOException}: obtained from {@link WriteFaultException#asIOException()}. Its cause is the
 * {@link WriteFaultException} ({@link #getCause()} returns it typed), its {@linkplain #getFile() file} is
 * the region's file, and its message is the cause's, which names the file, the offset and the page.
 *
 * <p>Its type tells the failures apart as a store's callers need: {@link NoSpaceIOException} for a full
 * disk, quota or budget; this class for the rest (the region was closed, the handler failed, the thread
 * was interrupted, the range lies past the end). Like every {@link FileSystemException} it is an
 * {@code IOException} about one file, so a catch written for {@code FileChannel}'s failures catches it
 * too.
 */
public class WriteFaultIOException extends FileSystemException {

    private static final long serialVersionUID = 1L;

    /** The cause, kept here: {@link FileSystemException} has no constructor that takes one. */
    private final WriteFaultException fault;

    /**
     * Wraps {@code cause}.
     *
     * @param cause the write's failure; not null
     */
    public WriteFaultIOException(WriteFaultException cause) {
        super(fileName(cause.path()), null, cause.getMessage());
        this.fault = cause;
    }

    private static String fileName(Path path) {
        return path == null ? null : path.toString();
    }

    /**
     * The failure of the write, which carries its {@linkplain WriteFaultException#offset() offset} and
     * {@linkplain WriteFaultException#page() page}.
     *
     * @return the {@link WriteFaultException} this wraps
     */
    @Override
    public WriteFaultException getCause() {
        return fault;
    }

    /**
     * The message of the write's failure: what went wrong, then the file, the offset and the page.
     *
     * @return the message
     */
    @Override
    public String getMessage() {
        return getReason();
    }
}
