package dev.mkwrite.impl;

import dev.mkwrite.RegionStats;

import java.util.concurrent.atomic.LongAdder;

/**
 * The region's statistics. Every counter is a {@link LongAdder}: faulting threads update them on the slow
 * path only, and a snapshot reads each one (volatile) without stopping writers.
 *
 * <p>A page that leaves PREPARING or PREPARED for a state writers may write into is counted in its new
 * state <i>before</i> the CAS that moves it, and counted back if the CAS fails: any thread may write the
 * page from the CAS on, so a write that has returned finds the pages it wrote counted out of
 * {@link #preparing} (a benchmark's or a leak check's view once its writers end), even when another
 * thread, the prepare-ahead agent or a fault-around, prepared them.
 */
final class Counters {
    final LongAdder preparing = new LongAdder();
    final LongAdder writable = new LongAdder();
    /** PREPARED pages: prepared around a fault, or kept prepared after writeback; not dirty. */
    final LongAdder prepared = new LongAdder();
    /** Pages a fault prepared besides its own (fault-around). */
    final LongAdder preparedAround = new LongAdder();
    final LongAdder writeback = new LongAdder();
    final LongAdder faults = new LongAdder();
    final LongAdder retries = new LongAdder();
    final LongAdder lockDrops = new LongAdder();
    final LongAdder handlerNanos = new LongAdder();
    final LongAdder writebackWaits = new LongAdder();
    final LongAdder writebackWaitNanos = new LongAdder();
    final LongAdder pagesWrittenBack = new LongAdder();
    final LongAdder reservations = new LongAdder();
    final LongAdder reservedBytes = new LongAdder();

    /** Moves {@code n} pages from count {@code from} to count {@code to}; see the class comment for when. */
    static void move(LongAdder from, LongAdder to, long n) {
        from.add(-n);
        to.add(n);
    }

    private static long atLeast0(LongAdder count) {
        return Math.max(0, count.sum());
    }

    /**
     * The counters, with what the caller read of the region: its pages, pins and metadata, whether it has
     * a native descriptor, and whether its mapping is a native one with room to grow.
     */
    RegionStats snapshot(long pages, long pins, long metadataBytes, boolean nativeAccess, boolean nativeMapping) {
        // The page counts at 0 at least: two threads entering one PREPARED page both count it out before
        // their CASes, and the loser counts it back after, so a sum read between shows -1 for a moment.
        return new RegionStats(pages, atLeast0(preparing), atLeast0(writable), atLeast0(writeback),
                atLeast0(prepared), faults.sum(),
                retries.sum(), lockDrops.sum(), handlerNanos.sum(), writebackWaits.sum(),
                writebackWaitNanos.sum(), pagesWrittenBack.sum(), reservations.sum(), reservedBytes.sum(),
                pins, metadataBytes, nativeAccess, nativeMapping);
    }
}
