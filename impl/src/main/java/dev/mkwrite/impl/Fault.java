package dev.mkwrite.impl;

import dev.mkwrite.Reservation;
import dev.mkwrite.StorageFile;
import dev.mkwrite.WriteFault;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Objects;
import java.util.function.LongFunction;

/**
 * One attempt of a write fault, handed to the handler. Confined to the faulting thread; valid only during
 * the handler call.
 */
final class Fault implements WriteFault, HandlerScope.Call {

    private final RegionState region;
    private final Ledger ledger;
    private final long page;
    private final int length;
    private final long generation;
    private final boolean retry;
    private final boolean noWait;
    private final Thread thread = Thread.currentThread();
    /** The pages offered around this one, or null for none (a retry, a no-wait fault). */
    private final Around around;

    private boolean lockHeld = true;
    private boolean active = true;
    private Reservation cached;
    /** The lock-drop event while it lasts, kept as Object: see {@link Recording}. */
    private Object dropEvent;

    Fault(RegionState region, Ledger ledger, long page, int length, long generation, boolean retry, boolean noWait,
          Around around) {
        this.around = around;
        this.region = region;
        this.ledger = ledger;
        this.page = page;
        this.length = length;
        this.generation = generation;
        this.retry = retry;
        this.noWait = noWait;
    }

    @Override
    public Path path() {
        return region.path;
    }

    /** The region's file: its own descriptors, valid until the region closes. */
    @Override
    public StorageFile file() {
        return region.file;
    }

    @Override
    public long page() {
        return page;
    }

    @Override
    public long offset() {
        return page << region.pageShift;
    }

    @Override
    public int length() {
        return length;
    }

    @Override
    public MemorySegment memory() {
        if (!active || !lockHeld || Thread.currentThread() != thread) {
            throw new IllegalStateException(why("memory() is valid only inside the handler call, on its thread,"
                    + " while the region lock is held"));
        }
        return region.mapping.segment(page << region.pageShift, length); // the lock keeps the mapping
    }

    @Override
    public long generation() {
        return generation;
    }

    @Override
    public boolean isRetry() {
        return retry;
    }

    @Override
    public boolean isNoWait() {
        return noWait;
    }

    @Override
    public boolean mayDropLock() {
        return active && BrokenRule.mayDropLock(retry) && !noWait && lockHeld
                && Thread.currentThread() == thread;
    }

    @Override
    public void dropLock() {
        if (!mayDropLock()) {
            throw new IllegalStateException(why("dropLock() is not allowed here") + " ("
                    + (!active ? "the handler call has ended"
                    : Thread.currentThread() != thread ? "called from " + Thread.currentThread() + ", not the faulting thread"
                    : retry ? "a retry may not drop the lock again (FAULT_FLAG_TRIED)"
                    : noWait ? "a no-wait fault may not block; return FaultResult.RETRY instead"
                    : "the lock was already dropped once") + ")");
        }
        if (around != null) {
            around.abandon(); // G7: pages taken around this one are not held while the lock is dropped
        }
        lockHeld = false;
        if (BrokenRule.dropReleasesLock()) {
            region.lock.readLock().unlock();
        }
        region.counters.lockDrops.increment();
        if (Recording.on()) {
            dropEvent = FaultEvents.lockDropBegin(region.path.toString(), page);
        }
    }

    @Override
    public void cacheReservation(Reservation reservation) {
        Objects.requireNonNull(reservation, "reservation");
        if (!active || Thread.currentThread() != thread) {
            throw new IllegalStateException(why("cacheReservation() outside the handler call"));
        }
        if (lockHeld) {
            throw new IllegalStateException(why("cacheReservation() with the lock held; return the reservation"
                    + " instead (cacheReservation records work done after dropLock())"));
        }
        if (cached != null) {
            throw new IllegalStateException(why("a reservation is already cached for this fault"));
        }
        ledger.accepted(reservation); // first: if it throws (out of memory), the reservation is still the caller's
        cached = reservation;
    }

    @Override
    public Reservation cachedReservation() {
        return cached;
    }

    @Override
    public int aroundPages() {
        return around != null && active && lockHeld && Thread.currentThread() == thread ? around.offer() : 0;
    }

    @Override
    public int prepareAround(int pages, LongFunction<Reservation> reservationFor) {
        if (!active || !lockHeld || Thread.currentThread() != thread) {
            throw new IllegalStateException(why("prepareAround() is valid only inside the handler call, on its"
                    + " thread, while the region lock is held"));
        }
        if (around == null) {
            Objects.requireNonNull(reservationFor, "reservationFor");
            if (pages != 0) {
                throw new IllegalArgumentException(why("prepareAround(" + pages + "): no pages are offered"));
            }
            return 0;
        }
        return around.take(pages, reservationFor);
    }

    /** The state of the region this fault is of: its identity, for {@link HandlerScope}. */
    @Override
    public RegionState region() {
        return region;
    }

    boolean lockHeld() {
        return lockHeld;
    }

    /** Ends the handler call; the fault object is dead afterwards. Returns the cached reservation. */
    Reservation end() {
        active = false;
        return cached;
    }

    /** Ends the lock-drop event once the retry holds the lock again. */
    void relocked() {
        Object event = dropEvent;
        if (event != null) {
            dropEvent = null;
            FaultEvents.lockDropEnd(event);
        }
    }

    private String why(String what) {
        return what + " [file " + region.path + ", offset " + offset() + ", page " + page + "]";
    }

    @Override
    public String toString() {
        return "WriteFault[file=" + region.path + ", page=" + page + ", offset=" + offset() + ", length="
                + length + ", generation=" + generation + (retry ? ", retry" : "") + (noWait ? ", nowait" : "")
                + (lockHeld ? "" : ", lock dropped") + "]";
    }
}
