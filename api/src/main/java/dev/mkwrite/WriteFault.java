package dev.mkwrite;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.function.LongFunction;

/**
 * One write fault, as a {@link WriteFaultHandler} sees it: the analogue of the kernel's
 * {@code struct vm_fault}.
 *
 * <p>A fault object is valid only during the handler call it is passed to, and only on the thread that
 * makes that call. The first attempt and its retry are two calls, with two fault objects that describe
 * the same page.
 */
public interface WriteFault {

    /**
     * The file of the region.
     *
     * @return the path the region was opened with
     */
    Path path();

    /**
     * The region's file, through the region's own descriptor: for a handler that allocates, writes zeros
     * or gives blocks back, so that it opens no descriptor of the file itself. Unlike the fault, it stays
     * valid until the region closes (see {@link StorageFile}), but a handler should keep no reference
     * past {@link WriteFaultHandler#regionClosed}.
     *
     * @return the region's file, or {@code null} where the fault is not a region's (a test's double): a
     *         handler then opens the file itself
     */
    default StorageFile file() {
        return null;
    }

    /**
     * The index of the faulting page: {@code offset() / pageSize}.
     *
     * @return the page index
     */
    long page();

    /**
     * The file offset of the first byte of the page.
     *
     * @return the page's file offset
     */
    long offset();

    /**
     * The number of bytes of the page that lie inside the region: the page size, or less for the last
     * page of a region whose size is not a multiple of the page size.
     *
     * @return bytes to prepare, at least one
     */
    int length();

    /**
     * The page's memory in the region's mapping: {@link #length()} bytes at the page's address. For
     * preparation that works on the mapping itself, such as {@code madvise(MADV_POPULATE_WRITE)}. Do not
     * write data into it: the page is not WRITABLE yet, and what the handler writes is not tracked.
     *
     * @return the page's memory
     * @throws IllegalStateException once the lock was dropped (the mapping may be replaced while it is
     *                               not held) or after the handler call
     */
    MemorySegment memory();

    /**
     * The page's generation when this attempt claimed it. Truncate moves the generation of every page
     * it removes, so a handler that keeps its own per-page metadata can key it by {@code (page,
     * generation)} and never confuse a page with its truncated-and-extended successor.
     *
     * @return the generation
     */
    long generation();

    /**
     * Whether this is the retry of a fault whose first attempt dropped the lock ({@code FAULT_FLAG_TRIED}).
     *
     * @return {@code true} on the retry
     */
    boolean isRetry();

    /**
     * Whether the write that faulted must not wait ({@code FAULT_FLAG_RETRY_NOWAIT}), as in
     * {@link MappedRegion#tryWrite}. A handler that would have to block returns {@link FaultResult#RETRY}
     * without dropping the lock; the write then reports that it would block.
     *
     * @return {@code true} for a no-wait fault
     */
    boolean isNoWait();

    /**
     * Whether {@link #dropLock()} may be called: true on a blocking fault's first attempt, until the
     * lock has been dropped ({@code FAULT_FLAG_ALLOW_RETRY} without {@code FAULT_FLAG_TRIED}).
     *
     * @return {@code true} if the lock may be dropped now
     */
    boolean mayDropLock();

    /**
     * Drops the region lock so the handler can block without stalling exclusive operations and other
     * faults. After this the handler may do slow work, should record what it prepared with
     * {@link #cacheReservation}, and returns {@link FaultResult#RETRY}. mkwrite re-takes the lock and
     * retries the fault; the retry completes without calling the handler if the page is still claimed by
     * this fault at the same generation and a reservation was cached.
     *
     * <p>While the lock is dropped the region may be grown, truncated or closed; the retry detects it.
     *
     * @throws IllegalStateException if {@link #mayDropLock()} is false: on a retry, in a no-wait
     *                               fault, a second time, or from a thread other than the handler's
     */
    void dropLock();

    /**
     * Records a reservation made while the lock was dropped, against this page and its
     * {@linkplain #generation() generation}. From here on mkwrite owns it: the retry adopts it if the page
     * is still this fault's at the same generation, and otherwise releases it exactly once.
     *
     * @param reservation what the handler prepared; not null
     * @throws IllegalStateException if the lock is held (return the reservation instead) or a
     *                               reservation is already cached
     * @throws NullPointerException  if {@code reservation} is null
     */
    void cacheReservation(Reservation reservation);

    /**
     * The reservation this fault cached with {@link #cacheReservation}, or {@code null}. On a retry the
     * handler is called only when no usable reservation was cached, so there this is always null; it
     * is meaningful to a handler (or a composition of handlers) during the first attempt.
     *
     * @return the cached reservation, or {@code null}
     */
    Reservation cachedReservation();

    /**
     * Fault-around: how many pages right after this one mkwrite offers to make ready in this same fault,
     * at most 16 past the page (more when the write that faulted covers more). Each offered page was
     * CLEAN when asked, lies wholly inside the region, and has this page's {@linkplain #generation()
     * generation}, so a handler whose preparation already covers it (a granule it allocated, a budget it
     * reserved in bulk) can say so with {@link #prepareAround}. A hint: pages may be taken meanwhile by
     * other faults, and {@code prepareAround} then takes fewer.
     *
     * <p>Zero when nothing is offered: after {@link #dropLock()}, outside the handler call, and for a
     * fault wrapped by a {@link ForwardingWriteFault} that does not forward it.
     *
     * @return pages offered after {@link #page()}, zero or more
     */
    default int aroundPages() {
        return 0;
    }

    /**
     * Fault-around: declares that this fault's preparation also covers pages {@code page() + 1} to
     * {@code page() + pages}, which must have been {@linkplain #aroundPages() offered}. mkwrite takes them
     * in order, stopping at the first that another fault took meanwhile, and asks {@code reservationFor}
     * for each page it took, once, with the lock held: each page has its own reservation, consumed or
     * released exactly once like any other ({@link Reservation#none()} may serve for many).
     *
     * <p>The pages are <i>prepared</i>, not dirty: if the handler returns a {@link Reservation} with the
     * lock held, each becomes ready, and the first write into it completes without calling the handler;
     * a page that no writer enters is never written back nor reported dirty, and its reservation is
     * released when the page is truncated or punched, its extent changes, or the region closes. Pages the
     * write that faulted covers become writable with the faulting page. If the handler drops the lock,
     * returns {@link FaultResult#RETRY} or throws, every page taken goes back, its reservation released.
     *
     * <p>Call at most once per handler call, with the lock held. {@code reservationFor} must be quick and
     * must not call into the region. It runs once the pages are taken, so no other fault of them runs
     * meanwhile: a handler may check there that a page is still ready (its storage may have gone since it
     * looked) and return null if not; the run then ends before that page, which goes back with the pages
     * after it.
     *
     * @param pages          how many of the offered pages the preparation covers, from zero to
     *                       {@link #aroundPages()}
     * @param reservationFor the reservation of each page taken, by page index
     * @return how many pages were taken, from zero to {@code pages} (fewer where {@code reservationFor}
     *         returned null)
     * @throws IllegalArgumentException if {@code pages} is negative or more than were offered
     * @throws IllegalStateException    outside the handler call, after {@link #dropLock()}, on another
     *                                  thread, or when called twice
     * @throws NullPointerException     if {@code reservationFor} is null; then nothing is taken
     */
    default int prepareAround(int pages, LongFunction<Reservation> reservationFor) {
        if (pages == 0) {
            return 0;
        }
        throw new IllegalArgumentException("prepareAround(" + pages + "): this fault offers no pages around it");
    }
}
