package dev.mkwrite.impl.storage;

import dev.mkwrite.FaultResult;
import dev.mkwrite.ForwardingWriteFault;
import dev.mkwrite.Reservation;
import dev.mkwrite.WriteFault;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.impl.PreparedInPart;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

import java.util.Arrays;
import java.util.function.Predicate;

/**
 * Handlers run in order for each fault; see {@link StorageHandlers#chain}. The reservations they return
 * are combined into one, and if a later handler fails, the earlier ones are released before the failure
 * reaches mkwrite. Immutable and thread-safe if its handlers are.
 */
final class HandlerChain implements WriteFaultHandler {

    private final WriteFaultHandler[] handlers;

    HandlerChain(WriteFaultHandler[] handlers) {
        this.handlers = handlers.clone();
    }

    @Override
    public FaultResult prepare(WriteFault fault) throws IOException, InterruptedException {
        Link link = new Link(fault, handlers.length);
        boolean done = false;
        try {
            for (WriteFaultHandler h : handlers) {
                FaultResult r = h.prepare(link);
                if (r == null) {
                    throw new IllegalStateException(h + " returned null; return Reservation.none() when nothing"
                            + " needs reserving");
                }
                if (r == FaultResult.RETRY) {
                    // It dropped the lock (what it cached already holds the earlier reservations), or a
                    // no-wait fault would block: the retry calls the chain again from the start.
                    if (!link.handedOver) {
                        link.releaseHeld();
                    }
                    done = true;
                    return FaultResult.RETRY;
                }
                Reservation reservation = (Reservation) r;
                if (link.handedOver) {
                    // It cached a reservation: returning that one too is the chain's cached one, adopted once;
                    // returning another is a protocol breach mkwrite reports and cleans up (the earlier
                    // reservations are inside the cached one).
                    done = true;
                    return reservation == link.cachedPart ? link.cachedAll : reservation;
                }
                link.hold(reservation);
                if (link.lockDropped) {
                    // Ready after dropping the lock: mkwrite adopts this on the retry without calling the
                    // chain again, so the handlers after this one do not run for this page.
                    done = true;
                    return link.combined(null);
                }
            }
            done = true;
            return link.combined(null);
        } catch (Throwable t) {
            if (!done) {
                try {
                    link.releaseHeld();
                } catch (RuntimeException | Error e) { // the failure that ended the chain is the one to report
                    t.addSuppressed(e);
                }
            }
            throw t;
        }
    }

    @Override
    public void beforeWriteback(long page, MemorySegment contents) {
        for (WriteFaultHandler h : handlers) {
            h.beforeWriteback(page, contents);
        }
    }

    /** Passes the closing of a region on to each handler of the chain, in order. */
    @Override
    public void regionClosed(Path path) {
        for (WriteFaultHandler h : handlers) {
            h.regionClosed(path);
        }
    }

    /** Stable pages if any handler of the chain needs them. */
    @Override
    public boolean needsStablePages() {
        return any(WriteFaultHandler::needsStablePages);
    }

    /** Overwrites prepared again if any handler of the chain asks for it. */
    @Override
    public boolean preparesOverwrites(Path path) {
        return any(h -> h.preparesOverwrites(path));
    }

    /** Whether {@code question} is true of any handler of the chain. */
    private boolean any(Predicate<WriteFaultHandler> question) {
        for (WriteFaultHandler h : handlers) {
            if (question.test(h)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public String toString() {
        return "chain" + Arrays.toString(handlers);
    }

    /** The fault as the chained handlers see it: the same fault, with caching routed through the chain. */
    private static final class Link extends ForwardingWriteFault {
        private final Reservation[] held;
        private int count;
        boolean lockDropped;
        /** The held reservations went into a cached one; mkwrite owns them. */
        boolean handedOver;
        /** What the member cached, and what the chain cached for it: the held ones with it. */
        Reservation cachedPart;
        Reservation cachedAll;

        Link(WriteFault fault, int handlers) {
            super(fault);
            this.held = new Reservation[handlers];
        }

        void hold(Reservation r) {
            if (r != Reservation.none()) {
                held[count++] = r;
            }
        }

        /** The held reservations plus {@code last}, as one. */
        Reservation combined(Reservation last) {
            if (last != null) {
                hold(last);
            }
            Reservation r = switch (count) {
                case 0 -> Reservation.none();
                case 1 -> held[0];
                default -> CompositeReservation.of(Arrays.copyOf(held, count));
            };
            count = 0;
            return r;
        }

        void releaseHeld() {
            Reservation r = combined(null);
            r.release();
        }

        @Override
        public void dropLock() {
            super.dropLock();
            lockDropped = true;
        }

        @Override
        public void cacheReservation(Reservation reservation) {
            if (reservation == null) {
                throw new NullPointerException("reservation");
            }
            int earlier = count;
            Reservation all = combined(reservation);
            try {
                super.cacheReservation(all);
            } catch (RuntimeException | Error e) {
                // Refused (the lock was not dropped, say): the earlier ones are still the chain's to release,
                // and the member's own is still the member's. combined() left held[] as it was.
                count = earlier;
                throw e;
            }
            handedOver = true;
            cachedPart = reservation;
            cachedAll = all;
        }
    }

    /** Several reservations ended together; each callback reaches every part even if one throws. */
    private static class CompositeReservation implements Reservation {
        private final Reservation[] parts;

        /**
         * {@code parts} as one: {@link PreparedInPart} if any part is, so that the page of a quota chained
         * before a storage handler still faults after its writeback when its folio unit is cut.
         */
        static CompositeReservation of(Reservation[] parts) {
            for (Reservation p : parts) {
                if (p instanceof PreparedInPart) {
                    return new InPart(parts);
                }
            }
            return new CompositeReservation(parts);
        }

        CompositeReservation(Reservation[] parts) {
            this.parts = parts;
        }

        /**
         * The parts' sizes, summed when asked: {@code bytes()} is the application's code, which mkwrite calls
         * only for its statistics, guarded. Summed in the constructor, a part that threw there failed the
         * chain's combining itself: a member's cache, and then the release of the earlier members'
         * reservations, which combines them again.
         */
        @Override
        public long bytes() {
            long sum = 0;
            for (Reservation p : parts) {
                sum += p.bytes();
            }
            return sum;
        }

        @Override
        public void consume() {
            each(true);
        }

        @Override
        public void release() {
            each(false);
        }

        /**
         * Consumes or releases every part, whatever one throws; then throws the first failure, the others
         * suppressed in it: an Error before a RuntimeException, which mkwrite logs and drops.
         */
        private void each(boolean consume) {
            Throwable failure = null;
            for (Reservation p : parts) {
                try {
                    if (consume) {
                        p.consume();
                    } else {
                        p.release();
                    }
                } catch (RuntimeException | Error e) {
                    failure = add(failure, e);
                }
            }
            if (failure instanceof Error e) {
                throw e;
            }
            if (failure != null) {
                throw (RuntimeException) failure;
            }
        }

        private static Throwable add(Throwable first, Throwable next) {
            if (first == null) {
                return next;
            }
            if (next instanceof Error && !(first instanceof Error)) {
                next.addSuppressed(first);
                return next;
            }
            first.addSuppressed(next);
            return first;
        }

        @Override
        public String toString() {
            return "Reservations" + Arrays.toString(parts);
        }

        /** A composite one part of which was prepared in part. */
        private static final class InPart extends CompositeReservation implements PreparedInPart {
            InPart(Reservation[] parts) {
                super(parts);
            }
        }
    }
}
