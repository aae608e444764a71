package dev.mkwrite;

import java.nio.file.Path;

/** The region was closed before or during the write. Nothing of the write landed. */
public class RegionClosedException extends WriteFaultException {

    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param path   the region's file
     * @param offset the offset of the write
     * @param page   the page, or -1
     */
    public RegionClosedException(Path path, long offset, long page) {
        super("region is closed", path, offset, page, null);
    }
}
