package dev.mkwrite.impl.storage;

import dev.mkwrite.NoSpaceException;
import dev.mkwrite.StorageFile;
import dev.mkwrite.WriteFault;
import dev.mkwrite.impl.os.Errno;
import dev.mkwrite.impl.os.ErrnoException;
import dev.mkwrite.impl.os.LazyLogger;

import java.io.IOException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A {@link StorageHandler}'s allocation with {@code fallocate(FALLOC_FL_KEEP_SIZE)}, through the region's
 * file ({@link StorageFile#allocate}): the granule around a faulting page, ever smaller units down to the
 * page's {@linkplain FolioUnit folio unit} when space runs short (see {@link SpaceEdge}), and granules ahead
 * of a sequential writer for {@link PrepareAhead}; always whole, aligned folio units. Records what it
 * allocated in the file's {@link UnitTable}. Thread-safe.
 */
final class GranuleAllocator {

    private static final LazyLogger LOG = new LazyLogger(GranuleAllocator.class);

    private final SpaceEdge space;
    private final StorageCounters counters;
    private final AtomicBoolean unsupportedLogged = new AtomicBoolean();
    /**
     * Run by a fault once its granule's speculation ended, and by a prepare-ahead batch once its own did; a
     * test's seam, null otherwise.
     */
    private volatile Runnable afterGranuleForTests;

    GranuleAllocator(SpaceEdge space, StorageCounters counters) {
        this.space = space;
        this.counters = counters;
    }

    /**
     * For tests: {@code seam} runs on the faulting thread after every fallocate beyond its page (a granule,
     * or a smaller unit), right after that fault's speculation ended, and on the agent's thread after every
     * prepare-ahead batch, right after its speculation ended, with the file's resource lock still held
     * (null: none). It may block, to hold the fault or batch there while another fault runs.
     */
    void afterGranuleForTests(Runnable seam) {
        afterGranuleForTests = seam;
    }

    /**
     * Allocates the page's granule; if the filesystem has no space for it, ever smaller aligned units
     * around the page (half the granule, a quarter, ... the page's {@linkplain FolioUnit folio unit}), then
     * the folio unit once more after {@linkplain SpaceEdge#reclaim giving back} what this handler allocated
     * ahead of writers that never came. Never less than the folio unit (the granule is at least that): a
     * page allocated alone could share its page-cache folio with holes, and on ext4 a store into it after
     * its writeback would then need blocks for them. A unit that fails is given back, the faulting page's
     * own blocks too, before the next is tried or no space reported. Caller holds the file's resource lock.
     *
     * <p>A {@linkplain WriteFault#isNoWait() no-wait} fault tries one unit only: if it finds no space, the
     * fault stops ({@link Allocated#WOULD_WAIT}, having given back what the unit got) rather than try ever
     * smaller units and give back other faults' space, each step of which waits for the allocations in
     * flight.
     *
     * @return {@link Allocated#UNSUPPORTED} if the filesystem does not support fallocate (the caller
     *         zero-fills instead), {@link Allocated#WOULD_WAIT} as above, else {@link Allocated#DONE}
     */
    Allocated allocate(FileSpace file, WriteFault fault, int stamp) throws IOException {
        StorageFile storage = file.storage();
        long start = fault.offset();
        long end = start + fault.length();
        long size = storage.size();
        long folio = file.folioUnit;
        long granule = granule(file);
        int reclaims = 0;
        boolean edge = false;
        try {
            // While space is short, the folio unit alone: a granule would take what other pages' faults need.
            for (long unit = space.spaceShort() && !space.roomForGranules(file) ? folio : granule; ; ) {
                // A page of the unit or more is aligned to it (pages are powers of two): [start, end) alone.
                boolean pageAlone = unit <= end - start;
                boolean last = pageAlone || unit <= folio;
                if (!last && !space.beginSpeculation()) {
                    unit = folio; // another fault is giving space back: take no more than the page needs
                    continue;
                }
                if (last) {
                    // The rest of the folio unit, or the page alone: the page needs it. A speculation all the
                    // same, so that what a failed fallocate got is given back before an edge fault looks.
                    space.beginNeededSpeculation();
                }
                long from = start & -unit;
                long to = Math.max(end, Math.min(alignUp(end, unit), size));
                // The end of the file may cut the last folio unit (atEnd): allocated to the end of the file only
                // if the page is in it, and not recorded, so that every fault of its pages allocates again, the
                // whole of it once the file grew. A cut unit beyond the page is left to its own fault.
                long whole = to & -folio;
                boolean cut = file.cutsFolio(to);
                boolean atEnd = cut && whole < end;
                if (cut && !atEnd) {
                    to = whole;
                }
                StorageFile.Outcome r;
                try {
                    r = storage.allocate(from, to - from);
                    if (r == StorageFile.Outcome.DONE) {
                        long recorded = atEnd ? Math.max(from, whole) : to;
                        if (recorded > from) {
                            file.units.recordAllocated(UnitTable.unit(from), UnitTable.unitCeil(recorded), stamp,
                                    fault.generation());
                        }
                    } else if (isNoSpace(r)) {
                        // Some filesystems (ext4, XFS) keep what a failed fallocate got, recorded nowhere: it
                        // is given back before this fault stops speculating, all a fault at the edge waits for;
                        // the faulting page's own blocks too, so no folio is left with a page and a hole. A
                        // page alone included: blocks no record names are lost to every writer until release.
                        space.giveBack(file, from, to, start, end);
                    }
                } finally {
                    space.endSpeculation();
                }
                Runnable seam = afterGranuleForTests;
                if (seam != null && !pageAlone) {
                    seam.run();
                }
                if (r == StorageFile.Outcome.DONE) {
                    counters.fallocates.increment();
                    if (unit == granule) {
                        space.spaceShort(false); // volatile: a whole granule fitted
                    }
                    return atEnd ? Allocated.DONE_AT_END : Allocated.DONE;
                }
                if (r == StorageFile.Outcome.UNSUPPORTED) {
                    file.fallocateUnsupported = true;
                    if (unsupportedLogged.compareAndSet(false, true)) {
                        LOG.get().info("mkwrite storage: the filesystem of {} does not support fallocate(2); its pages are"
                                + " zero-filled instead", file.path);
                    }
                    return Allocated.UNSUPPORTED;
                }
                if (fault.isNoWait()) {
                    return Allocated.WOULD_WAIT; // what the unit got was given back above
                }
                if (!last) {
                    space.spaceShort(true); // volatile: until two granules fit again
                    unit >>>= 1;
                    continue;
                }
                if (space.retryAtTheEdge(edge, reclaims++)) {
                    edge = true;
                    continue; // the folio unit, once more
                }
                throw counters.failure(fallocateFailure(errno(r), fault, from, to - from));
            }
        } finally {
            if (edge) {
                space.leaveEdge();
            }
        }
    }

    /** What {@link #allocate} did. */
    enum Allocated {
        /** The page's unit is allocated and recorded. */
        DONE,
        /**
         * The page's unit is allocated to the end of the file, which cuts the page's folio unit: the page's
         * storage is prepared in part, its units are not recorded, and its next write after a writeback must
         * fault ({@link dev.mkwrite.impl.PreparedInPart}).
         */
        DONE_AT_END,
        /** The filesystem does not support fallocate: nothing was allocated. */
        UNSUPPORTED,
        /** A no-wait fault stopped where going on would have waited: nothing of it is kept. */
        WOULD_WAIT
    }

    /**
     * The granule of {@code file}: the handler's, or the file's {@linkplain FolioUnit folio unit} where that
     * is larger, so that a granule is always a whole number of aligned folio units.
     */
    long granule(FileSpace file) {
        return Math.max(space.granule(), file.folioUnit);
    }

    /**
     * What a failed {@code fallocate} of {@code [from, from + length)} for {@code fault} becomes:
     * {@link NoSpaceException} for ENOSPC and EDQUOT, {@link ErrnoException} for any other errno.
     */
    static Exception fallocateFailure(int errno, WriteFault fault, long from, long length) {
        if (Errno.isNoSpace(errno)) {
            return new NoSpaceException("the filesystem has no space for the page (" + Errno.name(errno)
                    + (errno == Errno.EDQUOT ? ": disk quota exceeded" : "") + ")", fault.path(),
                    fault.offset(), fault.page(),
                    new ErrnoException("fallocate", errno, fault.path(), from, length, null));
        }
        return new ErrnoException("fallocate", errno, fault.path(), from, length, Errno.fallocateHint(errno));
    }

    /**
     * Prepare-ahead: allocates granules {@code [fromGranule, toGranule)} of {@code file} (the handler's
     * granules, each rounded out to whole folio units of the file), outside the region lock, for a fault
     * planned in mapping period {@code stamp}. Never throws: a granule that fails is left
     * to its own fault, which redoes the work and reports. Called on the agent thread, after the caller
     * checked that the file is allocated with fallocate.
     *
     * @return the number of granules allocated
     */
    int allocateAhead(FileSpace file, long fromGranule, long toGranule, int stamp, long generation) {
        if (file.stamp() != stamp || space.spaceShort() || !file.lockResourcesAhead()) {
            // Not once the region closed (no writer will come); nor while space is short: allocating ahead would
            // take it from the writers that need it.
            return 0;
        }
        int done = 0;
        if (!space.beginSpeculation()) {
            file.unlockResources();
            return 0;
        }
        try {
            StorageFile storage = file.storage();
            if (file.detached()) {
                return 0; // the region closed meanwhile: storage() opened the handler's own descriptor
            }
            long size = storage.size();
            int shift = Integer.numberOfTrailingZeros(space.granule());
            long folio = file.folioUnit;
            for (long g = fromGranule; g < toGranule && file.stamp() == stamp && !space.spaceShort() && !file.detached();
                 g++) {
                // Whole folio units: a granule smaller than the file's folio unit allocates the folio unit.
                long from = (g << shift) & -folio;
                // Whole folio units only: one the end of the file cuts is its faults' (see allocate).
                long to = Math.min(alignUp((g + 1) << shift, folio), size) & -folio;
                if (from >= to) {
                    break; // past the end of the file as it was when this batch began
                }
                long firstUnit = UnitTable.unit(from);
                long endUnit = UnitTable.unitCeil(to);
                if (file.units.allAllocated(firstUnit, endUnit, stamp, generation)) {
                    continue;
                }
                StorageFile.Outcome r = storage.allocate(from, to - from);
                if (r != StorageFile.Outcome.DONE) {
                    if (isNoSpace(r)) { // what it may have got; the faults of these pages will report
                        space.giveBack(file, from, to, 0, 0); // while this batch speculates: see allocate
                    }
                    break;
                }
                counters.fallocates.increment();
                if (!file.recordAllocatedIfCurrent(firstUnit, endUnit, stamp, generation)) {
                    space.giveBack(file, from, to, 0, 0); // a new period began (or space was given back): unrecorded
                    break;
                }
                counters.aheadGranules.increment();
                done++;
            }
        } catch (IOException | RuntimeException e) {
            LOG.get().debug("prepare-ahead of {} stopped: {}", file.path, e.toString());
        } finally {
            space.endSpeculation();
            try {
                Runnable seam = afterGranuleForTests;
                if (seam != null) {
                    seam.run();
                }
            } finally {
                file.unlockResources();
            }
        }
        return done;
    }

    private static boolean isNoSpace(StorageFile.Outcome r) {
        return r == StorageFile.Outcome.NO_SPACE || r == StorageFile.Outcome.OVER_QUOTA;
    }

    /** The errno of a no-space outcome. */
    private static int errno(StorageFile.Outcome r) {
        return r == StorageFile.Outcome.OVER_QUOTA ? Errno.EDQUOT : Errno.ENOSPC;
    }

    static long alignUp(long value, long alignment) {
        return (value + alignment - 1) & -alignment;
    }
}
