package dev.mkwrite.impl.storage;

import dev.mkwrite.StorageFile;
import dev.mkwrite.impl.os.Errno;
import dev.mkwrite.impl.os.FileZeros;
import dev.mkwrite.impl.os.LazyLogger;
import dev.mkwrite.impl.os.Uninterruptible;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.Path;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Space at the edge, for one {@link StorageHandler}: when a fault finds no space, the handler gives back
 * what it allocated ahead of writers that never came (whole {@linkplain FolioUnit folio units} no fault
 * touched, their units that read as zeros, in every file it serves) and tries the page again, granule by
 * granule down to the page's folio unit, before it reports no space. Only whole folio units: a unit given
 * back beside a touched one would leave a page a writer stores into sharing its page-cache folio with a
 * hole, and on ext4 a store into that page after its writeback would need a block for the hole. While it does, allocations beyond a faulting page (speculation: a granule's fallocate, a
 * neighbour fill, a prepare-ahead batch) are held off, so everything allocated ahead is recorded and can
 * be given back. Needs native access to punch holes; without it nothing is given back.
 */
final class SpaceEdge {

    private static final LazyLogger LOG = new LazyLogger(SpaceEdge.class);
    /** The most units claimed and punched in one go when giving space back: 1 MiB. */
    private static final int RECLAIM_RUN_UNITS = 256;
    /** How often a fault gives space back and tries its page again before it reports no space. */
    private static final int MAX_RECLAIMS = 3;
    /** The longest a fault in edge mode waits for allocations in flight. */
    private static final long SPECULATION_WAIT_NANOS = 1_000_000_000L;

    private final int granule;
    private final boolean nativeCalls;
    /** The handler's files, all of which space may be given back from. */
    private final ConcurrentHashMap<Path, FileSpace> files;
    /** Set when a fault found no space; cleared when a whole granule fits again. Pauses prepare-ahead. */
    private volatile boolean spaceShort;
    /** Allocations beyond a faulting page in flight; see {@link #beginSpeculation()}. */
    private final AtomicInteger speculating = new AtomicInteger();
    /** Hold-offs of speculation: faults in edge mode, and punches; see {@link #holdOffSpeculation}. */
    private final AtomicInteger reclaimers = new AtomicInteger();
    /** Speculation in flight that is giving back what its fallocate got; see {@link #giveBack}. */
    private final AtomicInteger givingBack = new AtomicInteger();
    /** Held while giving space back; a fault waits for it interruptibly (K9). */
    private final ReentrantLock reclaiming = new ReentrantLock();
    /** Tests only: runs while {@link #reclaim} holds {@link #reclaiming}; null otherwise. */
    private volatile Runnable insideReclaimForTests;
    /** Hold-offs that found speculation in flight and waited for it: what a no-wait fault must never do. */
    private final AtomicLong speculationWaits = new AtomicLong();

    SpaceEdge(int granule, boolean nativeCalls, ConcurrentHashMap<Path, FileSpace> files) {
        this.granule = granule;
        this.nativeCalls = nativeCalls;
        this.files = files;
    }

    /** The handler's granule, the most a fault allocates beyond its page. */
    int granule() {
        return granule;
    }

    /** Whether space is short: faults allocate folio unit by folio unit, prepare-ahead pauses. */
    boolean spaceShort() {
        return spaceShort; // volatile
    }

    void spaceShort(boolean shortOfSpace) {
        spaceShort = shortOfSpace; // volatile
    }

