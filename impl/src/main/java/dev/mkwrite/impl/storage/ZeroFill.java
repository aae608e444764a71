package dev.mkwrite.impl.storage;

import dev.mkwrite.StorageFile;
import dev.mkwrite.WriteFault;
import dev.mkwrite.impl.os.BlockingIo;
import dev.mkwrite.impl.os.Errno;
import dev.mkwrite.impl.os.ErrnoException;
import dev.mkwrite.impl.os.FileZeros;

import java.io.IOException;
import java.io.InterruptedIOException;

/**
 * A {@link StorageHandler}'s allocation by writing zeros into holes, through the region's file
 * ({@link StorageFile#write}): the faulting page's holes, then those of the rest of its
 * {@linkplain FolioUnit folio unit}, which the page needs before it may be written, then those of the
 * untouched folio units of its granule. Needs no native access. Thread-safe.
 *
 * <p>A unit another fault touched is never filled (a writer may be storing into it): its own fault fills
 * it, with its whole folio unit. Such a unit may still be a hole when a later page of the same folio unit
 * faults: its fault failed for lack of space, or a punch or a truncate took its blocks since. Ext4 with
 * large folios needs a block for that hole at the later page's first store after a writeback, so the later
 * page's fault allocates its whole folio unit with fallocate, which changes no byte, and reports no space
 * if it cannot. Without native access (or fallocate) the hole stays: the one gap left, where nothing is
 * given back either.
 */
final class ZeroFill {

    private final SpaceEdge space;
    private final StorageCounters counters;
    /** Run by a fill once its neighbours' speculation ended; a test's seam, null otherwise. */
    private volatile Runnable afterNeighboursForTests;
    /** Run by a fill before it fills a run of its page's folio unit, the run claimed; a test's seam, or null. */
    private volatile Runnable beforeFolioRunForTests;

    ZeroFill(SpaceEdge space, StorageCounters counters) {
        this.space = space;
        this.counters = counters;
    }

    /**
     * For tests: {@code seam} runs on the I/O thread of a fill about to fill a run of units of its page's
     * folio unit, which it has claimed (FILLING), null: none. It may block, to hold the claim while another
     * fault runs.
     */
    void beforeFolioRunForTests(Runnable seam) {
        beforeFolioRunForTests = seam;
    }

    /**
     * For tests: {@code seam} runs on the I/O thread of every fill that filled neighbours, right after that
     * fill's speculation ended (null: none). It may block, to hold the fill there while another fault runs.
     */
    void afterNeighboursForTests(Runnable seam) {
        afterNeighboursForTests = seam;
    }

    /**
     * Zero-fills the holes of the faulting page and of the rest of its folio unit, then of the untouched
     * folio units of its granule. The page is PREPARING, so no store can land in it, and the region lock is
     * held, so the file's size is still; neighbours are claimed first, so no writer can enter them while
     * they are filled. If the page's folio unit cannot be filled whole, what was written of it is given back
     * (native access) and the fault reports no space. Caller holds the file's resource lock.
     *
     * <p>The I/O runs on an I/O thread ({@link BlockingIo}), never on the faulting thread, so an interrupt
     * of the writer never reaches a channel shared by every fault on the file. An interrupt stops the fill
     * at its next step with {@link InterruptedIOException}, which mkwrite reports as
     * {@link dev.mkwrite.FaultInterruptedException}; an interrupt after the page's folio unit was filled
     * only stops the filling of its neighbours.
     *
     * <p>A {@linkplain WriteFault#isNoWait() no-wait} fault whose folio unit finds no space gives back what
     * it wrote and stops there, without giving back other faults' space, which waits for the allocations in
     * flight.
     *
     * <p>Nor does a no-wait fault wait for another fault's fill of a unit of its folio unit: it gives back what
     * it wrote and stops, as for no space.
     *
     * <p>The end of the file may cut the page's folio unit: it is filled to the end of the file only, the
     * page's units are not recorded (every fault of the unit's pages fills again, the whole unit once the
     * file grew), and the answer says so, for the page's reservation ({@link dev.mkwrite.impl.PreparedInPart}).
     *
     * @return {@link GranuleAllocator.Allocated#WOULD_WAIT} if a no-wait fault stopped so (nothing of its folio
     *         unit is kept, unless another fault touched a unit of it: then the zeros of its page, and what a
     *         failed fallocate of the folio unit got, stay, recorded nowhere), {@link GranuleAllocator.Allocated#DONE_AT_END} where the end of the file cuts the
     *         page's folio unit, else {@link GranuleAllocator.Allocated#DONE}
     */
    GranuleAllocator.Allocated fill(FileSpace file, WriteFault fault, int stamp) throws IOException {
        StorageFile storage = file.storage();
        return BlockingIo.call(cancel -> fill(storage, file, fault, stamp, cancel));
    }

