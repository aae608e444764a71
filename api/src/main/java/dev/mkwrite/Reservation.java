package dev.mkwrite;

/**
 * Backing storage that a {@link WriteFaultHandler} prepared for one page: the analogue of btrfs' delalloc
 * reservation.
 *
 * <p>Once mkwrite accepts a reservation (the handler returned it, or cached it with
 * {@link WriteFault#cacheReservation}), mkwrite owns it and calls <b>exactly one</b> of its two methods,
 * <b>exactly once</b>:
 * <ul>
 *   <li>{@link #consume()} after writeback forced the page's data to storage: the reservation became
 *   real data;</li>
 *   <li>{@link #release()} when the reservation was never used: the fault failed after preparing,
 *   the page was truncated or punched ({@link MappedRegion#punchHole}), a retry found it stale, or another
 *   fault prepared the page first; and, for every page still dirty, when the close's final writeback
 *   failed (the region closes anyway; the data stays in the page cache, not known to be on storage).</li>
 * </ul>
 * Both are called from whichever thread ends the reservation (a writer, a flusher, or a thread that grows,
 * truncates, punches a hole or closes), never concurrently for the same reservation, and possibly while
 * that thread holds the region lock: shared in a fault; exclusive in {@code grow} (which writes back a last
 * page that the old size covers partly), {@code truncate}, {@code punchHole} (which releases the
 * reservations of the pages it removes) and {@code close}. So they must be quick and must not call into
 * the region, nor open its file again (see {@link WriteFaultHandler}: such an open throws
 * {@link IllegalStateException} while the region closes). They should not throw; an exception is logged and
 * ignored.
 */
public non-sealed interface Reservation extends FaultResult {

    /**
     * The number of bytes this reservation holds, for statistics and quotas.
     *
     * @return bytes reserved, zero or more
     */
    long bytes();

    /** The page's data reached storage; the reserved space is now in use by that data. */
    default void consume() {
    }

    /** The reservation was never used; give the space back. */
    default void release() {
    }

    /**
     * A reservation of zero bytes whose callbacks do nothing, for handlers that have nothing to reserve.
     * One instance may be returned for any number of pages.
     *
     * @return the empty reservation
     */
    static Reservation none() {
        return NoReservation.INSTANCE;
    }
}

/** The shared empty reservation. */
enum NoReservation implements Reservation {
    INSTANCE;

    @Override
    public long bytes() {
        return 0;
    }

    @Override
    public String toString() {
        return "Reservation.none()";
    }
}
