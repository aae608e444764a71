package dev.mkwrite;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Objects;

/**
 * Describes a {@link MappedRegion} to open. Obtained from {@link MappedRegion#builder(Path)}; not
 * thread-safe; {@link #open()} may be called more than once to open several regions over different
 * handlers or files.
 */
public final class RegionBuilder {

    private final Path path;
    private long size = -1;
    private int pageSize;
    private Backing backing = Backing.MEMORY_SEGMENT;
    private WriteFaultHandler handler;
    private boolean create = true;
    private long dirtyLimit;
    private boolean stablePages;
    private long prepareAhead;
    private java.nio.ByteOrder byteOrder = java.nio.ByteOrder.LITTLE_ENDIAN;

    RegionBuilder(Path path) {
        this.path = Objects.requireNonNull(path, "path");
    }

    /**
     * The size the region starts with. A shorter file is extended sparsely; a longer file keeps its
     * length and the region covers all of it. Without this, the region has the file's size.
     *
     * @param bytes the size, zero or more
     * @return this builder
     * @throws IllegalArgumentException if {@code bytes} is negative
     */
    public RegionBuilder size(long bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("region size must be >= 0, was " + bytes + " for " + path);
        }
        this.size = bytes;
        return this;
    }

    /**
     * The unit of preparation: one handler call per page. A power of two, at least the operating
     * system's page size, at most 1 GiB. Default: the operating system's page size.
     *
     * @param bytes the page size
     * @return this builder
     * @throws IllegalArgumentException if {@code bytes} is not a power of two or above 1 GiB
     */
    public RegionBuilder pageSize(int bytes) {
        if (bytes <= 0 || Integer.bitCount(bytes) != 1 || bytes > 1 << 30) {
            throw new IllegalArgumentException(
                    "page size must be a power of two up to 1 GiB, was " + bytes + " for " + path);
        }
        this.pageSize = bytes;
        return this;
    }

    /**
     * How to map the file. Default: {@link Backing#MEMORY_SEGMENT}.
     *
     * @param backing the backing
     * @return this builder
     * @throws NullPointerException if {@code backing} is null, naming the file
     */
    public RegionBuilder backing(Backing backing) {
        if (backing == null) { // not a lambda: no invokedynamic on a cold start's path (row 8)
            throw new NullPointerException("backing(null) for " + path);
        }
        this.backing = backing;
        return this;
    }

    /**
     * The handler that prepares each page before its first write. Required; use
     * {@link WriteFaultHandler#none()} for none.
     *
     * @param handler the handler
     * @return this builder
     * @throws NullPointerException if {@code handler} is null, naming the file
     */
    public RegionBuilder handler(WriteFaultHandler handler) {
        if (handler == null) {
            throw new NullPointerException("handler(null) for " + path + ": use WriteFaultHandler.none() for none");
        }
        this.handler = handler;
        return this;
    }

    /**
     * Whether to create the file if it does not exist. Default: {@code true}.
     *
     * @param create {@code false} to require an existing file
     * @return this builder
     */
    public RegionBuilder create(boolean create) {
        this.create = create;
        return this;
    }

    /**
     * Dirty throttling (rule K10): a writer whose fault would take the region above {@code bytes} of
     * WRITABLE pages first writes back the region and waits for it, with no region lock held. Zero, the
     * default, means no limit. Once a force of the region has failed (final: see
     * {@link MappedRegion#flush(long, long)}), the limit no longer applies.
     *
     * @param bytes the limit, zero for none
     * @return this builder
     * @throws IllegalArgumentException if {@code bytes} is negative
     */
    public RegionBuilder dirtyLimit(long bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("dirty limit must be >= 0, was " + bytes + " for " + path);
        }
        this.dirtyLimit = bytes;
        return this;
    }

    /**
     * The file.
     *
     * @return the path
     */
    public Path path() {
        return path;
    }

    /**
     * The requested size, or {@code -1} for the file's size.
     *
     * @return the size
     */
    public long size() {
        return size;
    }

    /**
     * The requested page size, or {@code 0} for the operating system's.
     *
     * @return the page size
     */
    public int pageSize() {
        return pageSize;
    }

    /**
     * The backing.
     *
     * @return the backing
     */
    public Backing backing() {
        return backing;
    }

    /**
     * The handler, or {@code null} if none was given.
     *
     * @return the handler
     */
    public WriteFaultHandler handler() {
        return handler;
    }

    /**
     * Whether a missing file is created.
     *
     * @return the flag
     */
    public boolean create() {
        return create;
    }

    /**
     * Stable pages, as the kernel gives them to devices that checksum data in flight: a writer waits
     * while its page is under writeback, so {@link WriteFaultHandler#beforeWriteback} sees exactly the
     * bytes that reach the disk. Off by default: then a write into a page under writeback goes ahead,
     * the page stays dirty, and the next flush writes it again, so no write is lost and dirty ranges stay
     * exact, and writers never wait for a flush. A handler asks for them with
     * {@link WriteFaultHandler#needsStablePages()}.
     *
     * @param stable whether writers wait for writeback
     * @return this builder
     */
    public RegionBuilder stablePages(boolean stable) {
        this.stablePages = stable;
        return this;
    }

    /**
     * The byte order of the region's typed accessors ({@code putInt}, {@code getLong}...) and of every
     * buffer it hands out ({@link WriteSpan#buffer()}, {@link MappedRegion#viewBuffer}): one order for
     * the whole file format. Little-endian by default.
     *
     * @param order the byte order
     * @return this builder
     * @throws NullPointerException if {@code order} is null, naming the file
     */
    public RegionBuilder byteOrder(java.nio.ByteOrder order) {
        if (order == null) {
            throw new NullPointerException("byteOrder(null) for " + path);
        }
        this.byteOrder = order;
        return this;
    }

    /**
     * The byte order of the typed accessors and buffers.
     *
     * @return the byte order
     */
    public java.nio.ByteOrder byteOrder() {
        return byteOrder;
    }

    /**
     * Prepare-ahead: readahead, applied to writes. When writers fault pages in order, a background thread
     * prepares the next {@code bytes} of the region before they reach them (as {@link MappedRegion#prepare}
     * does: the handler runs for each page, and with native access the page tables are populated), so a
     * sequential writer meets neither an mkwrite fault nor a kernel fault. A writer that catches up with
     * the thread and faults inside that window plans the next {@code bytes} at once, as the kernel's
     * readahead starts its next read at a marker page, so the thread works while the writer runs through
     * what it prepared: up to twice {@code bytes} ahead of the last fault are prepared, and a writer that
     * stops leaves that much prepared (its storage reserved) past its last write. Random writes plan
     * nothing. The background thread never waits: a page it cannot prepare at once is left to its writer.
     * Zero, the default, turns it off.
     *
     * @param bytes the window: how far ahead of the last fault to prepare, zero for none
     * @return this builder
     * @throws IllegalArgumentException if {@code bytes} is negative
     */
    public RegionBuilder prepareAhead(long bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("prepare-ahead must be >= 0, was " + bytes + " for " + path);
        }
        this.prepareAhead = bytes;
        return this;
    }

    /**
     * How far ahead of sequential writers the region prepares pages.
     *
     * @return bytes, zero for none
     */
    public long prepareAhead() {
        return prepareAhead;
    }

    /**
     * Whether stable pages were asked for here (the handler may ask for them too).
     *
     * @return true if writers wait for writeback
     */
    public boolean stablePages() {
        return stablePages;
    }

    /**
     * The dirty limit in bytes, zero for none.
     *
     * @return the limit
     */
    public long dirtyLimit() {
        return dirtyLimit;
    }

    /**
     * Opens the region with the implementation found on the class or module path.
     *
     * <p>Opening a file that is already open in this JVM returns a new handle on the open region instead
     * of a second region, provided the backing, page size, handler instance, dirty limit, stable pages,
     * byte order and prepare-ahead are the same (a larger size grows the region; a smaller one or none
     * leaves it as it is); otherwise it throws IllegalStateException naming the file and the setting.
     * Each handle is closed on its own, and closing the last one closes the region (see
     * {@link MappedRegion}, "Opening a file more than once").
     *
     * @return a handle on the open region
     * @throws IOException              if the file cannot be opened, extended or mapped
     * @throws IllegalStateException    if no handler was given, no implementation is on the path, or the
     *                                  file is open in this JVM with other settings
     * @throws IllegalArgumentException if the size does not fit the backing or the page size is below
     *                                  the operating system's
     */
    public MappedRegion open() throws IOException {
        if (handler == null) {
            throw new IllegalStateException("no WriteFaultHandler given for " + path
                    + "; pass one to handler(...), or WriteFaultHandler.none() for none");
        }
        return Providers.provider().open(this);
    }
}
