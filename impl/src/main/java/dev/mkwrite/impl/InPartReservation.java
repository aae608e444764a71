package dev.mkwrite.impl;

import dev.mkwrite.Reservation;

/**
 * A page's reservation, marked {@link PreparedInPart} by a shrink whose new end cut the page's folio unit
 * ({@link Resizing}): its callbacks and bytes are the original's.
 */
final class InPartReservation implements PreparedInPart {

    private final Reservation original;

    private InPartReservation(Reservation original) {
        this.original = original;
    }

    /** {@code r} as prepared in part: itself if it says so already. */
    static Reservation of(Reservation r) {
        return r instanceof PreparedInPart ? r : new InPartReservation(r);
    }

    @Override
    public long bytes() {
        return original.bytes();
    }

    @Override
    public void consume() {
        original.consume();
    }

    @Override
    public void release() {
        original.release();
    }

    @Override
    public String toString() {
        return "InPart[" + original + "]";
    }
}
