package dev.mkwrite.impl.storage;

import dev.mkwrite.StorageFile;
import dev.mkwrite.WriteFault;
import dev.mkwrite.impl.os.Errno;
import dev.mkwrite.impl.os.PosixNative;
import dev.mkwrite.impl.os.SharedFile;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.ref.WeakReference;
import java.nio.file.Path;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A storage handler's state for one file: the {@link UnitTable}, the mapping period, the file it prepares
 * through (the region's, shared), and the prepare-ahead window.
 *
 * <h2>Mapping periods</h2>
 * Every fault passes the scope of the region's mapping to {@link #observe}. All faults that run at the
 * same time hold the region lock shared, so they see the same mapping; a grow, a truncate or a new region
 * over the file holds it exclusive and maps anew. So a new scope means "the file may have been truncated
 * since": the first fault that sees it moves the {@linkplain #stamp() stamp}, which invalidates every
 * allocation recorded before, and the others wait for it on this object's monitor. This catches what page
 * generations cannot: a truncate to the middle of a page (that page keeps its generation but loses blocks)
 * and a new region over a file truncated by an earlier one.
 *
 * <h2>Resources</h2>
 * The handler prepares the file through the region's own descriptors ({@link WriteFault#file()}), which
 * the region closes, and keeps none of its own. Only without a region's file (a fault from a handler's
 * unit test, or giving space back after the region closed) does it open the file itself, once, until
 * {@link #close()}. Users take the resource lock shared ({@link #lockResources()}), close takes it
 * exclusive, so nothing is closed under a running system call; so does {@link #detach()}, for a moment, to
 * wait out the prepare-ahead batches running when the region closed.
 *
 * <p>Thread-safe. The monitor of this object guards the mapping period and the touch/fill hand-off; the
 * prepare-ahead window has a monitor of its own.
 */
final class FileSpace {

    final Path path;
    final UnitTable units = new UnitTable();
    /**
     * The {@linkplain FolioUnit folio unit} of the file, in bytes: a power of two, at least a unit. The
     * handler allocates at least this much around a page, aligned, and gives back only whole folio units.
     */
    final int folioUnit;

    /** The scope of the mapping last observed. Written under this monitor; read volatile. */
    private volatile WeakReference<MemorySegment.Scope> mapping;
    /** The current mapping period, 1 to {@link UnitTable#MAX_STAMP}. Written under this monitor. */
    private volatile int stamp;

    private final ReentrantReadWriteLock resources = new ReentrantReadWriteLock();
    private final Object opening = new Object();
    /** Written with the resource lock held exclusive. */
    private volatile boolean closed;
    /** The region's file, from the last fault; null outside a region and once the region closed. */
    private volatile StorageFile shared;
    /** Set once the region closed ({@link #detach}): prepare-ahead batches no longer run. */
    private volatile boolean detached;
    /** The handler's own descriptor of the file, where it has no region's to share. Guarded by opening. */
    private volatile SharedFile own;

    /** Set once fallocate(2) reported EOPNOTSUPP for this file: it is zero-filled from then on. */
    volatile boolean fallocateUnsupported;

    /** The prepare-ahead window: guarded by {@link #ahead}. */
    final Object ahead = new Object();
    long aheadLastGranule = -1; // so a first fault at granule 0 counts as sequential
    long aheadNext;

    /** A file whose folio unit is one unit: for tests of the table alone. */
    FileSpace(Path path) {
        this(path, UnitTable.UNIT);
    }

    FileSpace(Path path, int folioUnit) {
        if (folioUnit < UnitTable.UNIT || Integer.bitCount(folioUnit) != 1) {
            throw new IllegalArgumentException("folio unit " + folioUnit);
        }
        this.path = path;
        this.folioUnit = folioUnit;
    }

    /** The units per folio unit: a power of two. */
    long folioUnits() {
        return folioUnit >>> UnitTable.UNIT_SHIFT;
    }

    /**
     * Whether an allocation that ends at {@code to} cuts its last folio unit: only the end of the file does
     * (allocations are whole units otherwise). Such a unit is not recorded, and its pages are prepared in
     * part ({@link GranuleAllocator.Allocated#DONE_AT_END}), so that once the file grew a fault allocates it whole.
     */
    boolean cutsFolio(long to) {
        return (to & (folioUnit - 1)) != 0;
    }

    /**
     * Notes the mapping the current fault runs on and returns the stamp of its mapping period. Cheap when
     * the mapping is the one seen last (one volatile read and one reference compare).
     */
    int observe(MemorySegment.Scope scope) {
        WeakReference<MemorySegment.Scope> seen = mapping;
        if (seen != null && seen.get() == scope) {
            return stamp;
        }
        synchronized (this) {
            seen = mapping;
            if (seen == null || seen.get() != scope) {
                newPeriod();
                mapping = new WeakReference<>(scope); // volatile: faults that see it also see the new stamp
            }
            return stamp;
        }
    }

    /** The current mapping period. */
    int stamp() {
        return stamp;
    }

    /** Starts a new mapping period: allocations recorded before no longer count. Under this monitor. */
    private void newPeriod() {
        int next = stamp + 1;
        if (next > UnitTable.MAX_STAMP) {
            units.clearAllocations(); // the stamp wraps: old words must not match a reused stamp
            next = 1;
        }
        stamp = next; // volatile
        synchronized (ahead) {
            aheadLastGranule = -1;
            aheadNext = 0;
        }
    }

    /**
     * Records an allocation made outside the region lock (by the prepare-ahead agent), unless the mapping
     * period it was planned in has ended meanwhile.
     */
    synchronized boolean recordAllocatedIfCurrent(long fromUnit, long toUnit, int plannedStamp, long generation) {
        if (stamp != plannedStamp) {
            return false;
        }
        units.recordAllocated(fromUnit, toUnit, plannedStamp, generation);
        return true;
    }

    /**
     * Marks the units of a faulting page touched, waiting while a neighbour's zero-fill writes any of them.
     * Returns false, having marked only some, if {@code noWait} and it would have had to wait.
     */
    boolean touch(long fromUnit, long toUnit, boolean noWait) throws InterruptedException {
        for (long u = fromUnit; u < toUnit; u++) {
            long w = units.wordVolatile(u);
            while (!UnitTable.touched(w)) {
                if (UnitTable.filling(w)) {
                    if (noWait) {
                        return false;
                    }
                    awaitFilled(u);
                    w = units.wordVolatile(u);
                    continue;
                }
                long witness = units.cas(u, w, w | UnitTable.TOUCHED); // volatile: before any writer may enter
                if (witness == w) {
                    break;
                }
                w = witness;
            }
        }
        return true;
    }

    /** Whether no fault touched any unit of {@code [fromUnit, toUnit)}: a page no fault entered before. */
    boolean untouched(long fromUnit, long toUnit) {
        for (long u = fromUnit; u < toUnit; u++) {
            if (UnitTable.touched(units.wordVolatile(u))) {
                return false;
            }
        }
        return true;
    }

    /**
     * Clears the touched marks of a faulting page's units, which no fault had touched before it
     * ({@link #untouched}): for a no-wait fault refused before any store could enter the page (it is still
     * PREPARING), so that its folio unit can be given back again. A unit is touched only by faults of its
     * own page, and those take turns, so no other fault's mark is cleared.
     */
    void untouch(long fromUnit, long toUnit) {
        for (long u = fromUnit; u < toUnit; u++) {
            long w = units.wordVolatile(u);
            while (UnitTable.touched(w)) {
                long witness = units.cas(u, w, w & ~UnitTable.TOUCHED); // volatile
                if (witness == w) {
                    break;
                }
                w = witness;
            }
        }
    }

    private void awaitFilled(long unit) throws InterruptedException {
        synchronized (this) {
            while (UnitTable.filling(units.wordVolatile(unit))) {
                wait();
            }
        }
    }

    /**
     * Claims a neighbour unit for zero-fill: succeeds only if no fault touched it (so no writer can be
     * storing into it), no other fill holds it, and it is not known to be allocated.
     */
    boolean claimFill(long unit, int currentStamp, long generation) {
        long w = units.wordVolatile(unit);
        for (;;) {
            if (UnitTable.touched(w) || UnitTable.filling(w) || UnitTable.allocated(w, currentStamp, generation)) {
                return false;
            }
            long witness = units.cas(unit, w, w | UnitTable.FILLING); // volatile: excludes touching
            if (witness == w) {
                return true;
            }
            w = witness;
        }
    }

    /**
     * Claims a whole folio unit, the units {@code [fromUnit, toUnit)}, for a neighbour fill: every unit, as
     * {@link #claimFolio} does, unless all of them are known to be allocated (nothing to fill). False, with
     * nothing claimed, if there is nothing to fill or a unit is touched or filling. Ended with
     * {@link #endFill}.
     */
    boolean claimFolioFill(long fromUnit, long toUnit, int currentStamp, long generation) {
        return !units.allAllocated(fromUnit, toUnit, currentStamp, generation) && claimFolio(fromUnit, toUnit, 0, 0);
    }

    /**
     * Waits until {@code unit} is no longer filling (another fill, or a give-back, holds it), or 10 ms
     * passed. For a fill that holds no claim: the holder never waits for it.
     */
    void awaitFillEnd(long unit) throws InterruptedIOException {
        synchronized (this) {
            if (UnitTable.filling(units.wordVolatile(unit))) {
                try {
                    wait(10);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("interrupted while waiting for a fill of " + path);
                }
            }
        }
    }

    /** Ends the fill of claimed units {@code [from, to)}, recording them allocated if it succeeded. */
    void endFill(long fromUnit, long toUnit, boolean filled, int currentStamp, long generation) {
        for (long u = fromUnit; u < toUnit; u++) {
            long w = units.wordVolatile(u);
            for (;;) {
                long next = w & ~UnitTable.FILLING;
                if (filled) {
                    next = UnitTable.withAllocation(next, currentStamp, generation);
                }
                long witness = units.cas(u, w, next); // volatile: publishes the fill before touching resumes
                if (witness == w) {
                    break;
                }
                w = witness;
            }
        }
        synchronized (this) {
            notifyAll();
        }
    }

    /**
     * Claims an untouched unit to give its blocks back (a hole punched in it): like {@link #claimFill}, the
     * filling bit keeps every fault out of it until {@link #endReclaim}; unlike it, only a unit with an
     * allocation recorded is claimed.
     */
    boolean claimReclaim(long unit) {
        long w = units.wordVolatile(unit);
        for (;;) {
            if (UnitTable.touched(w) || UnitTable.filling(w) || (w & UnitTable.ALLOC_MASK) == 0) {
                return false;
            }
            long witness = units.cas(unit, w, w | UnitTable.FILLING); // volatile: excludes touching
            if (witness == w) {
                return true;
            }
            w = witness;
        }
    }

    /**
     * Claims an untouched unit whether or not an allocation is recorded for it: for giving back what a
     * failed fallocate may have allocated. Released with {@link #endReclaim}.
     */
    boolean claimUntouched(long unit) {
        long w = units.wordVolatile(unit);
        for (;;) {
            if (UnitTable.touched(w) || UnitTable.filling(w)) {
                return false;
            }
            long witness = units.cas(unit, w, w | UnitTable.FILLING); // volatile: excludes touching
            if (witness == w) {
                return true;
            }
            w = witness;
        }
    }

    /**
     * Claims a whole folio unit, the units {@code [fromUnit, toUnit)}, to give its blocks back: every unit
     * but those of {@code [ownFrom, ownTo)} (the page of the fault that gives back, which that fault holds)
     * with {@link #claimUntouched}. If any of them is touched or filling, claims none: a folio unit is given
     * back whole or not at all. Released with {@link #endReclaim}.
     */
    boolean claimFolio(long fromUnit, long toUnit, long ownFrom, long ownTo) {
        for (long u = fromUnit; u < toUnit; u++) {
            if ((u < ownFrom || u >= ownTo) && !claimUntouched(u)) {
                unclaim(fromUnit, u, ownFrom, ownTo);
                return false;
            }
        }
        return true;
    }

    /**
     * Ends the claim of a give-back whose punch failed part way, on {@code [fromUnit, toUnit)} but
     * {@code [ownFrom, ownTo)}: holes may have been punched in some units, which no fault may then trust as
     * allocated, but the rest keep their blocks, which a later reclaim or trim must still find. So each
     * unit keeps its allocation bits, moved to stamp 0, a period no fault or batch ever holds, in the same
     * CAS that ends the claim: a fault waiting for the unit finds it not allocated and allocates again (a
     * no-op system call where the blocks are still there).
     */
    void abandonReclaim(long fromUnit, long toUnit, long ownFrom, long ownTo) {
        for (long u = fromUnit; u < toUnit; u++) {
            if (u >= ownFrom && u < ownTo) {
                continue;
            }
            long w = units.wordVolatile(u);
            for (;;) {
                long witness = units.cas(u, w, w & ~(UnitTable.FILLING | UnitTable.STAMP_MASK)); // volatile
                if (witness == w) {
                    break;
                }
                w = witness;
            }
        }
        synchronized (this) {
            notifyAll();
        }
    }

    /**
     * Moves the allocations recorded for {@code [fromUnit, toUnit)} to stamp 0, a period no fault holds, as
     * {@link #abandonReclaim} does, and leaves every other bit: for a folio unit found to hold a hole beside
     * units recorded allocated, so that no fault takes a page of it as allocated, while a give-back still
     * finds the blocks.
     */
    void forgetAllocations(long fromUnit, long toUnit) {
        for (long u = fromUnit; u < toUnit; u++) {
            long w = units.wordVolatile(u);
            for (;;) {
                long witness = units.cas(u, w, w & ~UnitTable.STAMP_MASK); // volatile
                if (witness == w) {
                    break;
                }
                w = witness;
            }
        }
    }

    /**
     * Ends claims made with {@link #claimUntouched} on {@code [fromUnit, toUnit)} but {@code [ownFrom, ownTo)}
     * without giving anything back: the filling bit goes, the allocation recorded stays.
     */
    private void unclaim(long fromUnit, long toUnit, long ownFrom, long ownTo) {
        if (fromUnit >= toUnit) {
            return;
        }
        for (long u = fromUnit; u < toUnit; u++) {
            if (u < ownFrom || u >= ownTo) {
                units.clearBits(u, UnitTable.FILLING); // volatile: touching may resume
            }
        }
        synchronized (this) {
            notifyAll();
        }
    }

    /**
     * Ends the reclaim of claimed units {@code [from, to)}: forgets their allocation (holes may have been
     * punched in them) and lets faults in again. The units of the page of a fault that gives back what its
     * own fallocate got are among them, unclaimed: they keep their touched bit. The reclaimer then calls
     * {@link #invalidateAllocations()}.
     */
    void endReclaim(long fromUnit, long toUnit) {
        for (long u = fromUnit; u < toUnit; u++) {
            long w = units.wordVolatile(u);
            for (;;) {
                long next = w & UnitTable.TOUCHED; // zero, but for the units of the page of a fault giving back
                long witness = units.cas(u, w, next); // volatile: publishes the hole before touching resumes
                if (witness == w) {
                    break;
                }
                w = witness;
            }
        }
        synchronized (this) {
            notifyAll();
        }
    }

    /**
     * Starts a new mapping period after holes were punched in untouched units, so that no allocation a
     * fault or the agent recorded while they raced the holes is trusted: a granule's fallocate may have been
     * made before a hole and recorded after it. The next fault of each page allocates again (a no-op
     * system call for blocks still allocated).
     */
    synchronized void invalidateAllocations() {
        newPeriod();
    }

    /** Takes the resource lock shared; false (not held) if the file space is closed. */
    boolean lockResources() {
        resources.readLock().lock();
        if (closed) {
            resources.readLock().unlock();
            return false;
        }
        return true;
    }

    /**
     * Takes the resource lock shared without waiting, even past a queued close; false (not held) if it is
     * held exclusive or the file space is closed. For a fault that works on files other than its own.
     */
    boolean tryLockResources() {
        if (!resources.readLock().tryLock()) {
            return false;
        }
        if (closed) {
            resources.readLock().unlock();
            return false;
        }
        return true;
    }

    void unlockResources() {
        resources.readLock().unlock();
    }

    /**
     * Shares the region's file, which the current fault came with (null outside a region): from now on the
     * handler prepares this file through the region's descriptors. Cheap when it is the file seen last.
     */
    void attach(StorageFile regionFile) {
        if (regionFile != null && shared != regionFile) {
            shared = regionFile; // volatile: the agent's next batch uses it
        }
    }

    /**
     * Forgets the region's file once the region closed: its descriptors are closed, and what is done on the
     * file afterwards (giving back what no writer used) goes through a descriptor of the handler's own. Ends
     * prepare-ahead for the file: no batch starts from now on ({@link #lockResourcesAhead}), one running
     * stops at its next granule ({@link #detached()}), and it is waited for, so that the trim after this
     * finds every granule it recorded. Without the wait a batch could record its granules after the trim
     * looked, and open a descriptor of its own to allocate more after the trim ended: blocks kept in a file
     * no region has open, for as long as it lives.
     *
     * @throws IllegalStateException on a thread that holds the resource lock (a callback of the file's own
     *                               allocation): it cannot wait for the batches, nor the file be closed under it
     */
    void detach() {
        checkReleasable();
        detached = true; // volatile: before the wait, so that a batch that takes the lock after it sees it
        shared = null; // volatile
        resources.writeLock().lock(); // uninterruptible: a batch holds the lock for its fallocates only
        resources.writeLock().unlock();
    }

    /**
     * Throws {@link IllegalStateException} on a thread that holds the resource lock: a callback of the
     * file's own allocation (a {@link StorageFile}'s), which a release would wait for, or close the file under.
     */
    void checkReleasable() {
        if (resources.getReadHoldCount() != 0) {
            throw new IllegalStateException("releasing " + path + " from inside an allocation of the file [file "
                    + path + "]");
        }
    }

    /** Whether the region closed ({@link #detach}): what a batch would allocate no writer will use. */
    boolean detached() {
        return detached; // volatile
    }

    /**
     * {@link #lockResources()} for a prepare-ahead batch, without waiting: false (not held) also once the
     * region closed ({@link #detach}), or while the lock is held exclusive (a detach or close under way).
     * Never queued behind a detach, which may itself wait for a long reclaim: the agent serves every file.
     */
    boolean lockResourcesAhead() {
        if (detached || !resources.readLock().tryLock()) {
            return false;
        }
        if (closed || detached) { // volatile, read under the lock: a detach that set it before its wait is seen
            resources.readLock().unlock();
            return false;
        }
        return true;
    }

    /** Whether an open region's descriptors are attached: its region is open. */
    boolean regionOpen() {
        return shared instanceof dev.mkwrite.impl.os.SharedFile region && region.isOpen(); // volatile read
    }

    /**
     * The file to prepare: the region's, shared; or, for a handler called without a region (or after its
     * region closed), one the handler opens itself on first use and {@link #close() closes}. Caller holds
     * the resource lock shared.
     */
    StorageFile storage() throws IOException {
        StorageFile f = shared;
        if (f != null) {
            return f;
        }
        synchronized (opening) {
            if (own == null) {
                own = SharedFile.open(path, "the storage handler opens the file itself when a fault comes without"
                        + " the region's file"); // volatile
            }
            return own;
        }
    }

    /**
     * Takes the file's lock, as a region does, on the descriptor the handler opens itself
     * ({@link #storage()}), for a trim after the region closed: the close dropped the region's lock first, and
     * a region opened over the file since (by another process) may have been told by its own faults that the
     * blocks a trim would punch are allocated. Held until {@link #close()}. False if another holds the lock;
     * true, having locked nothing, where the kernel has no open-file-description locks. Caller holds the
     * resource lock.
     */
    boolean lockForTrim() throws IOException {
        if (!(storage() instanceof SharedFile own)) {
            return true;
        }
        int r = PosixNative.lockFile(own.fd());
        return r == 0 || r == -Errno.EINVAL; // EINVAL: a kernel without OFD locks; any other failure: no trim
    }

    /** Closes the descriptor the handler opened itself, if any, once no system call uses it. Idempotent. */
    void close() throws IOException {
        resources.writeLock().lock();
        try {
            closed = true;
            shared = null;
            IOException failure;
            synchronized (opening) {
                failure = own == null ? null : own.close(null);
                own = null;
            }
            if (failure != null) {
                throw failure;
            }
        } finally {
            resources.writeLock().unlock();
        }
    }
}
