package dev.mkwrite.impl;

/**
 * The handler call that runs on this thread: a fault's {@code prepare}, a writeback's
 * {@code beforeWriteback}, or a reservation's {@code consume} or {@code release}. A handler that writes
 * into, flushes, resizes or closes its own region would deadlock (on the region lock a fault holds shared, or
 * a close or grow holds exclusive; on the page it is preparing; on the writeback it runs in), or, where the
 * lock lets its holder in again, run inside another operation's work; so those calls are refused with a
 * clear message instead.
 */
final class HandlerScope {

    /** A handler call: its region, and the offset and page it is about. */
    interface Call {
        RegionState region();

        long offset();

        long page();
    }

    /** The {@code beforeWriteback} calls of one writeback: {@link #page} is the page of the current one. */
    static final class Writeback implements Call {
        private final RegionState region;
        long page;

        Writeback(RegionState region) {
            this.region = region;
        }

        @Override
        public RegionState region() {
            return region;
        }

        @Override
        public long offset() {
            return page << region.pageShift;
        }

        @Override
        public long page() {
            return page;
        }
    }

    /**
     * A reservation's {@code consume()} or {@code release()} (and {@code bytes()}), which mkwrite may call
     * with the region lock held, shared or exclusive, or in the middle of a writeback: no page of its own.
     */
    record Settling(RegionState region) implements Call {
        @Override
        public long offset() {
            return -1;
        }

        @Override
        public long page() {
            return -1;
        }
    }

    /**
     * This thread's handler calls, innermost last: one region's handler may write into another region, whose
     * fault calls that region's handler in turn, so every level is checked, not only the innermost.
     */
    private static final class Calls {
        private Call[] calls = new Call[4];
        private int depth;
    }

    private static final ThreadLocal<Calls> CURRENT = new ThreadLocal<>();

    private HandlerScope() {
    }

    /** Enters {@code call}; returns the depth to restore with {@link #exit}. */
    static int enter(Call call) {
        Calls c = CURRENT.get();
        if (c == null) {
            c = new Calls();
            CURRENT.set(c);
        }
        int depth = c.depth;
        if (depth == c.calls.length) {
            c.calls = java.util.Arrays.copyOf(c.calls, 2 * depth);
        }
        c.calls[depth] = call;
        c.depth = depth + 1;
        return depth;
    }

    /** Leaves the calls entered since {@link #enter} returned {@code depth}. */
    static void exit(int depth) {
        Calls c = CURRENT.get();
        for (int i = depth; i < c.depth; i++) {
            c.calls[i] = null;
        }
        c.depth = depth;
    }

    /** The innermost call of this thread's that is {@code region}'s, or null. */
    private static Call callOf(RegionState region) {
        Calls c = CURRENT.get();
        if (c != null) {
            for (int i = c.depth - 1; i >= 0; i--) {
                if (c.calls[i].region() == region) {
                    return c.calls[i];
                }
            }
        }
        return null;
    }

    /** Whether this thread runs a handler call of the region whose state is {@code region}, at any depth. */
    static boolean inHandlerOf(RegionState region) {
        return callOf(region) != null;
    }

    /**
     * Whether this thread's innermost call of {@code region}'s is a {@code beforeWriteback}: its page is
     * under writeback, which a close and every shrink wait for, holding the region lock exclusive.
     */
    static boolean inWritebackOf(RegionState region) {
        return callOf(region) instanceof Writeback;
    }

    /** Refuses {@code op} from inside a handler call of the region whose state is {@code region}. */
    static void checkNotInHandler(RegionState region, String op) {
        Call current = callOf(region);
        if (current != null) {
            throw new IllegalStateException(op + "() from inside " + (current instanceof Settling
                    ? "a Reservation's consume() or release() of this region would deadlock, or run inside the"
                    + " operation that ended it [file " + region.path + "]"
                    : "this region's WriteFaultHandler" + (current instanceof Writeback ? " (beforeWriteback)" : "")
                    + " would deadlock " + region.where(current.offset())));
        }
    }
}