    /** {@link #fill(FileSpace, WriteFault, int)} on the I/O thread. */
    private GranuleAllocator.Allocated fill(StorageFile storage, FileSpace file, WriteFault fault, int stamp,
                                            BlockingIo.Cancel cancel)
            throws IOException {
        long start = fault.offset();
        long end = start + fault.length();
        long generation = fault.generation();
        long size = storage.size();
        long folio = file.folioUnit;
        // The page's folio unit, inside the file (a page of a folio unit or more is aligned to it).
        long folioFrom = start & -folio;
        long folioTo = Math.min(Math.max(end, GranuleAllocator.alignUp(end, folio)), size);
        if (fault.isNoWait() && anyFilling(file, folioFrom, folioTo)) {
            return GranuleAllocator.Allocated.WOULD_WAIT; // before writing anything: the refusal has nothing to give back
        }
        boolean edge = false;
        try {
            for (int reclaims = 0; ; reclaims++) {
                try {
                    counters.zeroFilledBytes.add(FileZeros.fillHoles(storage, start, Math.min(end, size), cancel));
                    space.beginNeededSpeculation(); // beyond the page: a fault at the edge waits for it
                    boolean filled;
                    try {
                        filled = fillFolio(storage, file, start, end, folioFrom, folioTo, stamp, generation,
                                fault.isNoWait(), cancel);
                    } finally {
                        space.endSpeculation();
                    }
                    if (!filled) { // another fault's fill began in its folio unit since the check above
                        giveBackFolio(file, folioFrom, folioTo, start, end);
                        return GranuleAllocator.Allocated.WOULD_WAIT;
                    }
                    break;
                } catch (InterruptedIOException e) {
                    throw e;
                } catch (IOException e) {
                    if (!Errno.isNoSpace(e, fault.path(), fault.length())) {
                        throw e;
                    }
                    giveBackFolio(file, folioFrom, folioTo, start, end);
                    if (fault.isNoWait()) {
                        return GranuleAllocator.Allocated.WOULD_WAIT;
                    }
                    if (!space.retryAtTheEdge(edge, reclaims)) {
                        throw counters.noSpace("the filesystem has no space for the page (zero-fill: "
                                + e.getMessage() + ")", fault, e);
                    }
                    edge = true;
                }
            }
        } finally {
            if (edge) {
                space.leaveEdge();
            }
        }
        // Only what lies inside the file was filled. The region keeps the file as long as itself, but for a while
        // after a shrink whose truncate failed, when the file is longer: what is recorded in its tail then is
        // forgotten, as the grow that truncates the tail maps anew (Resizing.mapAnew).
        // A folio unit the end of the file cuts is not recorded: see above.
        boolean atEnd = file.cutsFolio(folioTo);
        GranuleAllocator.Allocated done = atEnd ? GranuleAllocator.Allocated.DONE_AT_END
                : GranuleAllocator.Allocated.DONE;
        if (!atEnd) {
            file.units.recordAllocated(UnitTable.unit(start), UnitTable.unitCeil(Math.min(end, size)), stamp,
                    generation);
        }
        if (space.spaceShort() && !space.roomForGranules(file)) {
            return done; // the neighbours would take the space that faults of other pages need
        }
        long granule = Math.max(space.granule(), folio);
        long firstUnit = UnitTable.unit(start & -granule);
        // Whole folio units: one the end of the file cuts is its own pages' to fill.
        long endUnit = UnitTable.unitCeil(Math.min(GranuleAllocator.alignUp(end, granule), size) & -folio);
        if (endUnit <= firstUnit || !space.beginSpeculation()) {
            return done; // nothing beside the page, or another fault is giving space back
        }
        try {
            fillNeighbours(storage, file, UnitTable.unit(folioFrom), UnitTable.unitCeil(folioTo), firstUnit, endUnit,
                    stamp, generation, cancel);
        } finally {
            space.endSpeculation();
        }
        Runnable seam = afterNeighboursForTests;
        if (seam != null) {
            seam.run();
        }
        return done;
    }

