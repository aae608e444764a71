package dev.mkwrite.impl;

import dev.mkwrite.Reservation;
import dev.mkwrite.WriteFaultHandler;
import org.agrona.collections.LongArrayList;

import java.io.IOException;

import static dev.mkwrite.impl.PageState.CLEAN;
import static dev.mkwrite.impl.PageState.FROZEN;
import static dev.mkwrite.impl.PageState.PREPARED;
import static dev.mkwrite.impl.PageState.WRITABLE;
import static dev.mkwrite.impl.PageState.REDIRTIED;
import static dev.mkwrite.impl.PageState.WRITEBACK;
import static dev.mkwrite.impl.PageState.withState;
import static dev.mkwrite.impl.PageState.generation;
import static dev.mkwrite.impl.PageState.pins;
import static dev.mkwrite.impl.PageState.state;

/**
 * Writeback (rule K8): flush forces exactly the dirty pages and makes them CLEAN, so the next write
 * faults again. Stable pages: a page under writeback admits no writer, so the handler's
 * {@link WriteFaultHandler#beforeWriteback} sees the contents that reach the disk.
 *
 * <p>A flush takes WRITABLE pages to WRITEBACK under the region lock held shared, then, with no lock,
 * forces the pages in contiguous runs and makes them CLEAN, consuming their reservations. With stable
 * pages new writers wait in a fault, and the flush first waits for the pinned writers to leave; without
 * them a page a writer still pins, or enters meanwhile, is forced as it is and stays dirty (REDIRTIED,
 * then WRITABLE) for the next flush. It writes back in batches of drained pages,
 * so it never waits on one page while holding another drained page that a writer may wait for. Pages
 * another flush is writing back are waited for, not written twice.
 *
 * <p>When the handler says an overwrite needs no preparing ({@link WriteFaultHandler#preparesOverwrites}),
 * a flush leaves its pages PREPARED instead of CLEAN, at their generation and with an empty reservation:
 * the next write enters such a page by one CAS (see {@code FaultPath.enter}), which makes it dirty and
 * counts it, so the next flush writes it back as before; only the fault and the handler call are saved.
 * An exclusive operation's writeback (close, grow) still ends its pages CLEAN, and so does every writeback
 * of a page whose reservation says its storage was prepared only in part ({@link PreparedInPart}).
 */
final class Writeback {

    private final RegionState region;
    private final PageTable table;
    private final Pins pins;
    private final Ledger ledger;
    private final WriteFaultHandler handler;
    /**
     * Whether a written-back page stays PREPARED, its storage kept, rather than going CLEAN: the handler
     * said an overwrite needs no preparing ({@link WriteFaultHandler#preparesOverwrites}).
     */
    private final boolean keepPrepared;

    Writeback(RegionState region, Pins pins, Ledger ledger, WriteFaultHandler handler) {
        this.region = region;
        this.table = region.table;
        this.pins = pins;
        this.ledger = ledger;
        this.handler = handler;
        this.keepPrepared = region.keepsPrepared; // the handler's answer, asked once at open
    }

    /**
     * The dirty limit's writeback, on the thread of a write that faulted past it: a flush of the region,
     * unless it would wait for this thread (stable pages, and a span it holds): then none, and the write goes
     * on over the limit, as it does when this writeback fails.
     */
    void flushForDirtyLimit() throws IOException {
        if (region.stablePages && pins.heldByThisThread(0, Long.MAX_VALUE)) {
            return;
        }
        if (region.forceFailedBefore()) {
            return; // every flush fails from now on: the writes go on over the limit, each without a warning
        }
        flush(0, Long.MAX_VALUE);
    }

