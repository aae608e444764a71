package dev.mkwrite;

import java.nio.file.Path;

/**
 * The writing thread was interrupted while its fault waited: for the region lock, for writeback, for
 * another writer's preparation, or inside the handler. Nothing of the write landed and the fault left no
 * state behind. The thread's interrupt status is set again when this is thrown.
 */
public class FaultInterruptedException extends WriteFaultException {

    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param path   the region's file
     * @param offset the page's file offset
     * @param page   the page index
     * @param cause  the interruption, or null
     */
    public FaultInterruptedException(Path path, long offset, long page, Throwable cause) {
        super("interrupted while waiting in a write fault", path, offset, page, cause);
    }
}
