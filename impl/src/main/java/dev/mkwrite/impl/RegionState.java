package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.OutOfRegionException;
import dev.mkwrite.RegionClosedException;
import dev.mkwrite.StorageFile;
import dev.mkwrite.impl.os.PosixNative;
import dev.mkwrite.impl.os.SharedFile;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * What every part of a region reads: its file's name and page geometry, the region lock, the page-state
 * table, the wait queue, the statistics, and the four fields an exclusive operation changes (the mapping,
 * the size, the page count, closed) with the epoch. The parts share this object instead of calling back
 * into {@link Region}; nothing here knows the parts.
 *
 * <p>Ordering: {@link #mapping}, {@link #size}, {@link #pageCount} and {@link #closed} are written only
 * with the region lock held exclusive, and are volatile because the lock-free fast path reads them.
 * {@link Reads#memory}, their digest for lock-free reads, is republished after every change of them
 * ({@link #publishReads}). {@link #epoch} is plain: it is written under the exclusive lock and read under
 * the shared one.
 */
final class RegionState {

    /**
     * Generations are drawn from one counter per JVM, so that a handler shared by several regions, or by
     * successive regions over one file, never sees a generation reused for a page.
     */
    private static final AtomicLong EPOCHS = new AtomicLong();

    final Path path;
    /** The region's file, which its handler reaches through {@link Fault#file()}. */
    final StorageFile file;
    final Backing backing;
    final int pageSize;
    final int pageShift;
    /**
     * Stable pages (K8): writers wait while their page is under writeback, so the handler's
     * {@code beforeWriteback} sees exactly what reaches the disk. Without them a write during writeback
     * goes ahead and the page stays dirty (REDIRTIED) for the next flush.
     */
    final boolean stablePages;
    /**
     * Whether a flush leaves the pages it wrote back PREPARED (kept) rather than CLEAN: the handler said an
     * overwrite needs no preparing ({@code WriteFaultHandler.preparesOverwrites}, asked once, at open).
     */
    final boolean keepsPrepared;
    /**
     * Whether the reads of this region read the pages no write has prepared through the file: the file is
     * on tmpfs, where a read fault on a hole allocates memory (and on a full tmpfs dies with SIGBUS,
     * {@code InternalError}), and its handler keeps written pages prepared ({@link #keepsPrepared}, as the
     * storage handlers do there), so that only pages no write prepared since the region opened pay a
     * {@code pread} ({@link Reads}). With a handler that does not, a written-back page would pay it on every
     * read, and the writes themselves are not protected from a full tmpfs: such a region reads through the
     * mapping, as a raw mapping does.
     */
    final boolean holesAllocateOnRead;
    /** The region lock: shared by faults, flush's scan and reads; exclusive for grow, truncate, punch, close. */
    final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    final PageTable table;
    final Waiters waiters = new Waiters();
    final Counters counters = new Counters();

    // Written only under the exclusive lock; volatile because the fast path reads them without it.
    volatile Mapping mapping;
    /**
     * The mapping's memory, {@code mapping.segment()}: what the writes store into, one dependent load
     * nearer. Written with {@link #mapping}, right after it.
     */
    volatile MemorySegment memory;
    volatile long size;
    volatile long pageCount;
    volatile boolean closed;
    /**
     * Set by a close whose final writeback failed, before it lets go of the lock: a flush that waited for
     * another's writeback and finds the region closed may not take the close's writeback for its own.
     */
    volatile boolean closeWritebackFailed;
    /**
     * The first failure to force the region's pages to storage, named, or null ({@link #forceFailed}).
     * Sticky: Linux reports a failed writeback once per open file, and marks clean the pages it could not
     * write, so a later force of the same pages succeeds though their data never reached the disk (what
     * PostgreSQL met as "fsyncgate"). From then on every flush, and the close, says so.
     */
    private final java.util.concurrent.atomic.AtomicReference<IOException> forceFailure =
            new java.util.concurrent.atomic.AtomicReference<>();
    /**
     * Held shared around each force of the region's pages and the recording of its failure; a flush takes
     * it exclusive for a moment after its own forces, to wait for those that ran beside them
     * ({@code Writeback.force}). Nothing else is taken under it.
     */
    final java.util.concurrent.locks.ReentrantReadWriteLock forces = new java.util.concurrent.locks.ReentrantReadWriteLock();
    /** A test's failure for the next force of the region's pages ({@link Region#failNextForceForTests}), or null. */
    volatile IOException nextForceFailureForTests;
    /**
     * The reads without the lock, and what they read through ({@link Reads#memory}), which this state
     * publishes whenever the mapping, the size or closed changes.
     */
    final Reads reads;
    /** The generation of new chunks and of pages changed by the latest resize or punch. Guarded by lock. */
    private long epoch = EPOCHS.incrementAndGet();

    /**
     * A state with no file and no mapping: only the page table of {@code size} bytes and what the pins use
     * with it (the lock, the waiters, the epoch). For the jcstress suite's tests of the pins alone
     * (Protocol_09_HazardPin.Bare); no region is built over it, and nothing may read, write, resize or close
     * through it. With no mapping there is nothing to read, so it publishes no reads. Its backing and stable
     * pages are placeholders, which the pins do not read.
     */
    static RegionState bare(Path path, int pageSize, long size) {
        return new RegionState(path, null, Backing.MEMORY_SEGMENT, pageSize, true, false, null, size,
                ByteOrder.nativeOrder());
    }

    RegionState(Path path, StorageFile file, Backing backing, int pageSize, boolean stablePages, boolean keepsPrepared,
                Mapping mapping, long size, ByteOrder order) {
        this.path = path;
        this.file = file;
        this.stablePages = stablePages;
        this.keepsPrepared = keepsPrepared;
        this.holesAllocateOnRead = keepsPrepared && holesAllocateOnRead(file, path);
        this.backing = backing;
        this.pageSize = pageSize;
        this.pageShift = Integer.numberOfTrailingZeros(pageSize);
        this.mapping = mapping;
        this.memory = mapping == null ? null : mapping.segment();
        this.size = size;
        this.pageCount = pagesFor(size);
        this.table = new PageTable(pageCount);
        this.reads = new Reads(this, order);
        if (mapping != null) { // null only in bare(): nothing to read, so no reads to publish
            publishReads();
        }
    }

    /**
     * Whether {@code file} is on tmpfs, where a read fault on a hole allocates a page: asked of its native
     * descriptor ({@code fstatfs}, microseconds), else of its file store (the mount table). False for no file.
     */
    private static boolean holesAllocateOnRead(StorageFile file, Path path) {
        if (file == null) {
            return false;
        }
        if (file instanceof SharedFile shared && shared.fd() >= 0) {
            return PosixNative.filesystemTypeOf(shared.fd()) == PosixNative.TMPFS_MAGIC;
        }
        try {
            return "tmpfs".equals(Files.getFileStore(path).type());
        } catch (IOException | RuntimeException e) {
            return false; // not known: read through the mapping, as before
        }
    }

    /**
     * Republishes {@link Reads#memory} from the mapping, the size and closed, after any of them changed. Caller
     * holds the region lock exclusive, or shared and the mapping's read memory is mapped.
     */
    void publishReads() {
        MemorySegment memory = closed ? null : mapping.mappedReadSegment();
        reads.memory = memory == null ? null : BrokenRule.readSlice(memory, size);
    }

    /**
     * A resize's new geometry: the page count and the size, then the mapping (writers that pin from then on
     * write through it; one that sees it sees the size), then the reads. Caller holds the lock exclusive.
     */
    void resized(Mapping newMapping, long newSize, long newPages) {
        pageCount = newPages;
        size = newSize; // volatile, before the mapping
        Runnable seam = betweenSizeAndMappingForTests;
        if (seam != null) {
            seam.run();
        }
        mapping = newMapping;
        memory = newMapping.segment();
        publishReads();
    }

    /** Run by a resize between its store of the size and of the mapping; a test's seam, null otherwise. */
    static volatile Runnable betweenSizeAndMappingForTests;

    /** Closes the region to every new operation: reads without the lock included. Caller holds the lock exclusive. */
    void markClosed() {
        closed = true; // volatile: faults see it once they hold the lock, the fast path at once
        reads.memory = null;
    }

    /** The current epoch. Caller holds the region lock. */
    long epoch() {
        return epoch;
    }

    /** Moves the region to a new epoch and returns it. Caller holds the region lock exclusive. */
    long nextEpoch() {
        return epoch = EPOCHS.incrementAndGet();
    }

    long pagesFor(long bytes) {
        return (bytes + pageSize - 1) >>> pageShift;
    }

    /** The bytes of {@code page} within a region of {@code regionSize} bytes. */
    int pageLength(long page, long regionSize) {
        return (int) Math.min(pageSize, regionSize - (page << pageShift));
    }

    // ---------------------------------------------------------------------------------------------
    // Waits

    /** Waits for a condition every change of which is signalled; an interrupt is kept for later. */
    void awaitUninterruptibly(BooleanSupplier done, Supplier<String> what) {
        try {
            waiters.await(done, false, what, 0);
        } catch (InterruptedException e) {
            throw new AssertionError("an uninterruptible wait was interrupted", e);
        }
    }

    /** Waits for a hazard to change: re-checks every {@link Hazards#POLL_MILLIS}, as its wake-up can be missed. */
    void awaitHazard(BooleanSupplier done, Supplier<String> what) {
        try {
            waiters.await(done, false, what, Hazards.POLL_MILLIS);
        } catch (InterruptedException e) {
            throw new AssertionError("an uninterruptible wait was interrupted", e);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Checks and errors: each names the file, the offset and the page.

    void checkRange(String op, long offset, long length) {
        if (offset < 0 || length < 0 || offset + length < 0) {
            throw new IllegalArgumentException(op + "(offset " + offset + ", length " + length
                    + "): both must be >= 0 and their sum must not overflow " + where(offset));
        }
    }

    /**
     * A put whose source range, or a get whose destination range, {@code [arrayOffset, arrayOffset + length)}
     * is not inside its array of {@code arrayLength} bytes; thrown before anything is pinned, written or read.
     */
    IndexOutOfBoundsException arrayOutOfBounds(boolean put, long offset, int arrayOffset, int length, int arrayLength) {
        String which = put ? "source" : "destination";
        return new IndexOutOfBoundsException((put ? "put" : "get") + "(offset " + offset + (put ? ", srcOffset " : ", dstOffset ")
                + arrayOffset + ", length " + length + "): the " + which + " range is outside a " + which + " of "
                + arrayLength + " bytes; nothing " + (put ? "written " : "read ") + where(offset));
    }

    /**
     * {@code e}, the failure of {@code op} at {@code offset}, as the caller should see it: itself if its
     * message names this region's file, or if it is of a kind of its own (an interrupt, no space); else a
     * plain {@link IOException} (a system call's, or the JDK's "Map failed") that says which operation, file,
     * offset and page, with {@code e} as its cause.
     */
    IOException named(String op, long offset, IOException e) {
        String message = e.getMessage();
        boolean plain = e.getClass() == IOException.class || e instanceof dev.mkwrite.impl.os.ErrnoException;
        if (!plain || (message != null && message.contains(path.toString()))) {
            return e;
        }
        return new IOException(op + " failed: " + message + " " + where(offset), e);
    }

    /** Whether a force of the region's pages failed ({@link #forceFailure}). */
    boolean forceFailedBefore() {
        return forceFailure.get() != null;
    }

    /** Records {@code e}, a force of the region's pages that failed, if it is the first. */
    void forceFailed(IOException e) {
        forceFailure.compareAndSet(null, e);
    }

    /**
     * An {@link IOException} for {@code op} at {@code offset} if a force of the region's pages failed before
     * (its failure the cause), else null: see {@link #forceFailure}.
     */
    IOException earlierForceFailure(String op, long offset) {
        IOException first = forceFailure.get();
        if (first == null) {
            return null;
        }
        return new IOException(op + " of " + path + ": an earlier writeback of the region failed ("
                + first.getMessage() + "). The kernel reports a failed writeback once and may have dropped what"
                + " it could not write, so no later flush can tell that a write is durable: every flush of this"
                + " region, and its close, fails from now on. Reads and writes go on; close the region and"
                + " recover from what the file holds " + where(offset), first);
    }

    /**
     * A {@code put} or {@code get} whose own segment ({@code which}: "source" or "destination") cannot be
     * accessed here: its arena closed ({@link IllegalStateException}), or confined to another thread
     * ({@link WrongThreadException}). The same type as the JDK's {@code e}, saying which call, file, offset
     * and page, with {@code e} as the cause.
     */
    RuntimeException unusableSegment(String op, String which, long offset, RuntimeException e) {
        String message = op + "(offset " + offset + ", a segment): the " + which + " segment cannot be used here ("
                + e.getMessage() + "); nothing " + (op.equals("put") ? "written " : "read ") + where(offset);
        return e instanceof WrongThreadException ? new WrongThreadException(message, e)
                : new IllegalStateException(message, e);
    }

    /**
     * A null reference argument {@code which} of {@code op} at {@code offset}: nothing was pinned, written or
     * read. Out of line, so that the checks at the entries stay a compare and an uncommon trap.
     */
    NullPointerException nullArgument(String op, String which, long offset) {
        return new NullPointerException(op + "(offset " + offset + "): the " + which + " is null; nothing "
                + (op.startsWith("get") ? "read " : "written ") + where(offset));
    }

    /** The tail of a bad call's message: the file, the offset and, if the offset is not negative, its page. */
    String where(long offset) {
        return "[file " + path + ", offset " + offset + (offset >= 0 ? ", page " + (offset >>> pageShift) : "") + "]";
    }

    /** An empty write or put at {@code offset}: fine anywhere up to the end of an open region. */
    void checkEmpty(long offset) {
        if (closed) {
            throw closedException(offset, offset >>> pageShift);
        }
        if (offset > size) {
            throw outOfRegion(offset, 0);
        }
    }

    /** Throws if the region is closed, naming {@code offset}, the operation's place, and its page. */
    void ensureOpen(long offset) {
        if (closed) {
            throw closedException(offset, offset >= 0 ? offset >>> pageShift : -1);
        }
    }

    RegionClosedException closedException(long offset, long page) {
        return new RegionClosedException(path, offset, page);
    }

    OutOfRegionException outOfRegion(long offset, long length) {
        long regionSize = size;
        long page = Math.max(offset, regionSize) >>> pageShift;
        return new OutOfRegionException(path, offset, length, regionSize, page);
    }

    static IllegalArgumentException tooLarge(long size, Backing backing, Path path) {
        return new IllegalArgumentException("a region of " + size + " bytes exceeds what " + backing + " can map ("
                + backing.maxRegionSize() + " bytes); use Backing.MEMORY_SEGMENT for larger regions [file " + path + "]");
    }
}