    /** Writes back the dirty pages of {@code [offset, offset + length)}; returns how many this call wrote. */
    long flush(long offset, long length) throws IOException {
        region.checkRange("flush", offset, length);
        HandlerScope.checkNotInHandler(region, "flush");
        IOException earlier = region.earlierForceFailure("flush(offset " + offset + ", length " + length + ")", offset);
        if (earlier != null) {
            if (region.closed) {
                throw region.closedException(offset, offset >>> region.pageShift);
            }
            throw earlier;
        }
        if (region.stablePages && length > 0) { // the flush waits for the pinned writers of its pages
            pins.checkNotHeldByThisThread("flush", offset >>> region.pageShift,
                    (offset + length - 1) >>> region.pageShift);
        }
        AsymmetricFence.registerDrainer(); // before the first take: if it fails, no page is under writeback
        LongArrayList mine = new LongArrayList();
        LongArrayList others = new LongArrayList();
        Mapping m;
        region.lock.readLock().lock();
        try {
            if (region.closed) {
                throw region.closedException(offset, offset >>> region.pageShift);
            }
            long size = region.size;
            if (length == 0 || region.pageCount == 0 || offset >= size) {
                return 0;
            }
            long end = length > size - offset ? size : offset + length;
            long first = offset >>> region.pageShift;
            long last = (end - 1) >>> region.pageShift;
            try {
                table.forEachPage(first, last + 1, (c, i, page) -> {
                    int taken = take(c, i);
                    if (taken == WRITABLE) {
                        keep(mine, page);
                    } else if (PageState.underWriteback(taken)) {
                        others.addLong(page); // another flush writes it back; wait for it below
                    }
                });
            } catch (RuntimeException | Error e) { // out of memory growing the list: what was taken goes back
                giveBackAll(mine);
                throw e;
            }
            m = region.mapping;
            m.use(); // a grow may retire the mapping once the lock is released: it stays mapped until release
        } finally {
            region.lock.readLock().unlock();
        }
        long done = writeBackUsing(m, mine);
        // Pages another flush was writing back: wait for it to end. If it left one dirty (written again
        // during that writeback, or its force failed), writes that completed before this flush began may
        // be in it only: write it back here, taking it under the lock as above.
        for (LongArrayList pending = others; !pending.isEmpty(); ) {
            for (int k = 0; k < pending.size(); k++) {
                long page = pending.getLong(k);
                Chunk c = table.chunkAcquire(page);
                if (c != null) {
                    int i = Chunk.index(page);
                    // volatile: the waiter's half of the Waiters Dekker pair (see Waiters), as in every wait condition
                    region.awaitUninterruptibly(() -> !PageState.underWriteback(state(c.stateVolatile(i))),
                            () -> "page " + page + " of " + region.path + " to end another flush's writeback");
                }
            }
            LongArrayList again = new LongArrayList();
            LongArrayList still = new LongArrayList();
            region.lock.readLock().lock();
            try {
                if (region.closed) {
                    if (region.closeWritebackFailed) { // a page this flush waited for may never have been forced
                        long page = pending.getLong(0);
                        throw new IOException("flush(offset " + offset + ", length " + length + ") of " + region.path
                                + ": the region was closed while this flush waited for another flush's writeback of"
                                + " page " + page + " (offset " + (page << region.pageShift) + "), and the close's"
                                + " own writeback failed: writes completed before this flush may not be durable",
                                region.closedException(page << region.pageShift, page));
                    }
                    return done; // close wrote back every dirty page
                }
                try {
                    for (int k = 0; k < pending.size(); k++) {
                        long page = pending.getLong(k);
                        Chunk c = page < region.pageCount ? table.chunkAcquire(page) : null;
                        int taken = c == null ? PageState.CLEAN : take(c, Chunk.index(page));
                        if (taken == WRITABLE) {
                            keep(again, page);
                        } else if (PageState.underWriteback(taken)) {
                            still.addLong(page); // a third flush took it: wait again
                        }
                    }
                } catch (RuntimeException | Error e) { // as the first scan's
                    giveBackAll(again);
                    throw e;
                }
                m = region.mapping;
                m.use();
            } finally {
                region.lock.readLock().unlock();
            }
            done += writeBackUsing(m, again);
            pending = still;
        }
        return done;
    }

    /** Writes back {@code pages}, taken to WRITEBACK under the lock, through mapping {@code m}, which it then releases. */
    private long writeBackUsing(Mapping m, LongArrayList pages) throws IOException {
        try {
            return writeBack(m, pages);
        } finally {
            m.release();
            region.waiters.signal(); // an exclusive operation may wait for the mapping's users
        }
    }

    /**
     * Moves a WRITABLE page to WRITEBACK (new writers now wait) and returns WRITABLE; otherwise changes
     * nothing and returns the state it found.
     */
    private int take(Chunk c, int i) {
        int found = c.move(i, WRITABLE, WRITEBACK); // volatile CAS: the first half of the drain's Dekker pair
        if (found == WRITABLE) {
            region.counters.writable.decrement();
            region.counters.writeback.increment();
        }
        return found;
    }

