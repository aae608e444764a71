package dev.mkwrite.impl.storage;

import dev.mkwrite.StorageFile;
import dev.mkwrite.WriteFault;
import dev.mkwrite.impl.os.BlockingIo;
import dev.mkwrite.impl.os.Errno;
import dev.mkwrite.impl.os.FileZeros;

import java.io.IOException;
import java.io.InterruptedIOException;

/**
 * A {@link StorageHandler}'s allocation by writing zeros into holes, through the region's file
 * ({@link StorageFile#write}): the faulting page's holes, then those of the untouched units of its
 * granule. Needs no native access. Thread-safe.
 */
final class ZeroFill {

    private final SpaceEdge space;
    private final StorageCounters counters;
    /** Run by a fill once its neighbours' speculation ended; a test's seam, null otherwise. */
    private volatile Runnable afterNeighboursForTests;

    ZeroFill(SpaceEdge space, StorageCounters counters) {
        this.space = space;
        this.counters = counters;
    }

    /**
     * For tests: {@code seam} runs on the I/O thread of every fill that filled neighbours, right after that
     * fill's speculation ended (null: none). It may block, to hold the fill there while another fault runs.
     */
    void afterNeighboursForTests(Runnable seam) {
        afterNeighboursForTests = seam;
    }

    /**
     * Zero-fills the holes of the faulting page, then of the untouched units of its granule. The page is
     * PREPARING, so no store can land in it, and the region lock is held, so the file's size is still;
     * neighbours are claimed first, so no writer can enter them while they are filled. Caller holds the
     * file's resource lock.
     *
     * <p>The I/O runs on an I/O thread ({@link BlockingIo}), never on the faulting thread, so an interrupt
     * of the writer never reaches a channel shared by every fault on the file. An interrupt stops the fill
     * at its next step with {@link InterruptedIOException}, which mkwrite reports as
     * {@link dev.mkwrite.FaultInterruptedException}; an interrupt after the page itself was filled only
     * stops the filling of its neighbours.
     */
    void fill(FileSpace file, WriteFault fault, int stamp) throws IOException {
        StorageFile storage = file.storage();
        BlockingIo.call(cancel -> {
            fill(storage, file, fault, stamp, cancel);
            return null;
        });
    }

    /** {@link #fill(FileSpace, WriteFault, int)} on the I/O thread. */
    private void fill(StorageFile storage, FileSpace file, WriteFault fault, int stamp, BlockingIo.Cancel cancel)
            throws IOException {
        long start = fault.offset();
        long end = start + fault.length();
        long generation = fault.generation();
        long size = storage.size();
        boolean edge = false;
        try {
            for (int reclaims = 0; ; reclaims++) {
                try {
                    counters.zeroFilledBytes.add(FileZeros.fillHoles(storage, start, Math.min(end, size), cancel));
                    break;
                } catch (InterruptedIOException e) {
                    throw e;
                } catch (IOException e) {
                    if (!Errno.isNoSpace(e, fault.path(), fault.length())) {
                        throw e;
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
        // Only what lies inside the file was filled (the region keeps the file as long as itself).
        file.units.recordAllocated(UnitTable.unit(start), UnitTable.unitCeil(Math.min(end, size)), stamp, generation);
        if (space.spaceShort() && !space.roomForGranules(file)) {
            return; // the neighbours would take the space that faults of other pages need
        }
        long firstUnit = UnitTable.unit(start & -(long) space.granule());
        long endUnit = UnitTable.unitCeil(Math.min(GranuleAllocator.alignUp(end, space.granule()), size));
        if (!space.beginSpeculation()) {
            return; // another fault is giving space back
        }
        try {
            fillNeighbours(storage, file, start, end, size, firstUnit, endUnit, stamp, generation, cancel);
        } finally {
            space.endSpeculation();
        }
        Runnable seam = afterNeighboursForTests;
        if (seam != null) {
            seam.run();
        }
    }

    /**
     * Zero-fills the untouched units of {@code [firstUnit, endUnit)} around the page {@code [start, end)},
     * and stops at the first run whose fill fails, having given back what it wrote. Caller speculates.
     */
    private void fillNeighbours(StorageFile storage, FileSpace file, long start, long end, long size,
                                long firstUnit, long endUnit, int stamp, long generation,
                                BlockingIo.Cancel cancel) {
        long pageFirst = UnitTable.unit(start);
        long pageEnd = UnitTable.unitCeil(end);
        long u = firstUnit;
        while (u < endUnit && !cancel.requested()) {
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
                u++;
                continue;
            }
            boolean filled = false;
            try {
                counters.zeroFilledBytes.add(FileZeros.fillHoles(storage, u << UnitTable.UNIT_SHIFT,
                        Math.min(runEnd << UnitTable.UNIT_SHIFT, size), cancel));
                filled = true;
            } catch (IOException e) {
                // A neighbour is not this write's business: its own fault will try again and report.
            } finally {
                if (filled) {
                    file.endFill(u, runEnd, true, stamp, generation);
                } else {
                    // What the fill wrote before it failed is recorded nowhere, so no reclaim finds it: it is
                    // given back now, before the speculation ends, which is all a fault at the edge waits for.
                    space.giveBackClaimed(storage, file, u, runEnd);
                }
            }
            if (!filled) {
                return;
            }
            u = runEnd;
        }
    }
}
