package dev.mkwrite;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * Prepares backing storage for a page before its first write: the application's
 * {@code ->page_mkwrite}.
 *
 * <p>mkwrite calls {@link #prepare} on the writing thread, with the region lock held shared, for each
 * page that a write covers and that is not yet WRITABLE; in a region with
 * {@linkplain RegionBuilder#prepareAhead prepare-ahead}, also on its background thread, for the pages it
 * prepares ahead of a sequential writer. At most one call per page and generation is in progress at any
 * time: a truncate or a hole punched over a page whose handler dropped the lock moves the page to a new
 * generation, and a write may then call the handler for it again while the stale call still runs; the
 * stale call's work is recognised on its retry and released. The handler either
 * <ul>
 *   <li>returns a {@link Reservation} (use {@link Reservation#none()} when nothing was needed): the page
 *   becomes WRITABLE;</li>
 *   <li>on a first attempt, calls {@link WriteFault#dropLock()}, blocks, optionally
 *   {@linkplain WriteFault#cacheReservation caches} what it prepared, and returns
 *   {@link FaultResult#RETRY}; or</li>
 *   <li>throws. {@link NoSpaceException} (or an {@link IOException} whose message says the device is
 *   full) reaches the writer as {@link NoSpaceException}; another {@link WriteFaultException} as itself;
 *   an {@link InterruptedException} or an interrupted I/O as {@link FaultInterruptedException}; any other
 *   exception as {@link HandlerFailedException}. An {@link Error} propagates as it is. Nothing of the
 *   write lands, and the page stays CLEAN.</li>
 * </ul>
 *
 * <p>A handler must not write into, flush, grow, truncate, punch a hole in or close its own region: a write
 * that would fault, and each of those operations, throws {@link IllegalStateException} instead of
 * deadlocking. It may read the region. An open of the region's file from a handler (or a reservation's
 * callback) returns a new handle while the region is open; while its last handle's close is under way it
 * throws {@link IllegalStateException}, since it would wait for a close that may wait for the handler. The
 * refusal does not ask whether that close would wait for this very callback, so do not open the file there.
 *
 * <p>Example, reserving from a shared budget and dropping the lock while it waits for space:
 * <pre>{@code
 * WriteFaultHandler handler = fault -> {
 *     if (budget.tryReserve(fault.length())) {
 *         return reservationOf(fault.length());
 *     }
 *     if (!fault.mayDropLock()) {
 *         throw new NoSpaceException("budget exhausted", fault.path(), fault.offset(), fault.page());
 *     }
 *     fault.dropLock();
 *     budget.awaitSpace(fault.length());            // blocks without stalling the region
 *     fault.cacheReservation(reservationOf(fault.length()));
 *     return FaultResult.RETRY;
 * };
 * }</pre>
 */
@FunctionalInterface
public interface WriteFaultHandler {

    /**
     * Prepares the page described by {@code fault}.
     *
     * @param fault the fault; valid only during this call
     * @return a reservation, or {@link FaultResult#RETRY} after dropping the lock (or, in a no-wait
     *         fault, instead of blocking); never null
     * @throws IOException          if storage could not be prepared
     * @throws InterruptedException if the handler was interrupted while it waited
     */
    FaultResult prepare(WriteFault fault) throws IOException, InterruptedException;

    /**
     * Called for each page that is written back, before its data is forced. With stable pages
     * ({@link #needsStablePages()}, or {@link RegionBuilder#stablePages(boolean)}) the page is stable by
     * then: no writer holds it and none can enter until writeback ends, so a checksum of {@code contents}
     * matches what reaches the disk. Without them, writers may store into the page while it is written
     * back; the page then stays dirty and is written back, and seen here, again. It runs on the thread that writes the page back, and whether that thread holds the region
     * lock depends on which operation it is:
     * <ul>
     *   <li>{@link MappedRegion#flush flush}, and the writeback that a write starts on its own thread when
     *   the region's dirty limit is reached: without the region lock;</li>
     *   <li>{@link MappedRegion#close close}, for every dirty page, and {@link MappedRegion#grow grow}, for a
     *   dirty last page that the old size covers partly: with the region lock held exclusively, so faults
     *   and the other exclusive operations wait until it returns (reads without the lock go on, but for
     *   close, which ends them first).</li>
     * </ul>
     * It must be quick, must not write into the region, and must not wait for another thread that uses the
     * region.
     *
     * @param page     the page index
     * @param contents the page's bytes inside the region, read-only, valid only during this call
     */
    default void beforeWriteback(long page, MemorySegment contents) {
    }

    /**
     * Whether this handler needs stable pages: that no byte of a page changes between
     * {@link #beforeWriteback} and the end of its writeback (to checksum what reaches the disk, say).
     * If so, writers wait while their page is under writeback, as with
     * {@link RegionBuilder#stablePages(boolean)}. Handlers that pass calls on to another should pass
     * this on too.
     *
     * @return false, by default: writes go ahead during writeback and the page stays dirty
     */
    default boolean needsStablePages() {
        return false;
    }

    /**
     * Whether a page of {@code path} that was written back must be prepared again, through {@link #prepare},
     * before it is next written. If not, writeback leaves the page prepared (its storage kept, its
     * generation unchanged) instead of clean, and the next write makes it dirty again without calling the
     * handler: a write within one page, in a region without a {@linkplain RegionBuilder#dirtyLimit dirty
     * limit}, with one compare-and-set and no fault; a write over several pages, or under a dirty limit,
     * through a fault that takes the region lock and counts in {@link RegionStats#faults()}. Either way the
     * page is counted and written back by the next flush, so dirty ranges stay exact. A truncate, a hole
     * punched over the page or the region's close takes the page back to clean as before. Asked once, when a region over {@code path} opens. Handlers that pass calls on to
     * another should pass this on too.
     *
     * <p>Answer false only where an overwrite in place needs no new storage: on ext4 or tmpfs, once a page's
     * blocks are allocated, writing it again allocates nothing; on xfs neither, unless the file shares
     * extents with a reflink copy. On a copy-on-write filesystem (btrfs, zfs, bcachefs) every overwrite needs
     * new blocks, so a full disk must be met here, in a fault, not at the kernel's page fault. The storage
     * handlers answer false on ext2, ext3, ext4 and tmpfs only.
     *
     * @param path the region's file, as the region was opened
     * @return true, by default: every write after a writeback faults and calls {@link #prepare} again
     */
    default boolean preparesOverwrites(Path path) {
        return true;
    }

    /**
     * Called once a region over {@code path} with this handler has closed (as the kernel calls a file's
     * {@code ->release}): per-file state the handler keeps, such as a descriptor or space it reserved
     * ahead, can go. A handler shared by several regions, or by successive regions over one file, hears
     * of each close. Called on the closing thread, after the region let go of the file (its lock is
     * free); must not throw, and must not open a region over the same file, whose last close this is (on
     * the closing thread, such an open, or a close of the closing handle, throws
     * {@link IllegalStateException}; on another thread the callback waits for, it would wait forever).
     * Handlers that pass calls on to another should pass this on too.
     *
     * @param path the region's file, as the region was opened
     */
    default void regionClosed(Path path) {
    }

    /**
     * A handler that prepares nothing and returns {@link Reservation#none()}, for its page and for every
     * page its fault offers {@linkplain WriteFault#prepareAround around} it. A region with it behaves
     * like a raw mapping with exact dirty tracking (and stable pages only if the builder asks for them);
     * it does not protect from a full disk.
     *
     * @return the no-op handler
     */
    static WriteFaultHandler none() {
        return fault -> {
            fault.prepareAround(fault.aroundPages(), page -> Reservation.none()); // nothing to prepare: take them all
            return Reservation.none();
        };
    }
}
