package dev.mkwrite.impl;

/**
 * The fault whose handler runs on this thread. A handler that writes into, flushes, resizes or closes
 * its own region would deadlock on the region lock it holds shared (or on the page it is preparing), so
 * those calls are refused with a clear message instead.
 */
final class HandlerScope {

    private static final ThreadLocal<Fault> CURRENT = new ThreadLocal<>();

    private HandlerScope() {
    }

    /** The fault whose handler runs on this thread, or null. */
    static Fault current() {
        return CURRENT.get();
    }

    /** Enters {@code fault}'s handler call; returns the fault to restore with {@link #exit}. */
    static Fault enter(Fault fault) {
        Fault outer = CURRENT.get();
        CURRENT.set(fault);
        return outer;
    }

    static void exit(Fault outer) {
        CURRENT.set(outer);
    }

    /** Whether this thread runs a handler of the region whose state is {@code region}. */
    static boolean inHandlerOf(RegionState region) {
        Fault current = CURRENT.get();
        return current != null && current.region() == region;
    }

    /** Refuses {@code op} from inside a handler of the region whose state is {@code region}. */
    static void checkNotInHandler(RegionState region, String op) {
        Fault current = CURRENT.get();
        if (current != null && current.region() == region) {
            throw new IllegalStateException(op + "() from inside this region's WriteFaultHandler would deadlock"
                    + " [file " + region.path + ", offset " + current.offset() + ", page " + current.page() + "]");
        }
    }
}
