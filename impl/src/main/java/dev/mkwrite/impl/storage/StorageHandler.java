package dev.mkwrite.impl.storage;

import dev.mkwrite.impl.os.Errno;
import dev.mkwrite.impl.os.ErrnoException;
import dev.mkwrite.impl.os.LazyLogger;
import dev.mkwrite.impl.os.NativeAccess;
import dev.mkwrite.impl.os.PosixNative;
import dev.mkwrite.FaultResult;
import dev.mkwrite.NoSpaceException;
import dev.mkwrite.Reservation;
import dev.mkwrite.StorageFile;
import dev.mkwrite.WriteFault;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.impl.PreparedInPart;

import java.io.Closeable;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A {@link WriteFaultHandler} that makes sure the filesystem can take a page before mkwrite lets the page
 * be written, so a full disk surfaces as {@link NoSpaceException} at the write that needed the space
 * instead of {@code SIGBUS} ({@code InternalError}) at an arbitrary store. Obtain one from
 * {@link StorageHandlers}.
 *
 * <h2>What it does at a fault</h2>
 * <ol>
 *   <li><b>Allocation</b> ({@link Allocation}). {@link Allocation#FALLOCATE} reserves the blocks of the
 *   page's granule with {@code fallocate(fd, FALLOC_FL_KEEP_SIZE, ...)}: the blocks become allocated
 *   (unwritten) extents, and a later store needs no new space. {@code KEEP_SIZE} because the region
 *   already gave the file its size, and because a granule may reach past the end of the file: allocation
 *   must never change the size behind the region's back. {@link Allocation#ZERO_FILL} writes zeros with
 *   positional writes ({@link dev.mkwrite.StorageFile#write}) into the holes of the granule (units that read as all zeros),
 *   never over data, and never into a page a writer may be storing into; with native access it also
 *   fallocates the page's folio unit where a unit of it another fault touched may be a hole (after a punch
 *   or a truncate, or a fault that found no space). If the granule cannot be had,
 *   ever smaller aligned units around the page are tried, down to the page's folio unit (see "Folio
 *   units" and "Space at the edge").</li>
 *   <li><b>Populate</b> (optional). {@code madvise(MADV_POPULATE_WRITE)} over the page's mapped memory
 *   makes the kernel run the filesystem's own {@code ->page_mkwrite} now, reporting failure as an errno
 *   instead of a later {@code SIGBUS}; it also takes the kernel's page fault off the writer's path. It is
 *   the only preparation that also covers copy-on-write filesystems (btrfs), which need new space for
 *   every overwrite.</li>
 * </ol>
 * Allocation is remembered per 4 KiB unit of the file, so the fault that mkwrite takes after each
 * writeback of a page (exact dirty tracking) finds the page allocated and returns at once, without a
 * system call. What it remembers is forgotten whenever the region maps the file anew (grow, truncate, a
 * new region), because a truncate may have freed the blocks. Populate runs at every fault: writeback
 * write-protects the page again, so the kernel's next store would run {@code ->page_mkwrite} again.
 *
 * <h2>Folio units</h2>
 * On filesystems with large page-cache folios (ext4 since Linux 6.16) the kernel reserves blocks for the
 * whole folio of a page at a store's fault, so a page that shares a folio with a hole cannot safely be
 * written on a full disk, though its own block is allocated. The handler therefore allocates and gives back
 * in folio units ({@code FolioUnit}): aligned powers of two at least as large as the folios readahead
 * makes on the file's device (its {@code read_ahead_kb} and {@code max_sectors_kb}, 128 KiB to 2 MiB; one
 * page on tmpfs). A fault allocates at least its page's folio unit: a granule smaller than a file's folio
 * unit is raised to it for that file.
 *
 * <p>The end of a file that is not a whole number of folio units cuts its last one, which is allocated
 * only to the end of the file (allocation never reaches past it). Once the file grew, the rest of that
 * unit would be a hole beside pages already written, so its pages are prepared in part
 * ({@link dev.mkwrite.impl.PreparedInPart}): not kept prepared after a writeback, not recorded, not
 * prepared around another page; each fault of them allocates again, the whole unit once the file grew.
 * Sizing files in whole 2 MiB avoids that cost.
 *
 * <h2>Fallbacks</h2>
 * Without native access ({@code --enable-native-access}), on a filesystem without {@code fallocate}
 * ({@code EOPNOTSUPP}), and on a kernel without {@code MADV_POPULATE_WRITE} (before 5.14, {@code EINVAL}),
 * the handler falls back to zero-fill and logs it once. {@link #allocation()} tells what was asked for;
 * {@link #stats()} what was done.
 *
 * <h2>Space at the edge</h2>
 * Granules are allocated ahead of the writers, so a raw mapping (which allocates page by page) could use
 * space a handler holds for pages nobody has written yet. So, before a fault reports no space for its own
 * page, the handler gives that space back: it waits for the allocations beyond a page in flight (granules,
 * neighbour fills, prepare-ahead), lets no new one start, and punches holes
 * ({@code fallocate(PUNCH_HOLE)}) in every folio unit of every file it serves that no fault touched and
 * that has an allocation recorded, in its units that read as zeros; then it tries the page again. No byte
 * changes, and no folio unit holding a page a writer may store into is touched. Until two granules fit
 * again it then allocates folio unit by folio unit and pauses prepare-ahead. If the page's folio unit
 * cannot be allocated whole, what its failed allocation got is given back and the fault reports no space:
 * up to a folio unit per file may stay free on a full disk. A released file gives back the same way what it never wrote. All of this needs
 * native access; without it, granules stay where they were allocated.
 *
 * <p>A no-wait fault ({@code tryWrite}) does not look for space at the edge, since that waits for every
 * allocation in flight and for other faults' give-backs, each up to a second: it answers
 * {@link FaultResult#RETRY} (mkwrite refuses the write, {@code WouldBlock.Reason.HANDLER}, and counts it in
 * {@link Stats#noWaitRefusals()}) while space is short and two granules do not fit, unless the page's units
 * are recorded allocated, or once its own unit found no space; the blocking write that follows looks for
 * space, and reports no space if there is none. The refusal is conservative: every give-back forgets the
 * file's allocation records, so near a full disk a page whose blocks exist may be refused too. A fault
 * refused before or in its allocation leaves its page's units as it found them, so that their folio unit
 * can still be given back when nobody retries. The one wait left: what the failed unit got is given back before the fault returns,
 * which waits for other faults' allocations in flight (each a system call, at most a second), since
 * nothing records it. Under a disk quota (EDQUOT) the filesystem's free space says nothing of the quota,
 * so there every no-wait fault tries its unit and gives it back before it is refused. Before, such a write
 * took up to 4.0 s at the edge (fallocate halving its granule, giving back at each step) before it
 * reported no space.
 *
 * <h2>Errors</h2>
 * ENOSPC and EDQUOT become {@link NoSpaceException} (with an {@link ErrnoException} cause naming the
 * call). Populate's {@code EFAULT}, which means a store would have raised {@code SIGBUS}, becomes
 * {@link NoSpaceException} when the filesystem has less free space than the page, and otherwise an
 * {@link ErrnoException}. Every other errno becomes an {@link ErrnoException} naming the errno, the file,
 * the offset and the length; mkwrite reports it as {@link dev.mkwrite.HandlerFailedException}. The
 * handler never drops the region lock: zero-fill relies on it to keep the file's size still.
 *
 * <h2>Lifetime and threads</h2>
 * Thread-safe: one handler may serve any number of regions and threads. It opens no descriptor of its
 * own: it prepares a region's file through the region's descriptors ({@link WriteFault#file()}), so a
 * region and its handler hold one descriptor of the file between them (see {@code RegionFile} for the one
 * configuration that needs a channel too), and none once the region closed. The region's close
 * {@linkplain #regionClosed(Path) releases} the file: what the handler knows of it goes, and so does space
 * it allocated ahead of writers that never came, given back through a descriptor it opens for just that
 * and closes again. Only a fault without a region's file (a handler called directly, as in a unit test)
 * makes the handler open the file itself, once, until {@link #release(Path)} or {@link #close()}. Close
 * the handler after the regions it serves. Do not release a file whose region is still open: the handler
 * would forget which pages may be written to. Every page of
 * a region it serves must be prepared by it (put it before any handler that drops the region lock in a
 * chain): zero-fill and giving space back trust that a unit no fault of this handler touched is one no
 * writer stores into.
 *
 * <p>Zero-fill reads and writes the file on an {@code mkwrite-io} thread while the faulting thread waits,
 * so an interrupt of a writer never closes the channel every fault on the file shares (native reads and
 * writes, where there is no channel, ignore interrupts anyway); it ends that
 * writer's fault with {@link dev.mkwrite.FaultInterruptedException} and nothing else.
 *
 * <pre>{@code
 * try (StorageHandler storage = StorageHandlers.bestAvailable(1 << 20);     // 1 MiB granules
 *      MappedRegion log = MappedRegion.builder(path).size(1L << 30).handler(storage).open()) {
 *     log.put(offset, record);          // NoSpaceException if the disk is full, never InternalError
 * }
 * }</pre>
 */
public final class StorageHandler implements WriteFaultHandler, Closeable {

    private static final LazyLogger LOG = new LazyLogger(StorageHandler.class);

    /** How a handler allocates the blocks behind a page. */
    public enum Allocation {
        /** {@code fallocate(2)} with {@code FALLOC_FL_KEEP_SIZE}; zero-fill where unavailable. */
        FALLOCATE,
        /**
         * Positional writes of zeros into the holes of the granule; needs no native access (with it, a
         * fallocate of a folio unit where another fault's touched unit of it may be a hole).
         */
        ZERO_FILL,
        /** No allocation: populate alone. */
        NONE
    }

    /**
     * A snapshot of a handler's counters, summed over every file it served.
     *
     * @param faults           faults the handler was called for
     * @param alreadyAllocated faults whose page was known to be allocated: no system call
     * @param fallocates       successful {@code fallocate} calls (a granule, or a page after a granule
     *                         failed)
     * @param zeroFilledBytes  bytes written by zero-fill
     * @param populates        successful {@code madvise(MADV_POPULATE_WRITE)} calls
     * @param noSpace          faults that ended in {@link NoSpaceException}
     * @param aheadGranules    granules prepared ahead by a {@link PrepareAhead} agent through this handler
     * @param metadataBytes    approximate heap bytes of the per-file unit tables
     * @param noWaitRefusals   no-wait faults ({@code tryWrite}) refused at the disk's edge, where looking for
     *                         space would have waited
     */
    public record Stats(long faults, long alreadyAllocated, long fallocates, long zeroFilledBytes, long populates,
                        long noSpace, long aheadGranules, long metadataBytes, long noWaitRefusals) {
    }

    private static final AtomicBoolean POPULATE_LOGGED = new AtomicBoolean();
    /** Filesystem types ({@code FileStore.type()}) whose overwrite of an allocated block allocates nothing. */
    private static final Set<String> OVERWRITES_IN_PLACE = Set.of("ext2", "ext3", "ext4", "tmpfs");

    private final Allocation allocation;
    private final int granule;
    private final boolean populate;
    private final boolean nativeCalls = NativeAccess.available();
    private final ConcurrentHashMap<Path, FileSpace> files = new ConcurrentHashMap<>();
    /** Space at the edge: giving back what was allocated ahead of writers when space runs out. */
    private final SpaceEdge space;
    private volatile boolean populateUnsupported;
    private volatile boolean closed;
    private volatile boolean faultAround;
    /** The folio unit of every file met from now on, for tests; 0: each file's own ({@link FolioUnit}). */
    private volatile int folioUnitForTests;
    /** See {@link #beforeAroundTouchForTests}. */
    private volatile Runnable beforeAroundTouchForTests;
    /** The last reservation handed out, reused for the next page of the same length. Racy by design. */
    private volatile Prepared lastPrepared = new Prepared(0);
    private final StorageCounters counters = new StorageCounters();
    /** Allocation with fallocate, and ahead of writers. */
    private final GranuleAllocator granules;
    /** Allocation by writing zeros. */
    private final ZeroFill zeroFill;

    StorageHandler(Allocation allocation, int granule, boolean populate) {
        this.allocation = Objects.requireNonNull(allocation, "allocation");
        if (granule < UnitTable.UNIT || Integer.bitCount(granule) != 1 || granule > 1 << 30) {
            throw new IllegalArgumentException("granule must be a power of two from " + UnitTable.UNIT
                    + " bytes to 1 GiB, was " + granule);
        }
        if (allocation == Allocation.NONE && !populate) {
            throw new IllegalArgumentException("a storage handler needs an allocation, populate, or both");
        }
        this.granule = granule;
        this.populate = populate;
        this.space = new SpaceEdge(granule, nativeCalls, files);
        this.granules = new GranuleAllocator(space, counters);
        this.zeroFill = new ZeroFill(space, counters);
        if (!nativeCalls && (allocation == Allocation.FALLOCATE || populate)) {
            NativeAccess.logUnavailableOnce((allocation == Allocation.FALLOCATE ? "fallocate(2)" : "")
                    + (allocation == Allocation.FALLOCATE && populate ? " and " : "")
                    + (populate ? "madvise(MADV_POPULATE_WRITE)" : "")
                    + " fall back to zero-fill (ordinary writes: slower, just as safe)");
        }
    }

    /**
     * The allocation this handler was created with. Files where it is unavailable are zero-filled.
     *
     * @return the requested allocation
     */
    public Allocation allocation() {
        return allocation;
    }

    /**
     * Whether this handler populates pages with {@code madvise(MADV_POPULATE_WRITE)} when it can.
     *
     * @return true if it was created to populate
     */
    public boolean populates() {
        return populate;
    }

    /**
     * Fault-around, off by default: a fault also prepares the pages after its own that its granule has
     * allocated ({@link dev.mkwrite.WriteFault#prepareAround}), so a sequential writer calls this handler
     * about once per 16 pages. They stay clean until written, but keep their blocks until then, or until
     * truncated or their region closes: a write that finds the disk full is not given them, nor is a
     * closed file trimmed of them.
     *
     * @param on whether to prepare the pages around a fault
     * @return this handler
     */
    public StorageHandler faultAround(boolean on) {
        faultAround = on; // volatile
        return this;
    }

    /**
     * The allocation unit: a power of two, at least 4 KiB. A fault allocates the whole granule around its
     * page, so a sequential writer makes one system call per granule. A file whose folio unit is larger
     * (see "Folio units") is allocated in folio units instead.
     *
     * @return the granule in bytes
     */
    public int granule() {
        return granule;
    }

    /**
     * How this handler prepares files after the fallbacks that apply to every file: without native
     * access, {@link Allocation#FALLOCATE} and populate-only handlers zero-fill. A file whose filesystem
     * lacks {@code fallocate} may still be zero-filled: see {@link #effectiveAllocation(Path)}.
     *
     * @return the allocation used for files by default
     */
    public Allocation effectiveAllocation() {
        return effective(false);
    }

    /**
     * How this handler prepares {@code path} now, after any fallback: {@link Allocation#FALLOCATE} only if
     * native access is enabled and the file's filesystem supports it.
     *
     * @param path a file
     * @return the allocation used for it
     */
    public Allocation effectiveAllocation(Path path) {
        FileSpace f = files.get(path);
        return effective(f != null && f.fallocateUnsupported);
    }

    private Allocation effective(boolean fallocateUnsupported) {
        return switch (allocation) {
            case FALLOCATE -> nativeCalls && !fallocateUnsupported ? Allocation.FALLOCATE : Allocation.ZERO_FILL;
            case ZERO_FILL -> Allocation.ZERO_FILL;
            case NONE -> nativeCalls && !populateUnsupported ? Allocation.NONE : Allocation.ZERO_FILL;
        };
    }

    /**
     * Prepares the page of {@code fault}. Called by mkwrite with the region lock held; see the class
     * documentation.
     *
     * @throws NoSpaceException      if the filesystem has no space for the page
     * @throws ErrnoException        if a system call failed otherwise
     * @throws IllegalStateException if the handler is closed, or runs after another handler dropped the
     *                               region lock
     */
    @Override
    public FaultResult prepare(WriteFault fault) throws IOException, InterruptedException {
        counters.faults.increment();
        FileSpace file = file(fault.path(), fault.file());
        file.attach(fault.file());
        MemorySegment memory;
        try {
            memory = fault.memory();
        } catch (IllegalStateException e) {
            throw new IllegalStateException("a StorageHandler needs the region lock held; in a chain, put it before"
                    + " any handler that drops the lock [file " + fault.path() + ", offset " + fault.offset()
                    + ", page " + fault.page() + "]", e);
        }
        int stamp = file.observe(memory.scope());
        long start = fault.offset();
        int length = fault.length();
        long end = start + length;
        long generation = fault.generation();
        long firstUnit = UnitTable.unit(start);
        long endUnit = UnitTable.unitCeil(end);
        Allocation how = effective(file.fallocateUnsupported);
        // A no-wait fault that would allocate while space is short is refused before it touches its units: the
        // folio unit of a touched unit is never given back, even once another fault's granule allocated it.
        if (fault.isNoWait() && how != Allocation.NONE && space.spaceShort()
                && !file.units.allAllocated(firstUnit, endUnit, stamp, generation) && !space.roomForGranules(file)) {
            return noWaitRefused();
        }
        // A no-wait fault refused after it touched a page no fault touched before takes its marks back, as
        // above: a caller need not retry a refused write.
        boolean fresh = fault.isNoWait() && file.untouched(firstUnit, endUnit);
        if (!file.touch(firstUnit, endUnit, fault.isNoWait())) { // a no-wait fault met a neighbour's zero-fill
            return refusedAfterTouch(file, fresh, firstUnit, endUnit, FaultResult.RETRY);
        }
        Reservation result = Reservation.none();
        if (how != Allocation.NONE) {
            if (file.units.allAllocated(firstUnit, endUnit, stamp, generation)) {
                counters.alreadyAllocated.increment();
            } else {
                GranuleAllocator.Allocated a = allocate(how, file, fault, stamp);
                if (a == GranuleAllocator.Allocated.WOULD_WAIT) {
                    // a no-wait fault at the disk's edge, nothing of its unit kept: the blocking write looks for space
                    return refusedAfterTouch(file, fresh, firstUnit, endUnit, noWaitRefused());
                }
                result = a == GranuleAllocator.Allocated.DONE_AT_END ? new PreparedAtEnd(length) : prepared(length);
            }
            if (faultAround) { // the following pages whose units are allocated (the granule's) need nothing more
                long next = end;
                for (int n = fault.aroundPages(); n > 0 && aroundAllocated(file, next, length, stamp, generation); n--) {
                    next += length;
                }
                // Once taken, no fault of these pages runs: a page whose records a give-back forgot since the
                // looks above (its own fault, failing, punched it; or a reclaim moved the period) ends the run.
                fault.prepareAround((int) ((next - end) / length), page -> stillAllocated(file, page * length,
                        length, generation) ? Reservation.none() : null);
            }
        }
        if (populate && nativeCalls && !populateUnsupported && !populate(file, fault, memory, stamp)) {
            return noWaitRefused();
        }
        return result;
    }

    /**
     * Whether the page at {@code offset}, after a faulting page, may be prepared with it (fault-around):
     * its units are recorded allocated, then marked touched without waiting, then still recorded allocated.
     * A give-back punches only units no fault touched, and clears their records before it lets them go; one
     * that ran between the first look and the mark is seen by the second look. Before that second look, a
     * page so punched was prepared over a hole, and its first store, with no fault, met a full disk. A unit
     * marked after such a give-back keeps its mark (its folio unit is then not given back): rare and safe,
     * where taking the mark back could take another fault's.
     */
    private boolean aroundAllocated(FileSpace file, long offset, long length, int stamp, long generation)
            throws InterruptedException {
        long from = UnitTable.unit(offset);
        long to = UnitTable.unitCeil(offset + length);
        if (!file.units.allAllocated(from, to, stamp, generation)) {
            return false;
        }
        Runnable seam = beforeAroundTouchForTests;
        if (seam != null) {
            seam.run();
        }
        return file.touch(from, to, true) && file.units.allAllocated(from, to, stamp, generation);
    }

    /**
     * Whether the page at {@code offset} is still recorded allocated, in the current mapping period: fault-
     * around's last look, once the page is taken.
     */
    private static boolean stillAllocated(FileSpace file, long offset, long length, long generation) {
        return file.units.allAllocated(UnitTable.unit(offset), UnitTable.unitCeil(offset + length), file.stamp(),
                generation);
    }

    /**
     * A no-wait fault refused after it marked its page's units touched: if it was the first to touch the
     * page ({@code fresh}), it takes the marks back ({@link FileSpace#untouch}). Returns {@code result}.
     */
    private static FaultResult refusedAfterTouch(FileSpace file, boolean fresh, long firstUnit, long endUnit,
            FaultResult result) {
        if (fresh) {
            file.untouch(firstUnit, endUnit);
        }
        return result;
    }

    /**
     * Allocates the page of {@code fault} and the units around it. A no-wait fault is refused (false) once its
     * own unit found no space (see {@link GranuleAllocator#allocate}, {@link ZeroFill#fill}), rather than
     * look further: looking for space at the edge waits for every allocation in flight and for another
     * fault's give-back, each time up to a second. ({@link #prepare} refuses one earlier while space is
     * short.)
     *
     * @return {@link GranuleAllocator.Allocated#WOULD_WAIT} if a no-wait fault was refused, having kept
     *         nothing of what it allocated; else {@link GranuleAllocator.Allocated#DONE}, or
     *         {@link GranuleAllocator.Allocated#DONE_AT_END} where the end of the file cut the page's folio unit
     */
    private GranuleAllocator.Allocated allocate(Allocation how, FileSpace file, WriteFault fault, int stamp)
            throws IOException {
        if (!file.lockResources()) {
            throw closedException(fault.path());
        }
        GranuleAllocator.Allocated a;
        try {
            a = how == Allocation.FALLOCATE ? granules.allocate(file, fault, stamp)
                    : GranuleAllocator.Allocated.UNSUPPORTED;
            if (a == GranuleAllocator.Allocated.UNSUPPORTED) {
                a = zeroFill.fill(file, fault, stamp);
            }
        } finally {
            file.unlockResources();
        }
        if (a == GranuleAllocator.Allocated.WOULD_WAIT) {
            space.spaceShort(true); // volatile: a no-wait fault's unit found no space; the next are refused at once
        }
        return a;
    }

    /** A no-wait fault's RETRY where it would have waited at the disk's edge, counted. */
    private FaultResult noWaitRefused() {
        counters.noWaitRefusals.increment();
        return FaultResult.RETRY;
    }

    /**
     * Populates the page of {@code fault}; at the disk's edge, gives space back and tries again, unless the
     * fault is no-wait.
     *
     * @return false if a no-wait fault found no space (it does not look further; see {@link #allocate}), else
     *         true
     */
    private boolean populate(FileSpace file, WriteFault fault, MemorySegment memory, int stamp) throws IOException {
        int length = fault.length();
        int r = PosixNative.madvise(memory, length, PosixNative.MADV_POPULATE_WRITE);
        if (outOfSpace(r) && fault.isNoWait()) {
            return false;
        }
        boolean edge = false;
        try {
            for (int reclaims = 0; outOfSpace(r) && space.retryAtTheEdge(edge, reclaims); reclaims++) {
                edge = true;
                r = PosixNative.madvise(memory, length, PosixNative.MADV_POPULATE_WRITE); // with space
            }
        } finally {
            if (edge) {
                space.leaveEdge();
            }
        }
        if (r == 0) {
            counters.populates.increment();
            return true;
        }
        int errno = -r;
        if (errno == Errno.EINVAL) {
            populateUnsupported = true;
            if (POPULATE_LOGGED.compareAndSet(false, true)) {
                LOG.get().warn("mkwrite storage: this kernel rejects madvise(MADV_POPULATE_WRITE) (EINVAL; it needs Linux"
                        + " 5.14 or later); pages are {} instead", allocation == Allocation.NONE
                        ? "zero-filled" : "only allocated");
            }
            return allocation != Allocation.NONE
                    || allocate(Allocation.ZERO_FILL, file, fault, stamp) != GranuleAllocator.Allocated.WOULD_WAIT;
        }
        long usable = errno == Errno.EFAULT ? Errno.usableSpace(file.path) : -1;
        throw counters.failure(populateFailure(errno, usable, fault));
    }

    /** Whether {@code madvise(MADV_POPULATE_WRITE)}'s result {@code r} may mean no space: ENOSPC, EDQUOT, EFAULT. */
    private static boolean outOfSpace(int r) {
        return r != 0 && (Errno.isNoSpace(-r) || r == -Errno.EFAULT);
    }

    /**
     * What a failed {@code madvise(MADV_POPULATE_WRITE)} for {@code fault} becomes. EFAULT means a store
     * would have raised SIGBUS: no space when the filesystem has less than the page free
     * ({@code usableSpace}, or -1 if unknown), an {@link ErrnoException} otherwise. ENOSPC and EDQUOT are
     * no space; any other errno is an {@link ErrnoException}.
     */
    static Exception populateFailure(int errno, long usableSpace, WriteFault fault) {
        String call = "madvise(MADV_POPULATE_WRITE)";
        int length = fault.length();
        if (Errno.isNoSpace(errno)) {
            return new NoSpaceException("the filesystem has no space for the page (" + Errno.name(errno)
                    + ")", fault.path(), fault.offset(), fault.page(),
                    new ErrnoException(call, errno, fault.path(), fault.offset(), length, null));
        }
        if (errno == Errno.EFAULT) {
            if (usableSpace >= 0 && usableSpace < length) {
                return new NoSpaceException("the filesystem has no space for the page (populating it failed with"
                        + " EFAULT, and " + usableSpace + " bytes are free)", fault.path(), fault.offset(),
                        fault.page(), new ErrnoException(call, errno, fault.path(), fault.offset(), length, null));
            }
            return new ErrnoException(call, errno, fault.path(), fault.offset(), length,
                    "a store into this page would have raised SIGBUS, yet the filesystem reports "
                            + (usableSpace < 0 ? "an unknown amount of" : usableSpace + " bytes of")
                            + " free space: an I/O error, a memory limit, or a file truncated outside mkwrite");
        }
        return new ErrnoException(call, errno, fault.path(), fault.offset(), length,
                errno == Errno.ENOMEM ? "out of memory, or the page is not mapped"
                        : errno == Errno.EHWPOISON ? "a memory hardware error" : null);
    }

    /**
     * Prepare-ahead: allocates granules {@code [fromGranule, toGranule)} of {@code file} with fallocate,
     * outside the region lock, for a fault planned in mapping period {@code stamp}; see
     * {@link GranuleAllocator#allocateAhead}. Called on the agent thread.
     *
     * @return the number of granules allocated
     */
    int allocateAhead(FileSpace file, long fromGranule, long toGranule, int stamp, long generation) {
        if (effective(file.fallocateUnsupported) != Allocation.FALLOCATE) {
            return 0;
        }
        return granules.allocateAhead(file, fromGranule, toGranule, stamp, generation);
    }

    /** This handler's allocation with fallocate; for tests. */
    GranuleAllocator granules() {
        return granules;
    }

    /** This handler's zero-fill; for tests. */
    ZeroFill zeroFill() {
        return zeroFill;
    }

    /** The space at the edge this handler gives back from; for tests. */
    SpaceEdge space() {
        return space;
    }

    /**
     * For tests: {@code seam} runs in fault-around between a page's first look at its units' records and the
     * mark that keeps give-backs off them (null: none).
     */
    void beforeAroundTouchForTests(Runnable seam) {
        beforeAroundTouchForTests = seam;
    }

    /**
     * For tests: the {@linkplain FolioUnit folio unit} of every file this handler meets from now on, a
     * power of two from 4 KiB; 0 for each file's own.
     */
    void folioUnitForTests(int bytes) {
        folioUnitForTests = bytes;
    }

    /** The state of {@code path}, created on first use. */
    FileSpace file(Path path) {
        return file(path, null);
    }

    /** {@link #file(Path)}, with the region's file of the fault that asks, if any (null: none). */
    private FileSpace file(Path path, StorageFile regionFile) {
        FileSpace f = files.get(path);
        if (f == null) {
            if (closed) {
                throw closedException(path);
            }
            int forced = folioUnitForTests;
            int folioUnit = forced != 0 ? forced : FolioUnit.of(path, regionFile); // sysfs: not under the map's lock
            f = files.computeIfAbsent(path, p -> new FileSpace(p, folioUnit));
        }
        if (closed) {
            throw closedException(path);
        }
        return f;
    }

    /**
     * Forgets {@code path}: gives back the space allocated ahead of writers that never came (untouched units
     * that read as zeros; see "Space at the edge"), closes the descriptor the handler opened itself, if any,
     * and drops what is known about it. Call it after closing the file's region, before deleting, replacing or truncating the file
     * outside mkwrite.
     * A later fault on the file starts afresh. Never call it while a region over the file is open.
     *
     * @param path the file
     * @throws IOException           if closing the descriptor failed
     * @throws IllegalStateException if a region over the file is open: its trim would take blocks from under
     *                               its writers (the region's close releases the file itself); or if called
     *                               from inside an allocation of the file (a {@link dev.mkwrite.StorageFile}
     *                               call of the handler's), which the release would wait for
     */
    public void release(Path path) throws IOException {
        Objects.requireNonNull(path, "release(null): the path is null");
        FileSpace open = files.get(path);
        if (open != null && open.regionOpen()) {
            throw new IllegalStateException("release(" + path + "): a region over the file is open; its close"
                    + " releases the file [file " + path + "]");
        }
        releaseFile(path);
    }

    /** {@link #release} without the check: the handler's own close, and a region's. */
    private void releaseFile(Path path) throws IOException {
        FileSpace known = files.get(path);
        if (known != null) {
            known.checkReleasable(); // before anything is forgotten: throws inside the file's own allocation
        }
        FileSpace f = files.remove(path);
        if (f != null) {
            f.detach(); // the region's descriptors are closed, or about to be
            try {
                space.trim(f);
            } finally {
                f.close();
            }
        }
    }

    /**
     * Whether a written-back page of {@code path} must be prepared again before its next write: only where
     * an overwrite may need new blocks. On ext2, ext3, ext4 and tmpfs the blocks (or memory) a page got for
     * its first write serve every later one, so the page stays prepared after its writeback and the next
     * write takes no fault. Elsewhere, and when the filesystem cannot be told, every overwrite faults and
     * comes here again: copy-on-write filesystems (btrfs, zfs, bcachefs) allocate on every overwrite, and
     * xfs does for extents shared by a reflink copy.
     *
     * @param path the region's file
     * @return false on a filesystem known to overwrite in place
     */
    @Override
    public boolean preparesOverwrites(Path path) {
        // statfs with native access: microseconds, where the file store costs about 2 ms in a fresh JVM
        // (it reads the mount table), which every first region's open pays here.
        if (NativeAccess.available()) {
            long type = PosixNative.filesystemTypeOf(path);
            if (type >= 0) {
                return type != PosixNative.EXT_SUPER_MAGIC && type != PosixNative.TMPFS_MAGIC;
            }
            if (type != -Errno.ENOSYS) {
                return true; // cannot tell: prepare every overwrite
            }
        }
        try {
            return !OVERWRITES_IN_PLACE.contains(Files.getFileStore(path).type().toLowerCase(Locale.ROOT));
        } catch (IOException | RuntimeException e) {
            return true; // cannot tell: prepare every overwrite
        }
    }

    /**
     * The region over {@code path} was closed: {@linkplain #release(Path) releases} the file, giving back
     * what it never wrote and dropping what is known of it, so a handler that serves many files in turn
     * keeps state only for those with an open region. Meant to be
     * called by the region's close (mkwrite's core), after the last fault on the file; a later region over
     * the file starts afresh. Never throws: a descriptor that fails to close is logged.
     *
     * @param path the file of the region that closed
     */
    @Override
    public void regionClosed(Path path) {
        try {
            release(path);
        } catch (IOException | RuntimeException e) {
            LOG.get().warn("mkwrite storage: releasing {} after its region closed failed: {}", path, e.toString());
        }
    }

    /**
     * A snapshot of the counters.
     *
     * @return the statistics
     */
    public Stats stats() {
        long metadata = 0;
        for (FileSpace f : files.values()) {
            metadata += f.units.bytes();
        }
        StorageCounters c = counters;
        return new Stats(c.faults.sum(), c.alreadyAllocated.sum(), c.fallocates.sum(), c.zeroFilledBytes.sum(),
                c.populates.sum(), c.noSpace.sum(), c.aheadGranules.sum(), metadata, c.noWaitRefusals.sum());
    }

    /**
     * Closes every file the handler opened. Faults afterwards fail with {@link IllegalStateException}
     * (reported by mkwrite as {@link dev.mkwrite.HandlerFailedException}). Idempotent.
     *
     * @throws IOException           if closing a descriptor failed (unless an IllegalStateException came
     *                               first: it is then suppressed in that); every other file is closed anyway
     * @throws IllegalStateException if called from inside an allocation of a file (see {@link #release}); every
     *                               other file is closed anyway
     */
    @Override
    public void close() throws IOException {
        closed = true;
        Exception failure = null;
        for (Path path : files.keySet()) {
            try {
                releaseFile(path); // faults fail from now on, so no writer enters an untouched unit
            } catch (IOException | RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure instanceof IOException e) {
            throw e;
        }
        if (failure != null) {
            throw (RuntimeException) failure;
        }
    }

    private Reservation prepared(int length) {
        Prepared p = lastPrepared;
        if (p.bytes != length) {
            p = new Prepared(length);
            lastPrepared = p;
        }
        return p;
    }

    private IllegalStateException closedException(Path path) {
        return new IllegalStateException("the StorageHandler is closed; close regions before their handler [file "
                + path + "]");
    }

    @Override
    public String toString() {
        return "StorageHandler[" + allocation + (populate ? "+populate" : "") + ", granule " + granule
                + (nativeCalls ? "" : ", zero-fill fallback without native access") + "]";
    }

    /**
     * The reservation of a page this handler allocated. The blocks stay with the file whatever becomes of
     * the page, so neither callback does anything: there is nothing to give back.
     */
    private static class Prepared implements Reservation {
        final long bytes;

        Prepared(long bytes) {
            this.bytes = bytes;
        }

        @Override
        public long bytes() {
            return bytes;
        }

        @Override
        public String toString() {
            return getClass().getSimpleName() + "[" + bytes + " bytes]";
        }
    }

    /**
     * A page allocated to the end of the file, which cuts its folio unit: kept prepared after its writeback,
     * the page would be stored into again without a fault, though the rest of its folio unit may still be a
     * hole once the file grew, and on ext4 with large folios that store's own fault needs blocks for the hole
     * (SIGBUS on a full disk). So the page faults again after each writeback, and its fault allocates again.
     */
    private static final class PreparedAtEnd extends Prepared implements PreparedInPart {
        PreparedAtEnd(long bytes) {
            super(bytes);
        }
    }
}