    /** Whether another fault is filling a unit of {@code [from, to)} now. */
    private static boolean anyFilling(FileSpace file, long from, long to) {
        for (long u = UnitTable.unit(from), end = UnitTable.unitCeil(to); u < end; u++) {
            if (UnitTable.filling(file.units.wordVolatile(u))) {
                return true;
            }
        }
        return false;
    }

    /**
     * Zero-fills the units of the page's folio unit {@code [folioFrom, folioTo)} around the page
     * {@code [start, end)} that no fault touched and that are not known to be allocated, run by run. A unit
     * another fill (or a give-back) holds is waited for and looked at again: it may have been given back.
     * A run that fails is given back before the failure is thrown. Holds no claim while it waits. A no-wait
     * fault ({@code noWait}) does not wait: it stops at such a unit, and returns false; else true. A folio
     * unit the end of the file cuts is recorded at stamp 0, a period no fault holds: its blocks are found by
     * a give-back, but no fault takes a page of it as allocated (see {@link #fill(FileSpace, WriteFault, int)}).
     */
    private boolean fillFolio(StorageFile storage, FileSpace file, long start, long end, long folioFrom, long folioTo,
                              int stamp, long generation, boolean noWait, BlockingIo.Cancel cancel) throws IOException {
        long pageFirst = UnitTable.unit(start);
        long pageEnd = UnitTable.unitCeil(end);
        long firstUnit = UnitTable.unit(folioFrom);
        long endUnit = UnitTable.unitCeil(folioTo);
        // Before any zeros of this fill, so that a folio unit that finds no space keeps no record of them.
        boolean allocated = touchedHole(file, firstUnit, endUnit, pageFirst, pageEnd, stamp, generation)
                && allocateFolio(storage, file, folioFrom, folioTo);
        boolean lateHole = false;
        long u = firstUnit;
        while (u < endUnit) {
            if (u >= pageFirst && u < pageEnd) {
                u = pageEnd;
                continue;
            }
            long runEnd = u;
            while (runEnd < endUnit && (runEnd < pageFirst || runEnd >= pageEnd)
                    && file.claimFill(runEnd, stamp, generation)) {
                runEnd++;
            }
            if (runEnd == u) {
                long w = file.units.wordVolatile(u);
                if (UnitTable.filling(w)) {
                    if (noWait) {
                        return false;
                    }
                    cancel.check();
                    file.awaitFillEnd(u); // briefly: then look again
                } else if (UnitTable.touched(w) || UnitTable.allocated(w, stamp, generation)) {
                    // A touched unit is its own fault's to fill; one touched since the look above may be a hole
                    // too (its fault may yet find no space), so the folio unit is allocated after all.
                    lateHole |= UnitTable.touched(w) && !UnitTable.allocated(w, stamp, generation);
                    u++;
                } // else another fill held it and gave it back before this look: claimed again
                continue;
            }
            Runnable seam = beforeFolioRunForTests;
            if (seam != null) {
                seam.run();
            }
            fillRun(storage, file, u, runEnd, Math.min(runEnd << UnitTable.UNIT_SHIFT, folioTo),
                    file.cutsFolio(folioTo) ? 0 : stamp, generation, cancel);
            u = runEnd;
        }
        if (lateHole && !allocated) {
            allocateFolio(storage, file, folioFrom, folioTo);
        }
        return true;
    }

