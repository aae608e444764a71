package dev.mkwrite.impl;

import dev.mkwrite.impl.os.LazyLogger;

import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Prepare-ahead: readahead, applied to writes, all the way to WRITABLE. When a region's writers fault
 * pages in order, a background thread prepares the next pages before they reach them: it faults them in
 * through the handler (so storage is reserved as for any fault) and populates their page tables
 * ({@code MADV_POPULATE_WRITE}), so a sequential writer meets neither an mkwrite fault nor a kernel one.
 *
 * <p>The window follows the writers as the kernel's readahead does: a fault of the page after the last
 * faulted one (or after the planned window) plans the {@code pages} pages past the fault. A writer that
 * then faults inside the planned window (it caught up with the thread, which works from the window's far
 * end back) plans the next window at once, as reaching readahead's marker page starts the next
 * asynchronous read: the thread then has a window to work on while the writer runs through the pages it
 * prepared, instead of waiting for the writer's next fault, and it stays at most two windows ahead of
 * the writer's last fault. Any other fault (a random write) plans nothing. The background thread faults
 * with no-wait semantics, so it never waits for a writer, a flush or an exclusive operation: a page it
 * cannot prepare at once is left for its writer to fault, as without prepare-ahead. It holds no pin
 * while it waits for anything, and stops at the region's end and when the region closes.
 *
 * <p>One daemon thread, {@code mkwrite-prepare-ahead}, serves every region of the JVM and ends after 5
 * idle seconds. A region has at most {@value #MAX_QUEUED} batches queued; past that, planning is
 * dropped and writers fault for themselves.
 */
final class Ahead {

    private static final LazyLogger LOG = new LazyLogger(Ahead.class);
    private static final int MAX_QUEUED = 4;
    /** Pages prepared per step: one fault pass and one madvise over them. */
    private static final int STEP_PAGES = 16;
    private static final ThreadPoolExecutor EXECUTOR = executor();

    /** What the region does for the background thread. */
    interface Preparer {
        /**
         * Prepares {@code [first, last]} without waiting; returns false if the region closed or ended
         * before {@code first}, so planning stops.
         */
        boolean prepareAhead(long first, long last);

        /** The region's pages now. */
        long pageCount();
    }

    private final Preparer region;
    private final long pages;
    private final AtomicInteger queued = new AtomicInteger();
    /**
     * The last page a writer faulted, and the end of the planned window; racy hints. Before any fault the
     * window ends below page -1, so that a first fault, even of page 0, is not taken for one just after it.
     */
    private volatile long lastFault = -2;
    private volatile long plannedTo = -2;

    Ahead(Preparer region, long pages) {
        this.region = region;
        this.pages = pages;
    }

    private static ThreadPoolExecutor executor() {
        ThreadPoolExecutor executor = new ThreadPoolExecutor(1, 1, 5, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                r -> {
                    Thread t = new Thread(r, "mkwrite-prepare-ahead");
                    t.setDaemon(true);
                    return t;
                });
        executor.allowCoreThreadTimeOut(true);
        return executor;
    }

    /** A writer faulted {@code [first, last]}: extends the window if the writers go in order. */
    void faulted(long first, long last) {
        long previous = lastFault;
        long window = plannedTo;
        lastFault = last;
        // In order: the page after the last fault, or a page of the planned window up to the one after
        // it (the thread prepared the whole window and the writer ran through it without a fault).
        boolean sequential = first == previous + 1 || (first > previous && first <= window + 1);
        if (!sequential) {
            return;
        }
        long from;
        if (window < last) {
            from = last + 1; // nothing planned ahead of this fault: the window starts after it
        } else if (window - last < pages) {
            from = window + 1; // the writer is inside the window: plan the next, readahead's marker
        } else {
            return; // two windows planned ahead already
        }
        long to = from + pages - 1;
        if (queued.get() >= MAX_QUEUED) {
            return;
        }
        plannedTo = to;
        queued.incrementAndGet();
        EXECUTOR.execute(() -> run(from, to));
    }

    /**
     * Prepares {@code [from, to]} a step at a time, from its far end back: a writer faster than this thread
     * faults the near pages itself meanwhile, so the two work on different pages, and in parallel, until
     * they meet; going forward, both would fault the same pages, one behind the other.
     */
    private void run(long from, long to) {
        try {
            for (long last = Math.min(to, region.pageCount() - 1); last >= from; last -= STEP_PAGES) {
                if (!region.prepareAhead(Math.max(from, last - STEP_PAGES + 1), last)) {
                    break;
                }
            }
        } catch (RuntimeException | Error e) {
            LOG.get().debug("prepare-ahead of pages {}..{} stopped: {}", from, to, e.toString());
        } finally {
            queued.decrementAndGet();
        }
    }
}