    /**
     * Adds {@code page}, just taken to WRITEBACK, to {@code mine}; if that fails (out of memory growing the
     * list), gives it back before it throws, so no page is left under a writeback nobody runs, which every
     * later flush, writer (with stable pages) and close would wait for.
     */
    private void keep(LongArrayList mine, long page) {
        try {
            Runnable seam = afterTakeForTests;
            if (seam != null) {
                seam.run();
            }
            mine.addLong(page);
        } catch (RuntimeException | Error e) {
            giveBack(page);
            throw e;
        }
    }

    private void giveBackAll(LongArrayList pages) {
        for (int k = 0; k < pages.size(); k++) {
            giveBack(pages.getLong(k));
        }
        region.waiters.signal();
    }

    /** A test's code to run after each page a flush takes, before it records it ({@link #keep}); or null. */
    Runnable afterTakeForTests;

    /** A page this thread took to WRITEBACK goes back to WRITABLE, dirty, with its reservation. */
    private void giveBack(long page) {
        Chunk c = table.chunkAcquire(page);
        int i = Chunk.index(page);
        if (c.move(i, WRITEBACK, WRITABLE) == WRITEBACK || c.move(i, REDIRTIED, WRITABLE) == REDIRTIED) {
            region.counters.writeback.decrement();
            region.counters.writable.increment();
        }
    }

    /** A page this thread took to WRITEBACK stays dirty after it: WRITEBACK to REDIRTIED (a writer may have done it first). */
    private void markRedirtied(long page) {
        table.chunkAcquire(page).move(Chunk.index(page), WRITEBACK, REDIRTIED); // volatile CAS
    }

    /**
     * Test hook for the jcstress suite: flush's first step on one WRITABLE page, taking it to WRITEBACK
     * and reading once whether its writers have left. Returns 1 if drained, 0 if pinned, -1 if the page
     * was not WRITABLE. {@link #probeEnd} puts it back.
     */
    int probe(long page) {
        AsymmetricFence.registerDrainer(); // as flush: before the take
        Chunk c = table.chunkAcquire(page);
        if (c == null || take(c, Chunk.index(page)) != WRITABLE) {
            return -1;
        }
        pins.fenceWriters();
        return pins.drained(page) ? 1 : 0;
    }

    /** Ends {@link #probe}: the page goes back to WRITABLE. */
    void probeEnd(long page) {
        giveBack(page);
        region.waiters.signal();
    }

    /** Writes back the pages this thread took to WRITEBACK, in batches of those whose writers have left. */
    private long writeBack(Mapping m, LongArrayList pages) throws IOException {
        long done = 0;
        try {
            LongArrayList ready = new LongArrayList(); // inside: out of memory here gives the pages back too
            LongArrayList pinned = new LongArrayList();
            if (!pages.isEmpty()) {
                // Every page was taken before: the drainer's StoreLoad before the slot reads. Inside the try:
                // if the barrier fails, the pages go back.
                pins.fenceWriters();
            }
            while (!pages.isEmpty()) {
                ready.clear();
                pinned.clear();
                for (int k = 0; k < pages.size(); k++) {
                    long page = pages.getLong(k);
                    if (BrokenRule.mayForce(pins.drained(page))) {
                        ready.addLong(page);
                    } else if (!region.stablePages) {
                        // A writer pinned it before we took it, and may still store into it: write back
                        // what is there now, and leave the page dirty for the next flush.
                        markRedirtied(page);
                        ready.addLong(page);
                    } else {
                        pinned.addLong(page);
                    }
                }
                if (ready.isEmpty()) {
                    long page = pinned.getLong(0);
                    region.awaitHazard(() -> pins.drainedOrOwnersEnded(page),
                            () -> "writers to leave page " + page + " of " + region.path + " for writeback");
                    continue;
                }
                java.util.List<Reservation> ended = forceAndClean(m, ready, WRITEBACK);
                done += ready.size();
                pages.clear();
                pages.addAll(pinned);
                consumeAll(ended); // the application's code: what it throws gives back only the pages left
            }
        } catch (IOException | RuntimeException | Error e) {
            // The pages stay dirty: back to WRITABLE with their reservations; a later flush retries, unless
            // the force itself failed: then every later flush throws (RegionState.forceFailure).
            giveBackAll(pages);
            throw e;
        }
        return done;
    }

