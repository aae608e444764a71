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
    private final Reservation[] reservations = new Reservation[PAGES];

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
        return reservations[i];
    }
}
