package dev.mkwrite;

/**
 * A snapshot of a region's counters. Each field is read with acquire ordering but the snapshot as a
 * whole is not atomic: under concurrent writes the page counts may not add up to {@link #pages()} for an
 * instant.
 *
 * @param pages                   pages in the region
 * @param preparingPages          pages claimed by a fault whose handler has not finished
 * @param writablePages           pages prepared and dirty: written, or open for writing, since the last
 *                                writeback
 * @param writebackPages          pages being written back
 * @param faults                  write faults taken (first attempts; a span over three clean pages counts
 *                                three)
 * @param retries                 retried faults (each after a dropped lock)
 * @param lockDrops               calls to {@link WriteFault#dropLock()}
 * @param handlerNanos            time spent inside {@link WriteFaultHandler#prepare}
 * @param writebackWaits          times a writer waited for a page to leave writeback
 * @param writebackWaitNanos      time writers spent waiting for writeback
 * @param pagesWrittenBack        pages taken through writeback by flushes
 * @param reservationsOutstanding reservations accepted and not yet consumed or released
 * @param reservedBytes           sum of {@link Reservation#bytes()} over the outstanding reservations
 * @param pins                    page pins held by open {@link WriteSpan}s and writes in progress (a span
 *                                over three pages holds three); zero when no write is in flight, which is
 *                                what a leak check asserts after every writer has finished
 * @param metadataBytes           approximate heap bytes of the page-state table
 */
public record RegionStats(
        long pages,
        long preparingPages,
        long writablePages,
        long writebackPages,
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
        long metadataBytes) {

    /**
     * Pages neither being prepared, writable nor under writeback.
     *
     * @return the number of CLEAN pages
     */
    public long cleanPages() {
        return pages - preparingPages - writablePages - writebackPages;
    }
}