    /**
     * Gives back, from every file this handler serves, the blocks it allocated ahead of writers that never
     * came: the units no fault touched (so no writer can be storing into them) that have an allocation
     * recorded and read as zeros (so no byte changes), by punching holes in them. Called by a fault that
     * found no space for its own page, before it reports no space; also pauses prepare-ahead. A file busy
     * closing is skipped. Needs native access.
     *
     * @return the bytes of the holes punched
     * @throws InterruptedIOException if the thread was interrupted while another fault's give-back held it
     *                                back; then it gave nothing back
     */
    long reclaim() throws InterruptedIOException {
        long punched = 0;
        try {
            reclaiming.lockInterruptibly(); // one at a time: a second would skip the units the first has claimed
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while it waited for another fault's give-back");
        }
        try {
            Runnable seam = insideReclaimForTests;
            if (seam != null) {
                seam.run();
            }
            for (FileSpace f : files.values()) {
                if (f.tryLockResources()) {
                    try {
                        punched += punchUntouched(f, 0, Long.MAX_VALUE, 0, 0, true);
                    } finally {
                        f.unlockResources();
                    }
                }
            }
        } finally {
            reclaiming.unlock();
        }
        return punched;
    }

    /** Sets the seam {@link #reclaim} runs while it holds the give-back's lock (null: none). */
    void insideReclaimForTests(Runnable seam) {
        insideReclaimForTests = seam;
    }

    /** How many hold-offs found speculation in flight and waited for it; for tests. */
    long speculationWaitsForTests() {
        return speculationWaits.get();
    }

    /**
     * While space is short, whether the filesystem has room again for granules: twice a granule of
     * {@code file} free. If so, space is no longer short.
     */
    boolean roomForGranules(FileSpace file) {
        if (Errno.usableSpace(file.path) < 2L * Math.max(granule, file.folioUnit)) {
            return false;
        }
        spaceShort = false; // volatile
        return true;
    }

    /**
     * Begins an allocation beyond a faulting page (a granule's fallocate, a neighbour fill, a prepare-ahead
     * batch), unless a fault is giving space back: what such an allocation gets is recorded, or given back,
     * only by the time it ends, and a reclaim can only give back what is recorded. Paired with
     * {@link #endSpeculation()}.
     *
     * @return false if the caller must not allocate beyond its page now
     */
    boolean beginSpeculation() {
        if (reclaimers.get() > 0) {
            return false;
        }
        speculating.incrementAndGet(); // volatile: a reclaimer that enters after this waits for us
        if (reclaimers.get() > 0) { // volatile: or we see it, and back off
            speculating.decrementAndGet();
            return false;
        }
        return true;
    }

    /**
     * Begins an allocation beyond a faulting page that the page needs (the rest of its folio unit), even
     * while a fault is giving space back: that fault waits for it as for any other speculation, so what it
     * gets is recorded, or given back, before that fault tries again. It never waits for a reclaimer. Paired
     * with {@link #endSpeculation()}.
     */
    void beginNeededSpeculation() {
        speculating.incrementAndGet();
    }

    void endSpeculation() {
        speculating.decrementAndGet();
    }

    /**
     * Enters edge mode before a fault gives space back: no new allocation beyond a page begins, and those in
     * flight are waited for (briefly; they never wait for a reclaimer), so that everything allocated ahead of
     * writers is recorded and the space the reclaim frees goes to pages. Paired with {@link #leaveEdge()}.
     *
     * @return true if the caller is in edge mode (native access needed to give space back)
     */
    boolean enterEdge() {
        spaceShort = true; // volatile: folio unit by folio unit until two granules fit again
        if (!nativeCalls) {
            return false;
        }
        holdOffSpeculation(true);
        return true;
    }

    /** Leaves edge mode, entered with {@link #enterEdge()}: ends its hold-off of speculation. */
    void leaveEdge() {
        endHoldOff();
    }

