package dev.mkwrite.impl;

import dev.mkwrite.Reservation;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The state words and reservations of {@value #PAGES} consecutive pages. Allocated on the first fault
 * into its range, so page-state metadata grows with the pages written, not with the mapped size.
 *
 * <p>Ordering (the words are those of the package documentation): state words are read with acquire
 * ({@link #stateAcquire}) or volatile ({@link #stateVolatile}), and changed by CAS or getAndAdd (volatile),
 * or by a volatile store when an exclusive operation owns a quiesced page. A reservation slot is written with a plain store by the one thread that
 * owns the page's transition (the claiming fault, the flush that took it to WRITEBACK, or an exclusive
 * operation) <i>before</i> the CAS that publishes the new state, and read after an acquire read of that
 * state; the CAS is the release that orders the two.
 */
final class Chunk {

    static final int SHIFT = 12;
    static final int PAGES = 1 << SHIFT;
    static final int MASK = PAGES - 1;
    /** Approximate heap bytes: two arrays of PAGES elements plus headers. */
    static final long BYTES = (long) PAGES * Long.BYTES + (long) PAGES * Integer.BYTES + 64;

    private static final VarHandle STATES = MethodHandles.arrayElementVarHandle(long[].class);

    private final long[] states = new long[PAGES];
    /**
     * Each page's {@link Reservation}, or null. Typed {@code Object[]}: a store into a {@code Reservation[]}
     * pays an array-store check against an interface, on which C2 kept dropping and recompiling the fault
     * path while it warmed up; the one reader casts.
     */
    private final Object[] reservations = new Object[PAGES];

    /** Every page starts CLEAN in {@code generation}, the region epoch at allocation. */
    Chunk(long generation) {
        long clean = PageState.word(PageState.CLEAN, generation);
        if (clean != 0) {
            java.util.Arrays.fill(states, clean);
        }
        // Safe publication of the filled array: the chunk is published by a CAS in PageTable.
    }

    static int index(long page) {
        return (int) (page & MASK);
    }

    long stateAcquire(int i) {
        return (long) STATES.getAcquire(states, i);
    }

    long stateVolatile(int i) {
        return (long) STATES.getVolatile(states, i);
    }

    /**
     * Whether every page from {@code from} to {@code to} (both included) is pinnable (WRITABLE or
     * REDIRTIED), each word read volatile: a writer's check after it published its hazard (see
     * {@link Pins}), one chunk lookup for the run instead of one per page.
     */
    boolean allPinnableVolatile(int from, int to) {
        for (int i = from; i <= to; i++) {
            if (!PageState.pinnable(PageState.state((long) STATES.getVolatile(states, i)))) { // StoreLoad: see Pins
                return false;
            }
        }
        return true;
    }

    /** Compare-and-exchange, volatile; returns the witness value. */
    long casState(int i, long expected, long next) {
        return (long) STATES.compareAndExchange(states, i, expected, next);
    }

    /**
     * Moves page {@code i} from state {@code from} to {@code to} by CAS (volatile), keeping its pins and
     * generation. Returns {@code from} if it moved, else the state it found.
     */
    int move(int i, int from, int to) {
        long w = stateAcquire(i); // the CAS below validates it
        while (PageState.state(w) == from) {
            long witness = casState(i, w, PageState.withState(w, to));
            if (witness == w) {
                return from;
            }
            w = witness;
        }
        return PageState.state(w);
    }

    /**
     * How many pages from {@code from} (up to {@code to}) hold exactly {@code word}: fault-around's offer,
     * CLEAN pages at one generation. Acquire reads: a hint, which the claim's CAS validates.
     */
    int countRun(int from, int to, long word) {
        int i = from;
        while (i < to && (long) STATES.getAcquire(states, i) == word) {
            i++;
        }
        return i - from;
    }

    /**
     * Claims pages from {@code from} (up to {@code to}) that hold exactly {@code clean} (CLEAN at one
     * generation: no pins) by CAS to PREPARING at that generation, in order, stopping at the first that
     * does not; returns how many it claimed. Region lock held shared, as for a fault's claim.
     */
    int claimRun(int from, int to, long clean) {
        long claimed = PageState.withState(clean, PageState.PREPARING);
        int i = from;
        while (i < to && (long) STATES.compareAndExchange(states, i, clean, claimed) == clean) { // volatile: the claim
            i++;
        }
        return i - from;
    }

    /**
     * The owner of claim {@code claimed} on page {@code i} publishes it as {@code next} with {@code r}: the
     * reservation slot is stored (plain), then the CAS (release) publishes it with the claimant's work.
     * Returns the CAS's witness, {@code claimed} if it published. Only the claimant, with the region lock
     * held shared (under which only it moves a PREPARING page), so the slot is its own.
     */
    long publishClaim(int i, long claimed, long next, Reservation r) {
        reservations[i] = r; // plain store, published by the CAS below
        return casState(i, claimed, next); // release: the reservation and the claimant's work
    }

    /**
     * {@link #publishClaim} for the {@code n} pages from {@code from}, all claimed as {@code claimed}, with
     * reservations {@code rs[rsFrom]} on, as long as each page still holds the claim (acquire read; a page
     * that does not was taken by an exclusive operation while the lock was free). Returns {@code n} if
     * all were published; {@code k} if page {@code from + k} no longer holds the claim (its slot is left
     * alone); {@code ~k} if its CAS failed after its slot was stored. Region lock held shared.
     */
    int publishRun(int from, int n, long claimed, long next, Reservation[] rs, int rsFrom) {
        for (int k = 0; k < n; k++) {
            int i = from + k;
            if ((long) STATES.getAcquire(states, i) != claimed) { // acquire: the claim, if still ours
                return k;
            }
            reservations[i] = rs[rsFrom + k]; // plain store, published by the CAS below
            if ((long) STATES.compareAndExchange(states, i, claimed, next) != claimed) { // release: the slot and the work
                return ~k;
            }
        }
        return n;
    }

    /** Volatile store, used only by an exclusive operation on a page with no pins. */
    void setStateVolatile(int i, long next) {
        STATES.setVolatile(states, i, next);
    }

    /** Volatile getAndAdd of pins; the fast path's unpin. */
    long getAndAddState(int i, long delta) {
        return (long) STATES.getAndAdd(states, i, delta);
    }

    /** Plain store; the owner publishes it with its next state CAS or volatile store. */
    void setReservationPlain(int i, Reservation r) {
        reservations[i] = r;
    }

    /** Plain read, after an acquire (or stronger) read of the page's state that published it. */
    Reservation reservationPlain(int i) {
        return (Reservation) reservations[i];
    }
}
