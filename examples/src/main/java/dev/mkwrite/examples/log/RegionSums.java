package dev.mkwrite.examples.log;

import dev.mkwrite.RegionStats;

/** Adds {@link RegionStats} of several regions together. Stateless. */
final class RegionSums {

    static final RegionStats ZERO = new RegionStats(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

    private RegionSums() {
    }

    static RegionStats plus(RegionStats a, RegionStats b) {
        return new RegionStats(
                a.pages() + b.pages(),
                a.preparingPages() + b.preparingPages(),
                a.writablePages() + b.writablePages(),
                a.writebackPages() + b.writebackPages(),
                a.preparedPages() + b.preparedPages(),
                a.faults() + b.faults(),
                a.retries() + b.retries(),
                a.lockDrops() + b.lockDrops(),
                a.handlerNanos() + b.handlerNanos(),
                a.writebackWaits() + b.writebackWaits(),
                a.writebackWaitNanos() + b.writebackWaitNanos(),
                a.pagesWrittenBack() + b.pagesWrittenBack(),
                a.reservationsOutstanding() + b.reservationsOutstanding(),
                a.reservedBytes() + b.reservedBytes(),
                a.pins() + b.pins(),
                a.metadataBytes() + b.metadataBytes());
    }
}
