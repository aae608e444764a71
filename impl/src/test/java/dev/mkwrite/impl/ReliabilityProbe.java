package dev.mkwrite.impl;

import dev.mkwrite.MappedRegion;

/**
 * Test-only window into a region's page-state table for the reliability suite
 * ({@code dev.mkwrite.impl.reliability}), which lives in its own package and so cannot read the
 * package-private core. Read-only: nothing here changes a region.
 */
public final class ReliabilityProbe {

    private ReliabilityProbe() {
    }

    /**
     * The name of {@code page}'s state: CLEAN, PREPARING, WRITABLE, WRITEBACK or FROZEN.
     *
     * @param region a region opened by the mkwrite implementation
     * @param page   the page index
     * @return the state's name
     */
    public static String state(MappedRegion region, long page) {
        return PageState.name(PageState.state(RegionHandle.regionOf(region).stateWord(page)));
    }

    /**
     * Whether {@code page} is WRITABLE (prepared and dirty).
     *
     * @param region a region opened by the mkwrite implementation
     * @param page   the page index
     * @return true if the page is WRITABLE
     */
    public static boolean writable(MappedRegion region, long page) {
        return PageState.state(RegionHandle.regionOf(region).stateWord(page)) == PageState.WRITABLE;
    }

    /**
     * The state word of {@code page} described: state, pins and generation.
     *
     * @param region a region opened by the mkwrite implementation
     * @param page   the page index
     * @return the description
     */
    public static String describe(MappedRegion region, long page) {
        return PageState.describe(RegionHandle.regionOf(region).stateWord(page));
    }

    /**
     * The broken rule this JVM runs with ({@code NONE} normally), so a test can say which variant it ran.
     *
     * @return the rule's name
     */
    public static String brokenRule() {
        return BrokenRule.ACTIVE.name();
    }
}
