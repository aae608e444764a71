package dev.mkwrite;

import java.nio.file.Path;

/**
 * The storage behind a page could not be reserved: the disk, a quota or a budget is full (ENOSPC,
 * EDQUOT). Nothing of the write landed; pages already prepared still take writes, and the same write
 * succeeds once space is freed.
 */
public class NoSpaceException extends WriteFaultException {

    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception; handlers throw it when they find no space.
     *
     * @param reason what is full, with any errno
     * @param path   the region's file
     * @param offset the page's file offset
     * @param page   the page index
     */
    public NoSpaceException(String reason, Path path, long offset, long page) {
        super(reason, path, offset, page, null);
    }

    /**
     * Creates the exception with its cause.
     *
     * @param reason what is full, with any errno
     * @param path   the region's file
     * @param offset the page's file offset
     * @param page   the page index
     * @param cause  the underlying failure
     */
    public NoSpaceException(String reason, Path path, long offset, long page, Throwable cause) {
        super(reason, path, offset, page, cause);
    }

    /**
     * This failure as a {@link NoSpaceIOException}, for a store whose methods declare
     * {@link java.io.IOException}; see {@link WriteFaultException#asIOException()}.
     *
     * @return the checked exception, to throw
     */
    @Override
    public NoSpaceIOException asIOException() {
        return new NoSpaceIOException(this);
    }
}
