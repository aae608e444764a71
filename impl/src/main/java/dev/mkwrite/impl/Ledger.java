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
    /** The scope of the reservations' own code: a call back into the region from there is refused. */
    private final HandlerScope.Settling settling;

    Ledger(RegionState region) {
        this.region = region;
        this.settling = new HandlerScope.Settling(region);
    }

    /** mkwrite takes ownership of a reservation. */
    void accepted(Reservation r) {
        long bytes;
        int outer = HandlerScope.enter(settling); // the reservation's code: a fault holds the lock
        try {
            bytes = bytesOf(r); // first: nothing is counted if it throws
        } finally {
            HandlerScope.exit(outer);
        }
        region.counters.reservations.increment();
        region.counters.reservedBytes.add(bytes);
    }

    /**
     * {@code r.bytes()}, only ever read for the statistics: the application's code, which must not fail a
     * fault, a writeback or a close (a throw here once left the pages prepared around a fault claimed for
     * good). If it throws, the size counts as 0, and that is logged. Out of memory too: thrown from here, it
     * came between mkwrite and a reservation it owned (the fault dropped it unreleased, a release or consume
     * never reached it); the memory is short all the same, and the next allocation says so.
     */
    long bytesOf(Reservation r) {
        try {
            return r.bytes();
        } catch (OutOfMemoryError e) {
            try {
                LOG.get().error("Reservation.bytes() ran out of memory for {}; counted as 0 bytes", region.path);
            } catch (OutOfMemoryError again) {
                // not even the log: the count is statistics only
            }
            return 0;
        } catch (RuntimeException | LinkageError | AssertionError | StackOverflowError e) {
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
        int outer = HandlerScope.enter(settling);
        try {
            settled(r);
            r.release();
        } catch (RuntimeException e) {
            LOG.get().error("Reservation.release() threw for {}; ignored", region.path, e);
        } finally {
            HandlerScope.exit(outer);
        }
    }

    /**
     * {@link #release}, in a loop over pages that must settle every one: an Error the reservation throws
     * goes to {@code kept} (null: it is thrown at once), for the loop's owner to throw once it is done.
     */
    void release(Reservation r, Kept kept) {
        if (kept == null) {
            release(r);
            return;
        }
        try {
            release(r);
        } catch (Error e) {
            kept.add(e);
        }
    }

    /**
     * {@link #consume}, in a loop over pages that must settle every one: an Error goes to {@code kept}, as
     * for {@link #release(Reservation, Kept)}.
     */
    void consume(Reservation r, Kept kept) {
        try {
            consume(r);
        } catch (Error e) {
            kept.add(e);
        }
    }

    /**
     * The Errors a reservation threw from {@code release()} or {@code consume()} in a loop over pages, kept for
     * the loop's owner to throw once every page is settled. Thrown at once, the first stopped the loop midway:
     * the pages after it stayed claimed or FROZEN for good, their reservations never ended. A RuntimeException
     * is logged and dropped ({@link #release}); an Error (an assertion, a linkage error, memory) is the caller's
     * to see. Confined to the thread that runs the loop.
     */
    static final class Kept {
        private Error first;

        void add(Error e) {
            if (first == null) {
                first = e;
            } else if (first != e) {
                first.addSuppressed(e);
            }
        }

        boolean any() {
            return first != null;
        }

        /** The first Error kept, the others suppressed in it, or null; then nothing is kept. */
        Error take() {
            Error e = first;
            first = null;
            return e;
        }

        /**
         * Throws the first Error kept, the others suppressed in it, with {@code thrown} (the operation's own
         * failure, or null) suppressed too; then nothing is kept. Returns if none was kept.
         */
        void throwIfAny(Throwable thrown) {
            rethrow(take(), thrown);
        }

        /** Throws {@code kept} (a {@link #take()}), with {@code thrown} suppressed in it; returns if it is null. */
        static void rethrow(Error kept, Throwable thrown) {
            if (kept != null) {
                if (thrown != null && thrown != kept) {
                    kept.addSuppressed(thrown);
                }
                throw kept;
            }
        }
    }

    /** The page was written back: the storage is used. */
    void consume(Reservation r) {
        int outer = HandlerScope.enter(settling);
        try {
            settled(r);
            r.consume();
        } catch (RuntimeException e) {
            LOG.get().error("Reservation.consume() threw for {}; ignored", region.path, e);
        } finally {
            HandlerScope.exit(outer);
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
    void dropFrozen(Chunk c, int i, long generation, Kept kept) {
        Reservation r = c.reservationPlain(i);
        c.setReservationPlain(i, null);
        // volatile: publishes the cleared reservation to whoever next moves the page
        c.setStateVolatile(i, PageState.word(CLEAN, generation));
        region.counters.writable.decrement();
        if (r != null) {
            release(r, kept);
        }
    }

    /**
     * A PREPARED page (fault-around; never written) ends without writeback: it becomes CLEAN at
     * {@code generation} and its reservation is released. Region lock held exclusive: no fault moves it.
     */
    void dropPrepared(Chunk c, int i, long generation, Kept kept) {
        Reservation r = c.reservationPlain(i);
        c.setReservationPlain(i, null);
        // volatile: publishes the cleared reservation to whoever next moves the page
        c.setStateVolatile(i, PageState.word(CLEAN, generation));
        region.counters.prepared.decrement();
        if (r != null) {
            release(r, kept);
        }
    }

    /**
     * Quiesce: takes PREPARED page {@code i}, seen as {@code w}, away from the writers that may enter it
     * without a lock: CAS to CLEAN at its generation, then its reservation is released. Returns false if a
     * writer entered it first (it is WRITABLE now). Region lock held exclusive.
     */
    boolean takePrepared(Chunk c, int i, long w, Kept kept) {
        if (c.casState(i, w, PageState.word(CLEAN, PageState.generation(w))) != w) { // volatile: against a writer's CAS
            return false;
        }
        Reservation r = c.reservationPlain(i); // ours now; no fault claims a CLEAN page under the exclusive lock
        c.setReservationPlain(i, null);
        region.counters.prepared.decrement();
        if (r != null) {
            release(r, kept);
        }
        return true;
    }

    /**
     * Close: every PREPARED page of {@code table} ends, at its own generation, its reservation released; an
     * Error a reservation throws goes to {@code kept}. Region lock held exclusive.
     */
    void dropPrepared(PageTable table, Kept kept) {
        table.forEachPage(0, Long.MAX_VALUE, (c, i, page) -> {
            long w = c.stateAcquire(i); // the lock orders it
            if (PageState.state(w) == PageState.PREPARED) {
                dropPrepared(c, i, PageState.generation(w), kept);
            }
        });
    }
}
