package dev.mkwrite.impl;

import dev.mkwrite.Reservation;
import dev.mkwrite.WouldBlock;

import java.util.ArrayList;

import static dev.mkwrite.impl.PageState.CLEAN;
import static dev.mkwrite.impl.PageState.WRITABLE;
import static dev.mkwrite.impl.PageState.generation;
import static dev.mkwrite.impl.PageState.withState;

/**
 * The prepared pages of a write over several pages, held PREPARING until the last is prepared. Only
 * the writing thread touches it.
 */
final class Claims {

    private final RegionState region;
    private final Ledger ledger;
    private final ArrayList<Claim> held = new ArrayList<>(4);
    /** The last page fault-around handed to these claims: the write's loop skips up to it. */
    long through = -1;

    private record Claim(Chunk chunk, int index, long word, Reservation reservation) {
    }

    Claims(RegionState region, Ledger ledger) {
        this.region = region;
        this.ledger = ledger;
    }

    void add(Chunk c, int i, long claimedWord, Reservation r) {
        held.add(new Claim(c, i, claimedWord, r));
    }

    /**
     * Publishes every claim WRITABLE under the region lock held shared (K3: an exclusive operation
     * may have taken a claim meanwhile; then its page is faulted again by the caller's next pass).
     * Returns false, publishing nothing, if a no-wait write would have to wait for the lock (the caller
     * records {@link WouldBlock.Reason#REGION_LOCK}).
     */
    boolean publish(long offset, boolean noWait) {
        if (held.isEmpty()) {
            return true;
        }
        if (noWait) {
            if (!region.lock.readLock().tryLock()) {
                return false;
            }
        } else {
            region.lock.readLock().lock(); // short: no handler runs under it here
        }
        try {
            if (region.closed) {
                throw region.closedException(offset, offset >>> region.pageShift);
            }
            for (Claim claim : held) {
                Chunk c = claim.chunk();
                int i = claim.index();
                // Under the shared lock only the claim's owner moves a PREPARING page: if the word is
                // still our claim, the page and its reservation slot are ours.
                if (c.stateAcquire(i) == claim.word()) {
                    c.setReservationPlain(i, claim.reservation()); // plain store, published by the CAS below
                    long witness = c.casState(i, claim.word(), withState(claim.word(), WRITABLE)); // release
                    if (witness != claim.word()) {
                        throw new IllegalStateException("a claim changed from " + PageState.describe(claim.word())
                                + " to " + PageState.describe(witness) + " under the region lock [file "
                                + region.path + "]");
                    }
                    region.counters.preparing.decrement();
                    region.counters.writable.increment();
                } else {
                    // A truncate or punch took the claim while the lock was free between faults, and
                    // counted it; the page may even be another fault's now. The reservation is stale (K6).
                    ledger.release(claim.reservation());
                }
            }
            held.clear();
        } finally {
            region.lock.readLock().unlock();
        }
        region.waiters.signal();
        return true;
    }

    /** K7: every claim still held goes back to CLEAN, and its reservation is released. */
    void abandon() {
        if (held.isEmpty()) {
            return;
        }
        for (Claim claim : held) {
            long clean = PageState.word(CLEAN, generation(claim.word()));
            if (claim.chunk().casState(claim.index(), claim.word(), clean) == claim.word()) { // volatile
                region.counters.preparing.decrement();
            } // else a truncate took the page and counted it
            ledger.release(claim.reservation());
        }
        held.clear();
        region.waiters.signal();
    }
}
