package dev.mkwrite.impl;

import dev.mkwrite.Reservation;

import java.util.Objects;
import java.util.function.LongFunction;

import static dev.mkwrite.impl.PageState.CLEAN;
import static dev.mkwrite.impl.PageState.PREPARING;
import static dev.mkwrite.impl.PageState.generation;
import static dev.mkwrite.impl.PageState.state;
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

    private int offered = -1;
    private boolean used;
    private int taken;
    private Chunk[] chunks;
    private int[] indexes;
    /** The claimed word of each page taken: PREPARING at its generation. */
    private long[] words;
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
    }

    /** The pages offered, counted on first use. Region lock held shared. */
    int offer() {
        if (offered < 0) {
            offered = PAGES == 0 ? 0 : scan();
        }
        return offered;
    }

    private int scan() {
        long whole = BrokenRule.aroundPastEnd() ? region.pageCount : region.size >>> region.pageShift;
        long limit = Math.min(whole - 1, page + Math.min(MAX_OFFER, Math.max(PAGES, writeLast - page)));
        int n = 0;
        for (long p = page + 1; p <= limit; p++, n++) {
            Chunk c = region.table.chunkAcquire(p);
            long w = c == null ? PageState.word(CLEAN, region.epoch()) : c.stateAcquire(Chunk.index(p)); // a hint
            if (state(w) != CLEAN || generation(w) != generation) {
                break;
            }
        }
        return n;
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
        indexes = new int[pages];
        words = new long[pages];
        reservations = new Reservation[pages];
        for (int k = 0; k < pages; k++) {
            long p = page + 1 + k;
            Chunk c = region.table.chunkOrCreate(p, region.epoch());
            int i = Chunk.index(p);
            long w = c.stateAcquire(i); // the CAS below validates it
            if (state(w) != CLEAN || !BrokenRule.sameGeneration(generation(w), generation)
                    || c.casState(i, w, withState(w, PREPARING)) != w) { // volatile: the claim, as a fault's
                break; // another fault has it, or it is of another generation: the run ends here
            }
            region.counters.preparing.increment();
            chunks[k] = c;
            indexes[k] = i;
            words[k] = withState(w, PREPARING);
            taken++;
        }
        int reserved = 0;
        try {
            for (; reserved < taken; reserved++) {
                long p = page + 1 + reserved;
                Reservation r = Objects.requireNonNull(reservationFor.apply(p),
                        () -> "prepareAround: reservationFor returned null for page " + p);
                ledger.accepted(r);
                reservations[reserved] = r;
            }
        } finally {
            if (reserved < taken) {
                abandon();
            }
        }
        return taken;
    }

    /**
     * The handler succeeded with the lock held: the pages up to {@code claimsThrough} go to {@code claims}
     * (the faulting write covers them), the others become PREPARED. Returns the last page handed to
     * {@code claims}, or {@code page} if none. Lock held shared, so every claim is still ours.
     */
    long publish(Claims claims, long claimsThrough) {
        long through = page;
        for (int k = 0; k < taken; k++) {
            long p = page + 1 + k;
            Chunk c = chunks[k];
            int i = indexes[k];
            long claimed = words[k]; // still ours: under the shared lock only its claimant moves a PREPARING page
            Reservation r = reservations[k];
            if (claims != null && p <= claimsThrough) {
                claims.add(c, i, claimed, r);
                through = p;
            } else {
                c.setReservationPlain(i, r); // plain store, published by the CAS below
                int next = BrokenRule.aroundMarksDirty() ? PageState.WRITABLE : PageState.PREPARED;
                long witness = c.casState(i, claimed, withState(claimed, next)); // release: the reservation
                if (witness != claimed) {
                    throw new IllegalStateException("page " + p + " changed from " + PageState.describe(claimed)
                            + " to " + PageState.describe(witness) + " under the region lock [file " + region.path + "]");
                }
                region.counters.preparing.decrement();
                if (next == PageState.WRITABLE) {
                    region.counters.writable.increment();
                } else {
                    region.counters.prepared.increment();
                }
            }
            region.counters.preparedAround.increment();
        }
        taken = 0;
        return through;
    }

    /** Every page taken goes back to CLEAN, its reservation released. Idempotent. */
    void abandon() {
        for (int k = 0; k < taken; k++) {
            long claimed = words[k];
            Chunk c = chunks[k];
            if (c.casState(indexes[k], claimed, PageState.word(CLEAN, generation(claimed))) == claimed) { // volatile
                region.counters.preparing.decrement();
            } // else a truncate took the page (the lock was dropped) and counted it
            if (reservations[k] != null) {
                ledger.release(reservations[k]);
                reservations[k] = null;
            }
        }
        if (taken > 0) {
            taken = 0;
            region.waiters.signal();
        }
    }
}
