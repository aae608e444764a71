package dev.mkwrite;

import java.nio.file.Path;

/**
 * A write through a {@link MappedRegion} could not be done. Nothing of that write landed, the region is
 * still usable, and every write acknowledged before it is intact.
 *
 * <p>The message names the file, the file offset and the page. The subclasses say why:
 * {@link NoSpaceException}, {@link OutOfRegionException}, {@link RegionClosedException},
 * {@link HandlerFailedException} and {@link FaultInterruptedException}.
 */
public abstract class WriteFaultException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /** The file, or null when unknown. Transient: paths are not serializable. */
    private final transient Path path;
    /** The file offset of the failed write or of the page that could not be prepared. */
    private final long offset;
    /** The page that could not be prepared, or {@code -1}. */
    private final long page;

    /**
     * Creates the exception.
     *
     * @param reason what went wrong, without the location; the location is appended
     * @param path   the region's file
     * @param offset the file offset the write or page started at
     * @param page   the page index, or {@code -1} if the offset lies past every page
     * @param cause  the underlying failure, or null
     */
    protected WriteFaultException(String reason, Path path, long offset, long page, Throwable cause) {
        super(reason + " [file " + path + ", offset " + offset + (page >= 0 ? ", page " + page : "") + "]", cause);
        this.path = path;
        this.offset = offset;
        this.page = page;
    }

    /**
     * The region's file.
     *
     * @return the path, or null after deserialization
     */
    public Path path() {
        return path;
    }

    /**
     * The file offset of the failed write or of the page that could not be prepared.
     *
     * @return the offset
     */
    public long offset() {
        return offset;
    }

    /**
     * The page that could not be prepared, or {@code -1}.
     *
     * @return the page index
     */
    public long page() {
        return page;
    }
}