    /**
     * Holds off allocations beyond a faulting page until {@link #endHoldOff()}: none begins after this, and
     * those in flight are waited for (briefly; they never wait for anything a reclaimer holds). Hold-offs
     * nest ({@link #reclaimers} counts them): one taken in edge mode, where none has begun since
     * {@link #enterEdge()}, waits only for what outlasted that wait.
     *
     * @param evenGivingBack whether to wait for speculation that is giving back what its fallocate got
     *                       ({@link #giveBack}) too, as edge mode does, so that what it gives back is free
     *                       when the reclaim begins; a punch need not, as those allocate nothing more, and a
     *                       give-back, which speculates itself, must not
     */
    private void holdOffSpeculation(boolean evenGivingBack) {
        reclaimers.incrementAndGet(); // volatile: speculation that begins after this backs off
        long deadline = System.nanoTime() + SPECULATION_WAIT_NANOS;
        // An interrupt is kept aside meanwhile: with the status set, parkNanos returns at once and this
        // would spin. The wait is brief; the caller looks at the interrupt after it.
        boolean interrupted = false;
        // Speculation is read first: any that gives back by the time givingBack is read is past its fallocate.
        boolean waited = false;
        while (speculating.get() > (evenGivingBack ? 0 : givingBack.get()) && System.nanoTime() < deadline) {
            waited = true;
            LockSupport.parkNanos(20_000);
            interrupted |= Thread.interrupted();
        }
        if (waited) {
            speculationWaits.incrementAndGet();
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** Ends a {@linkplain #holdOffSpeculation hold-off}: speculation may begin again once none is left. */
    private void endHoldOff() {
        reclaimers.decrementAndGet();
    }

    /**
     * Whether a fault whose page found no space should try it again, having given space back: the first
     * time it enters edge mode ({@link #enterEdge()}, the caller leaves it with {@link #leaveEdge()} once
     * {@code inEdge}) and always tries again, as the space may have been held only for a moment by another
     * fault's failing granule (a filesystem that undoes a failed fallocate holds it until then); after that,
     * only while giving back frees something, up to {@link #MAX_RECLAIMS} times.
     *
     * <p>A faulting thread that is interrupted, before or while it gives space back, gets
     * {@link InterruptedIOException} instead (K9: its fault ends with {@code FaultInterruptedException},
     * not a misleading no-space error); a give-back it began still runs to its end.
     *
     * @param inEdge   whether the caller entered edge mode already
     * @param attempts how often it tried again already
     * @throws InterruptedIOException if the thread is interrupted; then it is not in edge mode unless
     *                                {@code inEdge} said so
     */
    boolean retryAtTheEdge(boolean inEdge, int attempts) throws InterruptedIOException {
        Runnable seam = atTheEdgeForTests;
        if (seam != null) {
            seam.run();
        }
        checkInterrupt();
        if (!inEdge) {
            if (!enterEdge()) {
                return false; // nothing can be given back without native access
            }
            try {
                reclaim();
                checkInterrupt();
            } catch (InterruptedIOException e) {
                leaveEdge(); // the caller, told nothing, does not
                throw e;
            }
            return true;
        }
        boolean retry = attempts < MAX_RECLAIMS && reclaim() > 0;
        checkInterrupt();
        return retry;
    }

    /** Tests only: runs on the faulting thread as it reaches {@link #retryAtTheEdge}; null otherwise. */
    private volatile Runnable atTheEdgeForTests;

    /** Sets the seam {@link #retryAtTheEdge} runs first (null: none). */
    void atTheEdgeForTests(Runnable seam) {
        atTheEdgeForTests = seam;
    }

    private static void checkInterrupt() throws InterruptedIOException {
        if (Thread.currentThread().isInterrupted()) {
            throw new InterruptedIOException("interrupted while it looked for space at the disk's edge");
        }
    }

    /**
     * After a fallocate of {@code [from, to)} beyond a faulting page failed for lack of space, or allocated
     * what could not be recorded: gives back whatever of the range it may have allocated, in the folio
     * units no fault touched but the faulting page {@code [ownFrom, ownTo)} (empty for prepare-ahead), whose
     * own units are given back too where they read as zeros: its fault holds the page, which no store
     * enters until the fault succeeded, and a fault that goes on allocates its folio unit again. A folio unit
     * another fault touched keeps its blocks: a writer may be storing into a page beside them. Called by the allocation while it still speculates, so a fault at the edge, which waits for
     * speculation to end, finds the space free: what a failed fallocate got (ext4 and XFS keep it) is
     * recorded nowhere, and once the allocation stopped speculating no reclaim would find it. Allocations
     * beyond a page are held off meanwhile (see {@link #punchUntouched}); those in flight are waited for,
     * except those giving back too, which allocate nothing more. Caller holds the file's resource lock and
     * speculates ({@link #beginSpeculation()}).
     */
    void giveBack(FileSpace file, long from, long to, long ownFrom, long ownTo) {
        if (nativeCalls) {
            givingBack.incrementAndGet(); // volatile: before its hold-off waits for the others
            try {
                punchUntouched(file, UnitTable.unit(from), UnitTable.unitCeil(to), UnitTable.unit(ownFrom),
                        UnitTable.unitCeil(ownTo), false);
            } finally {
                givingBack.decrementAndGet();
            }
        }
    }

    /**
     * After a zero-fill of the units {@code [fromUnit, toUnit)} failed part way: gives back what it wrote
     * (holes punched in the units that read as zeros), then ends the fill's claim on the units as
     * {@link FileSpace#endReclaim} does, forgetting any allocation recorded for them. Called by the fill
     * while it holds the claim and still speculates, so a fault at the edge, which waits for speculation to
     * end, finds the space free: blocks written by a fill that failed are recorded nowhere, and once the
     * claim ended no reclaim would find them. While the units are claimed no other fill or reclaim enters
     * them, and no fallocate records them (a file is zero-filled only where fallocate is not supported, or
     * by a zero-fill handler, whose fallocate of a folio unit records nothing), so unlike {@link #giveBack} this needs no hold-off and invalidates no record. Never
     * throws: space that cannot be given back is kept.
     */
    void giveBackClaimed(StorageFile storage, FileSpace file, long fromUnit, long toUnit) {
        try {
            if (nativeCalls) {
                long from = fromUnit << UnitTable.UNIT_SHIFT;
                long to = toUnit << UnitTable.UNIT_SHIFT;
                // To its end, as punchUntouched's: endReclaim below forgets the units' records. The fill calls
                // this on its I/O thread, where a nested call ran inline and uncancelled anyway; this says so
                // wherever it is called from.
                Uninterruptible.callToTheEnd(cancel -> FileZeros.punchZeros(storage, from, to, cancel));
            }
        } catch (IOException | RuntimeException e) {
            LOG.get().debug("giving back the failed zero-fill of {} stopped: {}", file.path, e.toString());
        } finally {
            file.endReclaim(fromUnit, toUnit); // even after a failure: some holes may have been punched
        }
    }

    /**
     * Gives back the untouched allocated units of a released file. The file stays allocated where written.
     * The region's descriptors are closed by then: the handler opens the file for this, if there is anything
     * to give back, and its release closes it again. It punches only under the file's lock
     * ({@link FileSpace#lockForTrim}): a region opened over the file since the close (in another process)
     * keeps the blocks, since its faults may have found them allocated and will not prepare them again.
     * Runs on the closing thread, to its end whatever interrupts it ({@link #punchUntouched}), which keeps
     * its interrupt status.
     */
    void trim(FileSpace file) {
        if (!nativeCalls) {
            return;
        }
        // After a reclaim walking the file: the units it claims, a trim beside it would skip, and forget.
        reclaiming.lock();
        try {
            trimLocked(file);
        } finally {
            reclaiming.unlock();
        }
    }

    private void trimLocked(FileSpace file) {
        if (file.tryLockResources()) {
            try {
                if (file.units.nextUntouchedAllocated(0) < 0) {
                    return; // nothing recorded to give back: no descriptor to open
                }
                if (!file.lockForTrim()) {
                    LOG.get().debug("not giving back the space of {}: a region over it is open again", file.path);
                    return;
                }
                punchUntouched(file, 0, Long.MAX_VALUE, 0, 0, true);
            } catch (IOException | RuntimeException e) {
                LOG.get().debug("giving back the space of {} failed: {}", file.path, e.toString());
            } finally {
                file.unlockResources();
            }
        }
    }

    /**
     * Punches holes in the units of {@code [fromUnit, toUnit)} that read as zeros, in whole folio units
     * ({@link FileSpace#folioUnit}) of which no fault touched any unit but those of {@code [ownFrom, ownTo)},
     * the page of the fault that calls (if any): if {@code recordedOnly}, only in folio units with an
     * allocation recorded for an untouched unit. Each run of folio units is claimed first, all its units but
     * the caller's page (the filling bit keeps faults out of them), and if any was punched, the file's
     * allocation records are invalidated. A folio unit any other unit of which is touched or filling is left
     * whole. Never throws: space that cannot be given back is simply kept. Runs to its end whatever
     * interrupts the caller, which keeps its interrupt status. Caller holds the file's resource lock and is
     * not speculating, unless it {@linkplain #giveBack gives back} what its fallocate got.
     *
     * <p>Allocations beyond a page are held off throughout ({@link #holdOffSpeculation}). A punch walks
     * its range chunk by chunk; an allocation ahead (prepare-ahead's granule, a fault's granule) that lands
     * in the range after a chunk was punched, and is recorded before the punch ends, would lose its record
     * when the punch releases its claim ({@link FileSpace#endReclaim}): blocks allocated that no reclaim can
     * find, lost to every writer until the file is released. In edge mode ({@link #reclaim()}) they are
     * held off already, and the hold-off nests.
     *
     * @return the bytes punched
     */
    private long punchUntouched(FileSpace file, long fromUnit, long toUnit, long ownFrom, long ownTo,
                                boolean recordedOnly) {
        holdOffSpeculation(false);
        long punched = 0;
        boolean claimedAny = false;
        long folio = file.folioUnits();
        try {
            StorageFile storage = null; // opened only once there is something to give back
            long u = fromUnit & -folio;
            while (u < toUnit) {
                if (recordedOnly) {
                    long next = file.units.nextUntouchedAllocated(u);
                    if (next < 0 || next >= toUnit) {
                        break;
                    }
                    u = next & -folio; // u was aligned and next is at or after it: never backwards
                }
                long runEnd = u;
                while (runEnd < toUnit && runEnd - u < RECLAIM_RUN_UNITS
                        && (!recordedOnly || runEnd == u || hasUntouchedAllocated(file, runEnd, runEnd + folio))
                        && file.claimFolio(runEnd, runEnd + folio, ownFrom, ownTo)) {
                    runEnd += folio;
                }
                if (runEnd == u) {
                    u += folio;
                    continue;
                }
                claimedAny = true;
                boolean walked = false;
                try {
                    long first = u << UnitTable.UNIT_SHIFT;
                    long last = runEnd << UnitTable.UNIT_SHIFT;
                    StorageFile f = storage != null ? storage : (storage = file.storage());
                    // To its end, interrupted or not: a punch stopped part way keeps the run's records below,
                    // and its blocks, until another give-back walks it.
                    punched += Uninterruptible.callToTheEnd(cancel -> FileZeros.punchZeros(f, first, last, cancel));
                    walked = true;
                } finally {
                    if (walked) {
                        file.endReclaim(u, runEnd); // forgets the run's records: holes where it read zeros
                    } else {
                        // Failed part way (the region closed the descriptor under a reclaim, say): the records
                        // stay for a later reclaim or the release's trim, but no fault trusts them.
                        file.abandonReclaim(u, runEnd, ownFrom, ownTo);
                    }
                }
                u = runEnd;
            }
        } catch (IOException | RuntimeException e) {
            LOG.get().debug("giving back the space of {} stopped: {}", file.path, e.toString());
        } finally {
            try {
                if (claimedAny) {
                    file.invalidateAllocations();
                }
            } finally {
                endHoldOff(); // once the records are invalidated
            }
        }
        return punched;
    }

    /** Whether some unit of {@code [fromUnit, toUnit)} has an allocation recorded and is untouched. A hint. */
    private static boolean hasUntouchedAllocated(FileSpace file, long fromUnit, long toUnit) {
        for (long u = fromUnit; u < toUnit; u++) {
            long w = file.units.wordVolatile(u);
            if ((w & UnitTable.ALLOC_MASK) != 0 && (w & (UnitTable.TOUCHED | UnitTable.FILLING)) == 0) {
                return true;
            }
        }
        return false;
    }
}
