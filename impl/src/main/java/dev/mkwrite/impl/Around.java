package dev.mkwrite.impl;

import dev.mkwrite.Reservation;

import java.util.Arrays;
import java.util.Objects;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongFunction;

import static dev.mkwrite.impl.PageState.CLEAN;
import static dev.mkwrite.impl.PageState.PREPARING;
import static dev.mkwrite.impl.PageState.withState;

/**
 * Fault-around for writes: the pages after a faulting page that its handler's preparation already covers
 * (a granule, a bulk reservation) are taken in the same fault, so a sequential writer calls the handler
 * once per run instead of once per page.
 *
 * <p>The offer is the pages after the fault's page, up to {@link #PAGES} past it or the end of the write
 * if that lies further, that are CLEAN at the fault's generation and wholly inside the region. The
 * handler takes a prefix of it ({@link Fault#prepareAround}); each page taken is claimed like a
 * faulting page (CLEAN to PREPARING by CAS, under the region lock held shared), gets its own reservation,
 * and ends one of two ways, decided by the fault once its handler returned:
 * <ul>
 *   <li>the handler succeeded with the lock held: pages the faulting write covers join its claims
 *   (WRITABLE with it); pages past the write become PREPARED: ready, not dirty, so flush and the dirty
 *   ranges pass them by, as the kernel's fault-around maps pages read-only and only a store dirties one;
 *   </li>
 *   <li>otherwise (the lock dropped, RETRY, a failure): every page goes back to CLEAN and its reservation
 *   is released.</li>
 * </ul>
 * A PREPARED page ends one of three ways: a write enters it (one CAS to WRITABLE, without the lock:
 * {@code FaultPath.enter}), an exclusive operation's quiesce takes it (one CAS to CLEAN, its reservation
 * released: truncate, punchHole, a grow over a partial last page, close), or the region closes.
 *
 * <p>The system property {@code dev.mkwrite.impl.faultAroundPages} sets {@link #PAGES} (default 16); 0
 * turns fault-around off, for comparisons. Confined to the faulting thread, like its {@link Fault}.
 */
final class Around {

    /** Pages offered past the faulting one: the kernel's fault_around_bytes, 64 KiB of 4 KiB pages. */
    static final int PAGES = Math.clamp(Integer.getInteger("dev.mkwrite.impl.faultAroundPages", 16), 0, 4096);
    /** The most pages offered at all, for a long write. */
    private static final int MAX_OFFER = 4096;

    private final RegionState region;
    private final Ledger ledger;
    private final long page;
    private final long generation;
    private final long writeLast;
    /** A page of the offer: CLEAN at the fault's generation (no pins); and the same page claimed. */
    private final long clean;
    private final long claimed;

    private int offered = -1;
    private boolean used;
    /** Pages {@code page + 1} to {@code page + taken} are claimed ({@link #claimed}), in order. */
    private int taken;
    /** The chunk of each page taken, and its reservation once reserved. */
    private Chunk[] chunks;
    private Reservation[] reservations;

    /**
     * For the fault of {@code page}, claimed at {@code generation}, by a write whose last page is
     * {@code writeLast}. Region lock held shared.
     */
    Around(RegionState region, Ledger ledger, long page, long generation, long writeLast) {
        this.region = region;
        this.ledger = ledger;
        this.page = page;
        this.generation = generation;
        this.writeLast = writeLast;
        this.clean = PageState.word(CLEAN, generation);
        this.claimed = PageState.word(PREPARING, generation);
    }

    /** The pages offered, counted on first use. Region lock held shared. */
    int offer() {
        if (offered < 0) {
            offered = PAGES == 0 ? 0 : scan();
        }
        return offered;
    }

    /** Counts the CLEAN pages at the fault's generation after {@code page}, a chunk at a time. */
    private int scan() {
        long whole = BrokenRule.aroundPastEnd() ? region.pageCount : region.size >>> region.pageShift;
        long limit = Math.min(whole - 1, page + Math.min(MAX_OFFER, Math.max(PAGES, writeLast - page)));
        long p = page + 1;
        while (p <= limit) {
            long end = Math.min(limit, p | Chunk.MASK); // the last page of p's chunk in the offer
            int run = (int) (end - p + 1);
            Chunk c = region.table.chunkAcquire(p);
            if (c == null) {
                if (region.epoch() != generation) {
                    break; // a chunk not allocated yet is CLEAN in the current epoch, not the fault's
                }
            } else {
                int n = c.countRun(Chunk.index(p), Chunk.index(p) + run, clean); // acquire reads: a hint
                if (n < run) {
                    return (int) (p + n - page - 1);
                }
            }
            p = end + 1;
        }
        return (int) (p - page - 1);
    }

