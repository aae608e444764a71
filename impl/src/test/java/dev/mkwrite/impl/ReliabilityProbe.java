package dev.mkwrite.impl;

import dev.mkwrite.MappedRegion;

/**
 * Test-only window into a region's page-state table for the reliability suite
 * ({@code dev.mkwrite.impl.reliability}), which lives in its own package and so cannot read the
 * package-private core. Read-only but for {@link #failNextTruncate} and {@link #failNextMap}, which fail
 * a file truncate or a mapping as a failing system call would.
 */
public final class ReliabilityProbe {

    /**
     * Retired mappings past which a grow that maps anew drains every writer itself, as
     * {@code Retirement.MAX_RETIRED} says (private there; {@code MemorySegmentRegionTest} counts to it too).
     */
    private static final int MAX_RETIRED = 32;

    private ReliabilityProbe() {
    }

    /**
     * The name of {@code page}'s state: CLEAN, PREPARING, WRITABLE, WRITEBACK, FROZEN, REDIRTIED or PREPARED.
     *
     * @param region a region opened by the mkwrite implementation
     * @param page   the page index
     * @return the state's name
     */
    public static String state(MappedRegion region, long page) {
        return PageState.name(PageState.state(RegionHandle.regionOf(region).stateWord(page)));
    }

    /**
     * Whether a grow of {@code region} that maps it anew may quiesce every page, not only a partly covered
     * last page, which takes every PREPARED page back to CLEAN: when as many retired mappings wait to be
     * unmapped as the region keeps, the grow drains every writer and unmaps them itself. Only a grow adds
     * a retired mapping, under the exclusive lock, so a false answer before a grow holds for that grow.
     *
     * @param region a region opened by the mkwrite implementation
     * @return true if the next grow may take every PREPARED page
     */
    public static boolean growMayQuiesceAll(MappedRegion region) {
        return RegionHandle.regionOf(region).retiredMappings() >= MAX_RETIRED;
    }

    /**
     * Whether the page's reservation says it was prepared in part: its next writeback ends it CLEAN, even
     * where written-back pages are kept prepared.
     *
     * @param region a region opened by the mkwrite implementation
     * @param page   the page
     * @return true if its reservation is a {@code PreparedInPart}
     */
    public static boolean preparedInPart(MappedRegion region, long page) {
        return RegionHandle.regionOf(region).preparedInPart(page);
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
     * Makes the next truncate of {@code region}'s file fail with {@code failure}, leaving the file as it is
     * (null: no longer). The one thing here that changes a region: what a failing {@code ftruncate} would.
     *
     * @param region  a region opened by the mkwrite implementation
     * @param failure what the truncate throws, or null
     */
    public static void failNextTruncate(MappedRegion region, java.io.IOException failure) {
        RegionHandle.regionOf(region).failNextTruncateForTests(failure);
    }

    /**
     * Makes the next mapping of {@code region}'s file (a grow or shrink that maps anew) fail with
     * {@code failure}, mapping nothing (null: no longer).
     *
     * @param region  a region opened by the mkwrite implementation
     * @param failure what the mapping throws, or null
     */
    public static void failNextMap(MappedRegion region, java.io.IOException failure) {
        RegionHandle.regionOf(region).failNextMapForTests(failure, false);
    }

    /**
     * The broken rule this JVM runs with ({@code NONE} normally), so a test can say which variant it ran.
     *
     * @return the rule's name
     */
    public static String brokenRule() {
        return BrokenRule.ACTIVE.name();
    }

    /**
     * Whether an operation that would wait for this thread's own span finds it and throws (as
     * {@code OwnSpanTest} checks): only a hazard slot says whose a pin is, and a slot has an owner only with
     * the asymmetric fence. Elsewhere such an operation waits for the span for ever.
     *
     * @return whether own spans are found
     */
    public static boolean ownSpansFound() {
        return AsymmetricFence.ON && !Hazards.STATE_WORD_PINS_ONLY;
    }
}
