package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.RegionBuilder;
import dev.mkwrite.WriteFaultHandler;

import java.nio.file.Path;

/**
 * The settings of a region that every open of its file must repeat to share it ({@link RegionRegistry}):
 * the backing, the page size (the operating system's when none was given), the handler instance, the
 * dirty limit, stable pages, the byte order and prepare-ahead. The size is not one of them (a larger one grows the region), nor is {@code create} (an open
 * file exists).
 *
 * @param backing    how the file is mapped
 * @param pageSize   the unit of preparation, never 0
 * @param handler    the handler, compared by identity: it is called for the pages of every handle
 * @param dirtyLimit the dirty limit in bytes, zero for none
 * @param stablePages whether the builder asked for stable pages
 * @param byteOrder  the byte order of the typed accessors and buffers
 * @param prepareAhead how far ahead of sequential writers pages are prepared, zero for none
 */
record RegionSettings(Backing backing, int pageSize, WriteFaultHandler handler, long dirtyLimit, boolean stablePages,
                      java.nio.ByteOrder byteOrder, long prepareAhead) {

    /** The settings {@code spec} asks for, checked against the operating system and the backing. */
    static RegionSettings of(RegionBuilder spec) {
        if (spec.handler() == null) { // a provider's open called directly: before the file is created or mapped
            throw new IllegalStateException("no WriteFaultHandler given for " + spec.path()
                    + "; pass one to handler(...), or WriteFaultHandler.none() for none");
        }
        int osPage = OsPage.size();
        int pageSize = spec.pageSize() == 0 ? osPage : spec.pageSize();
        if (pageSize < osPage) {
            throw new IllegalArgumentException("page size " + pageSize + " is below the operating system's page size "
                    + osPage + " for " + spec.path());
        }
        if (spec.size() > spec.backing().maxRegionSize()) {
            throw RegionState.tooLarge(spec.size(), spec.backing(), spec.path());
        }
        return new RegionSettings(spec.backing(), pageSize, spec.handler(), spec.dirtyLimit(), spec.stablePages(),
                spec.byteOrder(), spec.prepareAhead());
    }

    /**
     * Refuses an open that asks for other settings than the region's (these), naming the file and the
     * first setting that differs.
     *
     * @param asked  what the open asks for
     * @param region the path the region was opened with
     * @param opened the path the open was given, which may be another path to the same file
     */
    void checkShareableWith(RegionSettings asked, Path region, Path opened) {
        String setting;
        Object have;
        Object want;
        if (backing != asked.backing) {
            setting = "backing";
            have = backing;
            want = asked.backing;
        } else if (pageSize != asked.pageSize) {
            setting = "page size";
            have = pageSize;
            want = asked.pageSize;
        } else if (handler != asked.handler) {
            setting = "handler";
            have = handler;
            want = asked.handler + " (another instance)";
        } else if (dirtyLimit != asked.dirtyLimit) {
            setting = "dirty limit";
            have = dirtyLimit;
            want = asked.dirtyLimit;
        } else if (stablePages != asked.stablePages) {
            setting = "stable pages";
            have = stablePages;
            want = asked.stablePages;
        } else if (!byteOrder.equals(asked.byteOrder)) {
            setting = "byte order";
            have = byteOrder;
            want = asked.byteOrder;
        } else if (prepareAhead != asked.prepareAhead) {
            setting = "prepare-ahead";
            have = prepareAhead;
            want = asked.prepareAhead;
        } else {
            return;
        }
        throw new IllegalStateException(region + " is already open in this JVM"
                + (region.equals(opened) ? "" : " (opened now as " + opened + ", the same file)")
                + " with " + setting + " " + have + ", and this open asks for " + setting + " " + want
                + ". Opens of one file share its region only with the same backing, page size, handler instance,"
                + " dirty limit, stable pages, byte order and prepare-ahead: open it with those, or close its other"
                + " handles first [file " + region + "]");
    }
}
