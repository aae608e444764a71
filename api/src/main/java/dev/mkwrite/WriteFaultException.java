package dev.mkwrite;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A write through a {@link MappedRegion} could not be done. Nothing of that write landed, the region is
 * still usable, and every write acknowledged before it is intact.
 *
 * <p>The message names the file, the file offset and the page. The subclasses say why:
 * {@link NoSpaceException}, {@link OutOfRegionException}, {@link RegionClosedException},
 * {@link HandlerFailedException} and {@link FaultInterruptedException}.
 *
 * <h2>In a store that declares {@code IOException}</h2>
 * This exception is unchecked, so that a write at raw memory speed needs no {@code try}. A store whose
 * own methods declare {@code IOException} turns it into one with {@link #asIOException()}, once, at its
 * boundary: one {@code catch} in each public method of the store covers every region call inside it,
 * however deep.
 * <pre>{@code
 * public long append(ByteBuffer record) throws IOException {       // the store's own API
 *     try {
 *         long position = reserve(record.remaining());             // any number of region calls
 *         log.put(position, record);
 *         index.putLong(slot(position), position);
 *         return position;
 *     } catch (WriteFaultException e) {
 *         throw e.asIOException();       // NoSpaceIOException for a full disk, WriteFaultIOException else
 *     }
 * }
 * }</pre>
 * The store's callers then tell a full disk apart by type ({@link NoSpaceIOException}), or, if they were
 * written for {@code FileChannel}, by the message, which starts like the JDK's:
 * {@value NoSpaceIOException#NO_SPACE}. Both are {@link java.nio.file.FileSystemException}s naming the
 * region's file, and the cause is this exception, with its offset and page.
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

    /**
     * This failure as a checked exception, for a store whose methods declare {@link IOException}: a
     * {@link NoSpaceIOException} for a {@link NoSpaceException}, otherwise a {@link WriteFaultIOException}.
     * Either has this exception as its cause, the region's file as its
     * {@linkplain java.nio.file.FileSystemException#getFile() file} and this message. A new object at each
     * call; the region is not involved, so it may be called anywhere, at any time.
     *
     * @return the checked exception, to throw
     */
    public WriteFaultIOException asIOException() {
        return new WriteFaultIOException(this);
    }
}