    /** {@link Fault#prepareAround}: claims up to {@code pages} offered pages and reserves each. Lock held shared. */
    int take(int pages, LongFunction<Reservation> reservationFor) {
        Objects.requireNonNull(reservationFor, "reservationFor");
        if (used) {
            throw new IllegalStateException("prepareAround() was already called in this handler call");
        }
        if (pages < 0 || pages > offer()) {
            throw new IllegalArgumentException("prepareAround(" + pages + "): " + offer() + " pages are offered");
        }
        used = true;
        if (pages == 0) {
            return 0;
        }
        chunks = new Chunk[pages];
        reservations = new Reservation[pages];
        long epoch = region.epoch();
        while (taken < pages) {
            // A chunk at a time: each page is claimed like a fault's page, by CAS from CLEAN at the fault's
            // generation; the run ends at the first page another fault has, or of another generation.
            long p = page + 1 + taken;
            int i = Chunk.index(p);
            int run = Math.min(pages - taken, Chunk.PAGES - i);
            Chunk c = region.table.chunkOrCreate(p, epoch);
            int got = c.claimRun(i, i + run, clean);
            Arrays.fill(chunks, taken, taken + got, c);
            taken += got;
            if (got < run) {
                break;
            }
        }
        region.counters.preparing.add(taken);
        int reserved = 0;
        long bytes = 0;
        boolean ended = false;
        try {
            for (; reserved < taken; reserved++) {
                long p = page + 1 + reserved;
                Reservation r = reservationFor.apply(p); // after the claims: no fault of the page runs now
                if (r == null) {
                    ended = true; // the handler cannot prepare this page after all: the run ends before it
                    break;
                }
                bytes += ledger.bytesOf(r); // a throw counts as 0: see Ledger.bytesOf
                reservations[reserved] = r;
            }
        } finally {
            ledger.accepted(reserved, bytes); // the ledger owns them from here, as one batch
            if (ended) {
                abandonFrom(reserved);
            } else if (reserved < taken) {
                abandon();
            }
        }
        return taken;
    }

    /** The pages taken from the {@code k}-th on, which have no reservation, go back to CLEAN; the run ends there. */
    private void abandonFrom(int k) {
        int returned = 0;
        for (int j = k; j < taken; j++) {
            if (chunks[j].casState(Chunk.index(page + 1 + j), claimed, clean) == claimed) { // volatile
                returned++;
            }
        }
        region.counters.preparing.add(-returned);
        taken = k;
        region.waiters.signal();
    }

    /**
     * The handler succeeded with the lock held: the pages up to {@code claimsThrough} go to {@code claims}
     * (the faulting write covers them), the others become PREPARED. Returns the last page handed to
     * {@code claims}, or {@code page} if none. Lock held shared, so every claim is still ours.
     */
    long publish(Claims claims, long claimsThrough) {
        boolean wakesWriters = BrokenRule.aroundWakesWriters();
        // The run's first pages, those the faulting write covers, join its claims in one step.
        int joined = claims == null ? 0 : Math.clamp(claimsThrough - page, 0, taken);
        if (joined > 0) {
            claims.addRun(chunks, reservations, page + 1, claimed, joined);
        }
        int next = BrokenRule.aroundMarksDirty() ? PageState.WRITABLE : PageState.PREPARED;
        LongAdder nextCount = next == PageState.WRITABLE ? region.counters.writable : region.counters.prepared;
        Counters.move(region.counters.preparing, nextCount, taken - joined); // before writers may enter them
        int moved = 0;
        try {
            for (int k = joined; k < taken; k++) {
                long p = page + 1 + k;
                // still ours: under the shared lock only its claimant moves a PREPARING page
                long witness = chunks[k].publishClaim(Chunk.index(p), claimed, withState(claimed, next), reservations[k]);
                if (witness != claimed) {
                    throw new IllegalStateException("page " + p + " changed from " + PageState.describe(claimed)
                            + " to " + PageState.describe(witness) + " under the region lock [file " + region.path + "]");
                }
                moved++;
            }
        } finally {
            Counters.move(nextCount, region.counters.preparing, taken - joined - moved); // those not moved
            region.counters.preparedAround.add(joined + moved);
            taken = 0;
        }
        if (moved > 0 && wakesWriters) {
            // A writer of one of these pages may wait for it to leave PREPARING: the faulting page's publish
            // woke waiters before these pages moved, and awaitChange does not poll.
            region.waiters.signal();
        }
        return page + joined;
    }

    /** Every page taken goes back to CLEAN, its reservation released. Idempotent. */
    void abandon() {
        int returned = 0;
        Ledger.Kept kept = new Ledger.Kept(); // every page goes back first
        for (int k = 0; k < taken; k++) {
            int i = Chunk.index(page + 1 + k);
            if (chunks[k].casState(i, claimed, clean) == claimed) { // volatile
                returned++;
            } // else a truncate took the page (the lock was dropped) and counted it
            Reservation r = reservations[k];
            if (r != null) {
                reservations[k] = null;
                ledger.release(r, kept);
            }
        }
        if (taken > 0) {
            region.counters.preparing.add(-returned);
            taken = 0;
            region.waiters.signal();
        }
        kept.throwIfAny(null);
    }
}
