package dev.mkwrite;

import java.nio.file.Path;

/**
 * The {@link WriteFaultHandler} threw, or broke the protocol: returned null, returned
 * {@link FaultResult#RETRY} without dropping the lock, or dropped the lock when it may not. The cause
 * says which. Nothing of the write landed, any reservation was released, and the page is CLEAN.
 */
public class HandlerFailedException extends WriteFaultException {

    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param reason what failed
     * @param path   the region's file
     * @param offset the page's file offset
     * @param page   the page index
     * @param cause  what the handler threw, or an {@link IllegalStateException} for a protocol breach
     */
    public HandlerFailedException(String reason, Path path, long offset, long page, Throwable cause) {
        super(reason, path, offset, page, cause);
    }
}
