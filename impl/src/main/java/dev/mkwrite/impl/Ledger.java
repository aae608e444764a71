package dev.mkwrite.impl;

import dev.mkwrite.Reservation;
import dev.mkwrite.impl.os.LazyLogger;

import static dev.mkwrite.impl.PageState.CLEAN;

/**
 * The reservation ledger: every {@link Reservation} mkwrite owns is counted here from the moment it is
 * accepted until it is consumed (its page was written back) or released (its page was removed, or its
 * preparation turned out redundant or stale). A reservation that throws from either call is logged and
 * dropped: the page's state has already moved on.
 */
final class Ledger {

    private static final LazyLogger LOG = new LazyLogger(Ledger.class);

    private final RegionState region;

    Ledger(RegionState region) {
        this.region = region;
    }

    /** mkwrite takes ownership of a reservation. */
    void accepted(Reservation r) {
        long bytes = bytesOf(r); // first: nothing is counted if it throws
        region.counters.reservations.increment();
        region.counters.reservedBytes.add(bytes);
    }

    /**
     * {@code r.bytes()}, only ever read for the statistics: the application's code, which must not fail a
     * fault, a writeback or a close (a throw here once left the pages prepared around a fault claimed for
     * good). If it throws, the size counts as 0, and that is logged.
     */
    long bytesOf(Reservation r) {
        try {
            return r.bytes();
        } catch (RuntimeException | LinkageError | AssertionError | StackOverflowError e) { // not out of memory
            LOG.get().error("Reservation.bytes() threw for {}; counted as 0 bytes", region.path, e);
            return 0;
        }
    }

    /** mkwrite takes ownership of {@code count} reservations of {@code bytes} in all (fault-around's run). */
    void accepted(int count, long bytes) {
        if (count > 0) {
            region.counters.reservations.add(count);
            region.counters.reservedBytes.add(bytes);
        }
    }

    /** The page will not be written: the storage goes back. */
    void release(Reservation r) {
        settled(r);
        try {
            r.release();
        } catch (RuntimeException e) {
            LOG.get().error("Reservation.release() threw for {}; ignored", region.path, e);
        }
    }

    /** The page was written back: the storage is used. */
    void consume(Reservation r) {
        settled(r);
        try {
            r.consume();
        } catch (RuntimeException e) {
            LOG.get().error("Reservation.consume() threw for {}; ignored", region.path, e);
        }
    }

    private void settled(Reservation r) {
        region.counters.reservations.decrement();
        region.counters.reservedBytes.add(-bytesOf(r));
    }

    /**
     * A FROZEN page is dropped without writeback: it becomes CLEAN at {@code generation} and its
     * reservation is released. Region lock held exclusive, the page quiesced (no pins, no writeback).
     */
    void dropFrozen(Chunk c, int i, long generation) {
        Reservation r = c.reservationPlain(i);
        c.setReservationPlain(i, null);
        // volatile: publishes the cleared reservation to whoever next moves the page
        c.setStateVolatile(i, PageState.word(CLEAN, generation));
        region.counters.writable.decrement();
        if (r != null) {
            release(r);
        }
    }

    /**
     * A PREPARED page (fault-around; never written) ends without writeback: it becomes CLEAN at
     * {@code generation} and its reservation is released. Region lock held exclusive: no fault moves it.
     */
    void dropPrepared(Chunk c, int i, long generation) {
        Reservation r = c.reservationPlain(i);
        c.setReservationPlain(i, null);
        // volatile: publishes the cleared reservation to whoever next moves the page
        c.setStateVolatile(i, PageState.word(CLEAN, generation));
        region.counters.prepared.decrement();
        if (r != null) {
            release(r);
        }
    }

    /**
     * Quiesce: takes PREPARED page {@code i}, seen as {@code w}, away from the writers that may enter it
     * without a lock: CAS to CLEAN at its generation, then its reservation is released. Returns false if a
     * writer entered it first (it is WRITABLE now). Region lock held exclusive.
     */
    boolean takePrepared(Chunk c, int i, long w) {
        if (c.casState(i, w, PageState.word(CLEAN, PageState.generation(w))) != w) { // volatile: against a writer's CAS
            return false;
        }
        Reservation r = c.reservationPlain(i); // ours now; no fault claims a CLEAN page under the exclusive lock
        c.setReservationPlain(i, null);
        region.counters.prepared.decrement();
        if (r != null) {
            release(r);
        }
        return true;
    }

    /**
     * Close: every PREPARED page of {@code table} ends, at its own generation, its reservation released.
     * Region lock held exclusive.
     */
    void dropPrepared(PageTable table) {
        table.forEachPage(0, Long.MAX_VALUE, (c, i, page) -> {
            long w = c.stateAcquire(i); // the lock orders it
            if (PageState.state(w) == PageState.PREPARED) {
                dropPrepared(c, i, PageState.generation(w));
            }
        });
    }
}
