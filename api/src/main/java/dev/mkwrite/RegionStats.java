package dev.mkwrite;

/**
 * A snapshot of a region's counters. Each field is read with acquire ordering but the snapshot as a
 * whole is not atomic: under concurrent writes the page counts may not add up to {@link #pages()} for an
 * instant. One order is kept: a page is counted out of {@link #preparingPages()} before any thread can
 * write into it, so once a write has returned, the pages it wrote are not counted preparing, even when
 * another thread prepared them (the prepare-ahead agent, or a fault that prepared pages around its own).
 *
 * @param pages                   pages in the region
 * @param preparingPages          pages claimed by a fault whose handler has not finished
 * @param writablePages           pages prepared and dirty: written, or open for writing, since the last
 *                                writeback
 * @param writebackPages          pages being written back
 * @param preparedPages           pages prepared and not dirty, which the next write enters without a fault:
 *                                prepared around a fault ({@link WriteFault#prepareAround}), or kept prepared
 *                                after their writeback ({@link WriteFaultHandler#preparesOverwrites}); each
 *                                holds a reservation, as a writable page does
 * @param faults                  write faults taken (first attempts; a span over three clean pages counts
 *                                three)
 * @param retries                 retried faults (each after a dropped lock)
 * @param lockDrops               calls to {@link WriteFault#dropLock()}
 * @param handlerNanos            time spent inside {@link WriteFaultHandler#prepare}
 * @param writebackWaits          times a writer waited for a page to leave writeback
 * @param writebackWaitNanos      time writers spent waiting for writeback
 * @param pagesWrittenBack        pages whose writeback ended: forced and left clean (or kept prepared) by a
 *                                flush, or by a close's or a grow's writeback; a page forced but left dirty
 *                                (written during its writeback, without stable pages) counts when a later
 *                                writeback ends it
 * @param reservationsOutstanding reservations accepted and not yet consumed or released
 * @param reservedBytes           sum of {@link Reservation#bytes()} over the outstanding reservations
 * @param pins                    page pins held by open {@link WriteSpan}s and writes in progress (a span
 *                                over three pages holds three); zero when no write is in flight, which is
 *                                what a leak check asserts after every writer has finished
 * @param metadataBytes           approximate heap bytes of the page-state table
 * @param nativeAccess            whether the region holds a native descriptor of its file, which it has
 *                                when this JVM enables native access for mkwrite
 *                                ({@code --enable-native-access}): with it, {@link MappedRegion#punchHole}
 *                                frees blocks with {@code fallocate(2)} and a {@link Backing#MEMORY_SEGMENT}
 *                                region can be mapped with room to grow; without it, both fall back
 *                                (zeros are written, {@code FileChannel.map} maps)
 * @param nativeMapping           whether the region's current mapping is one {@code mmap(2)} of its own with
 *                                room to grow, so that a grow within the room is one {@code ftruncate(2)}
 *                                with no new mapping; {@code false} when it is mapped with
 *                                {@code FileChannel.map} ({@link Backing#MAPPED_BYTE_BUFFER} always, and
 *                                {@link Backing#MEMORY_SEGMENT} without native access), where every grow
 *                                maps anew
 */
public record RegionStats(
        long pages,
        long preparingPages,
        long writablePages,
        long writebackPages,
        long preparedPages,
        long faults,
        long retries,
        long lockDrops,
        long handlerNanos,
        long writebackWaits,
        long writebackWaitNanos,
        long pagesWrittenBack,
        long reservationsOutstanding,
        long reservedBytes,
        long pins,
        long metadataBytes,
        boolean nativeAccess,
        boolean nativeMapping) {

    /**
     * The counters alone, with {@link #nativeAccess()} and {@link #nativeMapping()} false: for code that
     * builds statistics of its own, such as a sum over several regions.
     *
     * @param pages                   pages in the region
     * @param preparingPages          pages claimed by a fault whose handler has not finished
     * @param writablePages           pages prepared and dirty
     * @param writebackPages          pages being written back
     * @param preparedPages           pages prepared and not dirty
     * @param faults                  write faults taken
     * @param retries                 retried faults
     * @param lockDrops               calls to {@link WriteFault#dropLock()}
     * @param handlerNanos            time spent inside {@link WriteFaultHandler#prepare}
     * @param writebackWaits          times a writer waited for a page to leave writeback
     * @param writebackWaitNanos      time writers spent waiting for writeback
     * @param pagesWrittenBack        pages taken through writeback by flushes
     * @param reservationsOutstanding reservations accepted and not yet consumed or released
     * @param reservedBytes           sum of {@link Reservation#bytes()} over the outstanding reservations
     * @param pins                    page pins held
     * @param metadataBytes           approximate heap bytes of the page-state table
     */
    public RegionStats(long pages, long preparingPages, long writablePages, long writebackPages,
            long preparedPages, long faults, long retries, long lockDrops, long handlerNanos, long writebackWaits,
            long writebackWaitNanos, long pagesWrittenBack, long reservationsOutstanding, long reservedBytes,
            long pins, long metadataBytes) {
        this(pages, preparingPages, writablePages, writebackPages, preparedPages, faults, retries, lockDrops,
                handlerNanos,
                writebackWaits, writebackWaitNanos, pagesWrittenBack, reservationsOutstanding, reservedBytes, pins,
                metadataBytes, false, false);
    }

    /**
     * Pages neither being prepared, prepared, writable nor under writeback.
     *
     * @return the number of CLEAN pages
     */
    public long cleanPages() {
        // Within [0, pages]: the counts are read one after another while pages move between them.
        return Math.clamp(pages - preparingPages - writablePages - writebackPages - preparedPages, 0, pages);
    }
}