    /**
     * For pages in {@code from} state (WRITEBACK, or FROZEN under the exclusive lock) with no pins: lets
     * the handler see their stable contents, forces them in contiguous runs and makes them CLEAN. Throws
     * with every page still in {@code from} if forcing failed. Returns the reservations of the pages whose
     * writeback ended, for the caller to {@linkplain #consumeAll consume} once it no longer counts the pages
     * as its own: a {@code consume()} that throws must not leave the caller giving back pages that ended,
     * which another flush may have taken since.
     */
    private java.util.List<Reservation> forceAndClean(Mapping m, LongArrayList pages, int from) throws IOException {
        long regionSize = region.size;
        int shift = region.pageShift;
        HandlerScope.Writeback call = new HandlerScope.Writeback(region);
        int outer = HandlerScope.enter(call);
        try { // the handler must not use the region meanwhile: that is refused, where it would deadlock
            for (int k = 0; k < pages.size(); k++) {
                long page = pages.getLong(k);
                call.page = page;
                handler.beforeWriteback(page, m.segment(page << shift, region.pageLength(page, regionSize)).asReadOnly());
            }
        } finally {
            HandlerScope.exit(outer);
        }
        int k = 0;
        while (k < pages.size()) {
            long first = pages.getLong(k);
            long last = first;
            while (k + 1 < pages.size() && pages.getLong(k + 1) == last + 1) {
                last = pages.getLong(++k);
            }
            k++;
            long start = first << shift;
            long end = Math.min(regionSize, (last + 1) << shift);
            force(m, start, end, from == WRITEBACK);
        }
        if (from == WRITEBACK) {
            // A force that ran beside ours may have taken the file's error for our pages (the kernel reports a
            // failed writeback once, to whichever force asks first): wait for every force still running to
            // have recorded what it got, then look. None running: those that ran have recorded theirs, and
            // one that starts now began after our forces returned, too late to take their error.
            if (region.forces.getReadLockCount() != 0) {
                region.forces.writeLock().lock();
                region.forces.writeLock().unlock();
            }
            throwIfForceFailed(pages.getLong(0) << shift);
        }
        java.util.List<Reservation> ended = new java.util.ArrayList<>(pages.size());
        for (k = 0; k < pages.size(); k++) {
            long page = pages.getLong(k);
            Chunk c = table.chunkAcquire(page);
            int i = Chunk.index(page);
            Reservation r = c.reservationPlain(i);
            if (endWriteback(c, i, page, from)) {
                region.counters.pagesWrittenBack.increment();
                if (r != null) {
                    ended.add(r);
                }
            }
        }
        region.waiters.signal();
        return ended;
    }

    /**
     * Forces {@code [start, end)} of {@code m}, recording a failure as the region's first if it is
     * ({@link RegionState#forceFailed}), both under the region's force lock held shared; a flush's
     * ({@code flush}) first throws if a force failed before. The lock lets a flush wait for the forces that
     * ran beside its own to have recorded their failures.
     */
    private void force(Mapping m, long start, long end, boolean flush) throws IOException {
        region.forces.readLock().lock();
        try {
            if (flush) {
                throwIfForceFailed(start);
            }
            try {
                IOException failure = region.nextForceFailureForTests;
                if (failure != null) {
                    region.nextForceFailureForTests = null;
                    throw failure;
                }
                m.force(start, end - start);
            } catch (IOException e) {
                IOException named = region.named("writing back [" + start + ", " + end + ")", start, e);
                region.forceFailed(named); // sticky: see RegionState.forceFailure
                throw named;
            }
        } finally {
            region.forces.readLock().unlock();
        }
    }

    private void throwIfForceFailed(long offset) throws IOException {
        IOException earlier = region.earlierForceFailure("flush", offset);
        if (earlier != null) {
            throw earlier;
        }
    }

    /**
     * Consumes the reservations of pages whose writeback ended, every one of them: a RuntimeException a
     * reservation throws is logged ({@link Ledger#consume}); an Error is thrown once all are consumed.
     */
    private void consumeAll(java.util.List<Reservation> ended) {
        Ledger.Kept kept = new Ledger.Kept();
        for (Reservation r : ended) {
            ledger.consume(r, kept);
        }
        kept.throwIfAny(null);
    }