    /**
     * Whether a unit of {@code [fromUnit, toUnit)} but the page's own {@code [ownFrom, ownTo)} is touched and
     * not allocated for this fault's generation: it may be a hole that no fault of its page fills before
     * this page is written, since that fault found no space, or a punch or a truncate took its blocks after
     * it touched them.
     */
    private static boolean touchedHole(FileSpace file, long fromUnit, long toUnit, long ownFrom, long ownTo,
                                       int stamp, long generation) {
        for (long u = fromUnit; u < toUnit; u++) {
            long w = file.units.wordVolatile(u);
            if ((u < ownFrom || u >= ownTo) && UnitTable.touched(w) && !UnitTable.allocated(w, stamp, generation)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Allocates the page's whole folio unit {@code [folioFrom, folioTo)} with fallocate, where a unit another
     * fault touched may be a hole ({@link #touchedHole}): zeros written there could overwrite a store of that
     * page, and fallocate changes no byte. Records nothing: a unit another fill holds is that fill's to
     * record or give back ({@link SpaceEdge#giveBackClaimed} trusts that no fallocate records it), so each
     * page of the folio unit that faults while such a unit is touched calls fallocate again (a no-op system
     * call where the blocks are there). Returns true if the folio unit is allocated. Without native access,
     * or on a filesystem without fallocate, the hole stays (see the class documentation): returns false.
     * Where the folio unit finds no space, the allocations recorded in it are moved to a period no fault
     * holds, so that no page of it is taken as allocated beside the hole, and ENOSPC (or EDQUOT) is thrown,
     * which the fill treats as its folio unit finding no space.
     */
    private boolean allocateFolio(StorageFile storage, FileSpace file, long folioFrom, long folioTo)
            throws IOException {
        if (file.fallocateUnsupported) {
            return false;
        }
        StorageFile.Outcome r = storage.allocate(folioFrom, folioTo - folioFrom);
        switch (r) {
            case DONE -> {
                counters.fallocates.increment();
                return true;
            }
            case UNSUPPORTED -> {
                file.fallocateUnsupported = true; // zero-fill is what this handler does anyway
                return false;
            }
            default -> {
                file.forgetAllocations(UnitTable.unit(folioFrom), UnitTable.unitCeil(folioTo));
                throw new ErrnoException("fallocate", r == StorageFile.Outcome.OVER_QUOTA ? Errno.EDQUOT
                        : Errno.ENOSPC, storage.path(), folioFrom, folioTo - folioFrom, null);
            }
        }
    }

    /**
     * Fills the claimed units {@code [fromUnit, toUnit)} up to byte {@code to}, and records them allocated;
     * if that fails, gives back what it wrote and throws.
     */
    private void fillRun(StorageFile storage, FileSpace file, long fromUnit, long toUnit, long to, int stamp,
                         long generation, BlockingIo.Cancel cancel) throws IOException {
        boolean filled = false;
        try {
            counters.zeroFilledBytes.add(FileZeros.fillHoles(storage, fromUnit << UnitTable.UNIT_SHIFT, to, cancel));
            filled = true;
        } finally {
            if (filled) {
                file.endFill(fromUnit, toUnit, true, stamp, generation);
            } else {
                // What the fill wrote before it failed is recorded nowhere, so no reclaim finds it: it is
                // given back now, before the speculation ends, which is all a fault at the edge waits for.
                space.giveBackClaimed(storage, file, fromUnit, toUnit);
            }
        }
    }

    /**
     * After the page's folio unit {@code [folioFrom, folioTo)} could not be filled whole: gives back what was
     * written of it, the page's own zeros too (its fault holds it), unless another fault touched a unit of
     * it. As a fallocate that failed does ({@link SpaceEdge#giveBack}), while speculating, so a fault at the
     * edge waits for it.
     */
    private void giveBackFolio(FileSpace file, long folioFrom, long folioTo, long start, long end) {
        space.beginNeededSpeculation();
        try {
            space.giveBack(file, folioFrom, folioTo, start, end);
        } finally {
            space.endSpeculation();
        }
    }

    /**
     * Zero-fills the folio units of {@code [firstUnit, endUnit)} but the page's own
     * {@code [ownFirst, ownEnd)}, each only if no fault touched any unit of it and it is not known to be
     * allocated whole, and stops at the first run whose fill fails, having given back what it wrote.
     * Caller speculates.
     */
    private void fillNeighbours(StorageFile storage, FileSpace file, long ownFirst, long ownEnd, long firstUnit,
                                long endUnit, int stamp, long generation, BlockingIo.Cancel cancel) {
        long folio = file.folioUnits();
        long u = firstUnit;
        while (u < endUnit && !cancel.requested()) {
            if (u >= ownFirst && u < ownEnd) {
                u = GranuleAllocator.alignUp(ownEnd, folio);
                continue;
            }
            long runEnd = u;
            while (runEnd < endUnit && (runEnd < ownFirst || runEnd >= ownEnd)
                    && file.claimFolioFill(runEnd, Math.min(runEnd + folio, endUnit), stamp, generation)) {
                runEnd = Math.min(runEnd + folio, endUnit);
            }
            if (runEnd == u) {
                u += folio;
                continue;
            }
            try {
                fillRun(storage, file, u, runEnd, runEnd << UnitTable.UNIT_SHIFT, stamp, generation, cancel);
            } catch (IOException e) {
                return; // a neighbour is not this write's business: its own fault will try again and report
            }
            u = runEnd;
        }
    }
}