    /**
     * Ends the writeback of page {@code i} of {@code c}, forced and in state {@code from}: it becomes
     * CLEAN, and its reservation slot empty (or, kept prepared, PREPARED with an empty reservation),
     * unless a writer wrote into it during the writeback (REDIRTIED, regions without stable pages), when it
     * goes back to WRITABLE, dirty, with its reservation. Returns whether its writeback ended, so that the
     * caller consumes the reservation it had.
     */
    private boolean endWriteback(Chunk c, int i, long page, int from) {
        long w = c.stateAcquire(i); // ours (WRITEBACK, REDIRTIED or FROZEN): only a redirtying writer moves it too
        for (;;) {
            int s = state(w);
            if (s == REDIRTIED && BrokenRule.keepsRedirtied(keepPrepared)) {
                long witness = c.casState(i, w, withState(w, WRITABLE)); // volatile; the writers' pins stay
                if (witness == w) {
                    region.counters.writeback.decrement();
                    region.counters.writable.increment();
                    return false;
                }
                w = witness;
                continue;
            }
            boolean redirtied = s == REDIRTIED; // only under a broken variant
            if ((s != from && !redirtied) || !BrokenRule.mayForce(pins(w) == 0 || redirtied)) {
                throw new IllegalStateException("page " + page + " left " + PageState.name(from) + " during writeback: "
                        + PageState.describe(w) + " [file " + region.path + "]");
            }
            Reservation r = c.reservationPlain(i);
            // A flush (not an exclusive operation, whose FROZEN pages end CLEAN) may keep the page PREPARED:
            // its storage stays, and the next write enters it by CAS, dirty and counted, without a fault.
            // A page prepared in part (its folio unit cut by the end of the file) faults again instead.
            boolean keep = keepPrepared && from == WRITEBACK && !(r instanceof PreparedInPart)
                    && (!redirtied || BrokenRule.keepsPreparedRegardless());
            c.setReservationPlain(i, keep ? Reservation.none() : null); // plain store, published by the CAS below
            int endState = keep ? PREPARED : CLEAN;
            long end = redirtied ? withState(w, endState) : PageState.word(endState, generation(w));
            if (keep) {
                ledger.accepted(Reservation.none()); // a PREPARED page holds a reservation, as a WRITABLE one
                Counters.move(region.counters.writeback, region.counters.prepared, 1);
            }
            long witness = c.casState(i, w, end); // volatile: publishes the end state; a redirtying writer may win
            if (witness == w) {
                if (!keep) { // a kept page was counted PREPARED before the CAS
                    if (from == FROZEN) {
                        region.counters.writable.decrement();
                    } else {
                        region.counters.writeback.decrement();
                    }
                }
                return true;
            }
            if (keep) {
                Counters.move(region.counters.prepared, region.counters.writeback, 1);
                ledger.release(Reservation.none());
            }
            c.setReservationPlain(i, r); // not ours to clear after all: written again meanwhile
            w = witness;
        }
    }

    /** Writes back the FROZEN pages of {@code [first, end)}. Lock held exclusive, after quiesce. */
    void writeBackFrozen(Mapping m, long first, long end) throws IOException {
        LongArrayList pages = new LongArrayList();
        table.forEachPage(first, end, (c, i, page) -> {
            if (state(c.stateAcquire(i)) == FROZEN) { // the lock and the quiesce order it
                pages.addLong(page);
            }
        });
        if (!pages.isEmpty()) {
            consumeAll(forceAndClean(m, pages, FROZEN));
        }
    }

    /**
     * After a failed final writeback: FROZEN pages end with their reservations released; then an Error a
     * reservation threw is thrown. Lock held exclusive.
     */
    void dropFrozen() {
        Ledger.Kept kept = new Ledger.Kept();
        table.forEachPage(0, Long.MAX_VALUE, (c, i, page) -> {
            long w = c.stateAcquire(i); // the lock and the quiesce order it
            // A page still pinned through its state word (a quiesce whose drain failed) keeps its word, and
            // its reservation: the writer's unpin must find its count there.
            if (state(w) == FROZEN && PageState.pins(w) == 0) {
                ledger.dropFrozen(c, i, generation(w), kept);
            }
        });
        kept.throwIfAny(null);
    }
}
