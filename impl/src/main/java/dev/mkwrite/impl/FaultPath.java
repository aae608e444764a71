package dev.mkwrite.impl;

import dev.mkwrite.FaultInterruptedException;
import dev.mkwrite.FaultResult;
import dev.mkwrite.HandlerFailedException;
import dev.mkwrite.NoSpaceException;
import dev.mkwrite.Reservation;
import dev.mkwrite.WriteFaultException;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.WouldBlock;
import dev.mkwrite.impl.os.Errno;
import dev.mkwrite.impl.os.LazyLogger;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.channels.ClosedByInterruptException;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.mkwrite.impl.PageState.CLEAN;
import static dev.mkwrite.impl.PageState.PREPARING;
import static dev.mkwrite.impl.PageState.WRITABLE;
import static dev.mkwrite.impl.PageState.WRITEBACK;
import static dev.mkwrite.impl.PageState.generation;
import static dev.mkwrite.impl.PageState.state;
import static dev.mkwrite.impl.PageState.withState;

/**
 * The write fault (rules K1, K3-K7, K9, K10): makes one page WRITABLE before it is first written.
 *
 * <p>Under the region lock held shared, a fault claims a CLEAN page (CAS to PREPARING at the page's
 * generation), asks the {@link WriteFaultHandler} to prepare it, and publishes it WRITABLE with the
 * reservation (CAS). The handler may drop the lock once while it waits ({@link Fault#dropLock}); the
 * fault then retries: it takes the lock again and reads the page-state table to see what became of its
 * claim. The claim still PREPARING at the same generation is still its own, and a reservation cached
 * while the lock was dropped is adopted; a claim that a truncate or punch took (a new generation) is
 * gone, and the cached reservation is released. A retry may not drop the lock again. A fault that fails
 * leaves nothing behind: its claim goes back to CLEAN and what it cached is released.
 */
final class FaultPath {

    private static final LazyLogger LOG = new LazyLogger(FaultPath.class);

    private final RegionState region;
    private final Ledger ledger;
    private final Writeback writeback;
    private final WriteFaultHandler handler;
    private final long dirtyLimit;
    private final AtomicInteger inFlight = new AtomicInteger();
    /** For tests: run by a write over several pages after each page's fault, its claims held (null: none). */
    private volatile Runnable betweenFaultsForTests;

    FaultPath(RegionState region, Ledger ledger, Writeback writeback, WriteFaultHandler handler, long dirtyLimit) {
        this.region = region;
        this.ledger = ledger;
        this.writeback = writeback;
        this.handler = handler;
        this.dirtyLimit = dirtyLimit;
    }

    /** See {@link #betweenFaultsForTests}. */
    void betweenFaultsForTests(Runnable seam) {
        betweenFaultsForTests = seam;
    }

    /** Faults in flight, including those that dropped the lock, and writes over several pages holding claims; close waits for none. */
    int inFlight() {
        return inFlight.get();
    }

    /**
     * Makes every page of {@code [first, last]} WRITABLE for a write of {@code [offset, offset + length)}
     * (K7 for writes over several pages). Returns true when they are, false if a no-wait fault would have
     * had to wait. Throws a {@link WriteFaultException} if a page cannot be prepared.
     *
     * <p>A write over one page publishes it as soon as it is prepared. A write over several holds the
     * pages it prepares as claims, PREPARING (no writer enters them), and publishes them together once
     * the last one is prepared; if a later page fails, or a no-wait write would block, every claim goes
     * back to CLEAN and its reservation is released, so the failed write leaves nothing behind. Claims
     * are taken in page order, so two writes never wait on each other's claims in a cycle.
     */
    boolean faultIn(long first, long last, long offset, long length, boolean noWait, WouldBlock why) {
        if (first == last) {
            return isWritable(first, true) || fault(first, offset, length, noWait, null, why);
        }
        Claims claims = new Claims(region, ledger, last - first + 1);
        boolean ok = false;
        // In flight from the first claim to the last given back: close waits for it, so the handler hears
        // regionClosed only after every reservation of the claims is released. Counted by each page's fault
        // alone, close could end between two of them and the claims go back after regionClosed.
        inFlight.incrementAndGet();
        try {
            for (long page = first; page <= last; page++) {
                if (page <= claims.through) {
                    page = claims.through; // fault-around's run: those pages are among the claims already
                    continue;
                }
                // A PREPARED page is claimed, not entered: if a later page fails, it goes back (K7).
                if (!isWritable(page, false)
                        && !fault(page, offset, length, noWait, claims, why)) {
                    return false;
                }
                Runnable seam = betweenFaultsForTests;
                if (seam != null) {
                    seam.run();
                }
            }
            ok = claims.publish(offset, noWait) || refused(why, WouldBlock.Reason.REGION_LOCK);
            return ok;
        } finally {
            try {
                if (!ok) {
                    claims.abandon();
                }
            } finally {
                leave();
            }
        }
    }

    /** The end of a fault in flight: close waits for the last. */
    private void leave() {
        if (inFlight.decrementAndGet() == 0 && region.closed) {
            region.waiters.signal();
        }
    }

    /**
     * Whether a writer may pin {@code page} now, without a fault: it is WRITABLE or REDIRTIED; or, in a
     * region without stable pages, it is under writeback and this call marked it REDIRTIED (a CAS: the
     * flush then leaves it dirty); or, with {@code enter}, it was PREPARED and this call made it WRITABLE.
     * Acquire reads: a hint, the pin decides.
     */
    private boolean isWritable(long page, boolean enter) {
        Chunk c = region.table.chunkAcquire(page);
        if (c == null) {
            return false;
        }
        int i = Chunk.index(page);
        long w = c.stateAcquire(i);
        return PageState.pinnable(state(w)) || (!region.stablePages && redirty(c, i, w))
                || (enter && state(w) == PageState.PREPARED && enter(c, i, w));
    }

    /**
     * Fault-around's minor fault: a write enters a PREPARED page, which becomes WRITABLE, dirty, with the
     * reservation its slot holds, by one CAS and without the region lock, as a WRITABLE page gains pins
     * without it. An exclusive operation takes PREPARED pages away by CAS in its quiesce, before it drains
     * the pins, so the CAS decides: either the page is WRITABLE and quiesce freezes it and waits for the
     * writer's pin, or it is gone and the writer faults. Not with a dirty limit (the fault throttles), nor
     * from inside a handler of this region (the fault refuses). Returns whether the page is now pinnable.
     */
    private boolean enter(Chunk c, int i, long w) {
        if (dirtyLimit > 0 || HandlerScope.inHandlerOf(region)) {
            return false;
        }
        while (state(w) == PageState.PREPARED) {
            Counters.move(region.counters.prepared, region.counters.writable, 1); // before other writers may write it
            // volatile: the release of the arming CAS published the slot; the page keeps it as WRITABLE
            long witness = c.casState(i, w, withState(w, WRITABLE));
            if (witness == w) {
                return true;
            }
            Counters.move(region.counters.writable, region.counters.prepared, 1);
            w = witness;
        }
        return PageState.pinnable(state(w));
    }

    /**
     * K8 without stable pages: a write into a page under writeback goes ahead, and marks it REDIRTIED so
     * the flush that writes it back leaves it dirty. No lock: an exclusive operation waits for the
     * writeback to end before it freezes the page. Returns whether the page is now pinnable.
     */
    private static boolean redirty(Chunk c, int i, long w) {
        while (state(w) == WRITEBACK) {
            long witness = c.casState(i, w, withState(w, PageState.REDIRTIED)); // volatile: the flush's end CAS sees it
            if (witness == w) {
                return true;
            }
            w = witness;
        }
        return PageState.pinnable(state(w));
    }

    /**
     * Makes {@code page} WRITABLE, or, with {@code claims}, prepares it and adds it to them. Returns
     * true when done, false if a no-wait fault would have had to wait. Throws a
     * {@link WriteFaultException} if the page cannot be prepared; then this fault has left no state behind.
     */
    private boolean fault(long page, long offset, long length, boolean noWait, Claims claims, WouldBlock why) {
        if (HandlerScope.inHandlerOf(region)) {
            throw new IllegalStateException("a write from inside this region's WriteFaultHandler (or a Reservation's"
                    + " consume() or release()) faulted on page " + page + "; handlers must not write into their own"
                    + " region [file " + region.path + ", offset " + offset + ", page " + page + "]");
        }
        if (dirtyLimit > 0 && region.counters.writable.sum() * region.pageSize >= dirtyLimit) {
            if (noWait) {
                return refused(why, WouldBlock.Reason.DIRTY_LIMIT);
            }
            throttle();
        }
        Object event = Recording.on() ? FaultEvents.faultBegin() : null;
        region.counters.faults.increment();
        Attempts attempts = new Attempts(page, offset, length, noWait, claims, why);
        String outcome = "error";
        inFlight.incrementAndGet(); // right before the try: nothing between them may throw and skip leave()
        try {
            boolean done = attempts.run();
            outcome = done ? "writable" : "would block";
            return done;
        } finally {
            leave();
            if (event != null) {
                FaultEvents.faultEnd(event, region.path.toString(), page, page << region.pageShift, attempts.retry,
                        attempts.handlerCalls, outcome);
            }
        }
    }

    /**
     * {@code what} without a trailing {@code [file ..., offset ..., page ...]}: a handler's failure that
     * carries one already (a WriteFaultException wrapped in another exception) would repeat it.
     */
    static String withoutSuffix(String what) {
        int at = what.lastIndexOf(" [file ");
        return at >= 0 && what.endsWith("]") ? what.substring(0, at) : what;
    }

    /** A no-wait fault gives up: records why, if the caller asked, and returns false. */
    private static boolean refused(WouldBlock why, WouldBlock.Reason reason) {
        if (why != null) {
            why.reason(reason);
        }
        return false;
    }

    /** K10: write back with no lock or pin held, then let the fault go on. */
    private void throttle() {
        try {
            writeback.flushForDirtyLimit();
        } catch (IOException e) {
            LOG.get().warn("dirty-limit writeback of {} failed; the write goes on: {}", region.path, e.toString());
        }
    }

    /** The attempts of one fault: the first, and at most one retry after the handler dropped the lock. */
    private final class Attempts {
        private final long page;
        private final long offset;
        private final long length;
        private final boolean noWait;
        /** Where a prepared page goes when the write covers several: null to publish it at once. */
        private final Claims claims;
        /** Receives why a no-wait fault gave up; may be null. */
        private final WouldBlock why;

        boolean retry;
        int handlerCalls;
        /** The chunk, index and generation of this fault's live claim; claimGen is -1 without one. */
        private Chunk claimChunk;
        private int claimIndex;
        private long claimGen = -1;
        /** A reservation cached while the lock was dropped, recorded against (page, claimGen). */
        private Reservation cached;
        /** The attempt that dropped the lock, until the retry holds it again. */
        private Fault droppedFault;

        Attempts(long page, long offset, long length, boolean noWait, Claims claims, WouldBlock why) {
            this.page = page;
            this.offset = offset;
            this.length = length;
            this.noWait = noWait;
            this.claims = claims;
            this.why = why;
        }

        boolean run() {
            boolean ok = false;
            try {
                boolean result = attempts();
                ok = true;
                return result;
            } finally {
                if (!ok) {
                    abandon(); // K7: leave nothing behind
                }
            }
        }

        private boolean attempts() {
            for (;;) {
                if (!lockShared()) {
                    return refused(why, WouldBlock.Reason.REGION_LOCK);
                }
                endLockDrop();
                boolean held = true;
                try {
                    if (region.closed) {
                        throw region.closedException(offset, page);
                    }
                    if (page >= region.pageCount) {
                        throw region.outOfRegion(offset, length);
                    }
                    Chunk c = region.table.chunkOrCreate(page, region.epoch());
                    int i = Chunk.index(page);
                    long w = c.stateAcquire(i); // under the lock; every move below is a CAS that validates it
                    if (claimGen >= 0) {
                        // K5/K6: the retry reads the page-state table to see what became of the claim.
                        boolean ours = state(w) == PREPARING && BrokenRule.sameGeneration(generation(w), claimGen);
                        if (ours && cached != null) {
                            Reservation r = cached;
                            cached = null;
                            prepared(c, i, w, r);
                            return true;
                        }
                        if (!ours) {
                            claimGen = -1; // truncated: the claim is gone, and maybe a new one exists
                            releaseCached();
                        }
                    }
                    if (claimGen < 0) {
                        switch (state(w)) {
                            case WRITABLE:
                            case PageState.REDIRTIED:
                                return true; // prepared, by another fault or before we got here
                            case WRITEBACK:
                            case PREPARING:
                                if (state(w) == WRITEBACK && !region.stablePages) {
                                    if (redirty(c, i, w)) {
                                        return true; // written during writeback: the flush leaves it dirty
                                    }
                                    continue; // it moved on: look again
                                }
                                // A claim, or a writeback with stable pages: wait, without the lock, for it to end.
                                held = false;
                                region.lock.readLock().unlock();
                                if (noWait) {
                                    return refused(why, state(w) == WRITEBACK ? WouldBlock.Reason.WRITEBACK
                                            : WouldBlock.Reason.PREPARING);
                                }
                                awaitChange(c, i, w);
                                continue;
                            case PageState.PREPARED: {
                                // Fault-around prepared it, and no writer has entered it: claim it, adopt
                                // its reservation, and publish it without calling the handler.
                                long taken = withState(w, PREPARING);
                                if (c.casState(i, w, taken) != w) { // volatile CAS; the slot is ours once it wins
                                    continue;
                                }
                                Reservation r = c.reservationPlain(i); // published by the CAS that made it PREPARED
                                c.setReservationPlain(i, null);
                                region.counters.prepared.decrement();
                                region.counters.preparing.increment();
                                claimChunk = c;
                                claimIndex = i;
                                claimGen = generation(w);
                                prepared(c, i, taken, r);
                                return true;
                            }
                            case CLEAN:
                                long claimed = withState(w, PREPARING);
                                if (!BrokenRule.claimWon(c.casState(i, w, claimed), w)) { // volatile CAS
                                    continue; // raced another claim; look again (still holding the lock)
                                }
                                region.counters.preparing.increment();
                                claimChunk = c;
                                claimIndex = i;
                                claimGen = generation(w);
                                w = claimed;
                                if (!BrokenRule.publishesAfterPrepare()) {
                                    c.casState(i, claimed, withState(claimed, WRITABLE)); // the broken variant
                                }
                                break;
                            default:
                                throw new IllegalStateException("page " + page + " is " + PageState.describe(w)
                                        + " while the region lock is held shared [file " + region.path + "]");
                        }
                    }
                    // We own the claim (PREPARING at claimGen) and hold the lock: ask the handler.
                    long writeLast = (offset + length - 1) >>> region.pageShift;
                    Around around = retry || noWait ? null : new Around(region, ledger, page, claimGen, writeLast);
                    Fault fault = new Fault(region, ledger, page, region.pageLength(page, region.size), claimGen,
                            retry, noWait, around);
                    FaultResult result = null;
                    try {
                        result = callHandler(fault);
                    } finally {
                        held = fault.lockHeld();
                        cached = fault.end();
                        if (!held) {
                            droppedFault = fault; // its lock-drop event ends when the retry relocks
                        }
                        if (around != null && !(held && result instanceof Reservation)) {
                            around.abandon(); // the run is taken only with a preparation under the lock
                        }
                    }
                    if (result instanceof Reservation r) {
                        if (!held) {
                            // Ready after dropping the lock: adopt it like a cached one, on the retry. The very one
                            // it cached is that one (a chain whose member cached and returned it): adopted once.
                            if (cached != null && cached != r) {
                                ledger.accepted(r);
                                ledger.release(r);
                                throw protocolError("returned a reservation after caching another one");
                            }
                            if (cached == null) {
                                ledger.accepted(r);
                                cached = r;
                            }
                            retry = true;
                            region.counters.retries.increment();
                            continue;
                        }
                        try {
                            ledger.accepted(r); // inside: the run around goes back, whatever it throws
                            prepared(c, i, w, r);
                        } catch (RuntimeException | Error e) {
                            if (around != null) {
                                around.abandon();
                            }
                            throw e;
                        }
                        if (around != null) {
                            long through = around.publish(claims, writeLast);
                            if (claims != null) {
                                claims.through = Math.max(claims.through, through);
                            }
                        }
                        return true;
                    }
                    if (result == FaultResult.RETRY) {
                        if (held) {
                            if (noWait) {
                                abandon();
                                return refused(why, WouldBlock.Reason.HANDLER);
                            }
                            throw protocolError("returned FaultResult.RETRY without dropping the lock;"
                                    + " call fault.dropLock() first, or return a Reservation");
                        }
                        retry = true;
                        region.counters.retries.increment();
                        continue;
                    }
                    throw protocolError("returned null; return Reservation.none() when nothing needs reserving");
                } finally {
                    if (held) {
                        region.lock.readLock().unlock();
                    }
                }
            }
        }

        /** Takes the region lock shared; false if a no-wait fault would have to wait for it. */
        private boolean lockShared() {
            if (noWait) {
                return region.lock.readLock().tryLock();
            }
            try {
                region.lock.readLock().lockInterruptibly();
                return true;
            } catch (InterruptedException e) {
                throw interrupted(e);
            }
        }

        private FaultResult callHandler(Fault fault) {
            handlerCalls++;
            int outer = HandlerScope.enter(fault);
            long start = System.nanoTime();
            try {
                return handler.prepare(fault);
            } catch (WriteFaultException e) {
                throw e;
            } catch (InterruptedException | InterruptedIOException | ClosedByInterruptException e) {
                throw interrupted(e);
            } catch (IOException e) {
                if (Errno.isNoSpace(e, region.path, region.pageSize)) {
                    throw new NoSpaceException("no space to prepare the page: " + e.getMessage(), region.path,
                            page << region.pageShift, page, e);
                }
                throw handlerFailed(e);
            } catch (RuntimeException e) {
                throw handlerFailed(e);
            } finally {
                region.counters.handlerNanos.add(System.nanoTime() - start);
                HandlerScope.exit(outer);
            }
        }

        private void endLockDrop() {
            if (droppedFault != null) {
                droppedFault.relocked();
                droppedFault = null;
            }
        }

        /** Waits, with no lock and no pin held, for the page's word to change (K8: outside the lock). */
        private void awaitChange(Chunk c, int i, long seen) {
            boolean writeback = PageState.underWriteback(state(seen));
            Object event = writeback && Recording.on() ? FaultEvents.writebackWaitBegin() : null;
            long start = System.nanoTime();
            try {
                // volatile: the waiter's half of the Waiters Dekker pair (see Waiters)
                region.waiters.await(() -> c.stateVolatile(i) != seen, true,
                        () -> "page " + page + " of " + region.path + " to leave " + PageState.describe(seen), 0);
            } catch (InterruptedException e) {
                throw interrupted(e);
            } finally {
                if (writeback) {
                    region.counters.writebackWaits.increment();
                    region.counters.writebackWaitNanos.add(System.nanoTime() - start);
                    if (event != null) {
                        FaultEvents.writebackWaitEnd(event, region.path.toString(), page);
                    }
                }
            }
        }

        /** Gives back a live claim (PREPARING to CLEAN) and releases what was cached. Idempotent. */
        private void abandon() {
            if (claimGen >= 0) {
                long claimed = PageState.word(PREPARING, claimGen);
                if (claimChunk.casState(claimIndex, claimed, PageState.word(CLEAN, claimGen)) == claimed) { // volatile
                    region.counters.preparing.decrement();
                    region.waiters.signal();
                } // else a truncate took the page and counted it
                claimGen = -1;
            }
            try {
                releaseCached();
            } finally {
                endLockDrop(); // whatever the reservation threw
            }
        }

        /** The reservation cached for a claim that is gone (or never needed) goes back. */
        private void releaseCached() {
            Reservation r = cached;
            if (r != null) {
                cached = null;
                if (BrokenRule.releasesRedundant()) {
                    ledger.release(r);
                }
            }
        }

        /** The claim is prepared, with {@code r}: publish it now, or hand it to the write's claims. */
        private void prepared(Chunk c, int i, long claimedWord, Reservation r) {
            if (claims == null) {
                publish(c, i, claimedWord, r);
            } else {
                claims.add(c, i, claimedWord, r);
                claimGen = -1; // the claims own it now
            }
        }

        /** K3: after the recheck under the lock, the reservation is recorded and the page made WRITABLE. */
        private void publish(Chunk c, int i, long claimedWord, Reservation r) {
            boolean countFirst = BrokenRule.countsBeforePublish();
            if (countFirst) {
                Counters.move(region.counters.preparing, region.counters.writable, 1); // before others may write it
            }
            // The reservation's plain store, then the release CAS: the reservation and the handler's work.
            long witness = c.publishClaim(i, claimedWord, withState(claimedWord, WRITABLE), r);
            if (!BrokenRule.publishWon(witness, claimedWord)) {
                if (countFirst) {
                    Counters.move(region.counters.writable, region.counters.preparing, 1);
                }
                c.setReservationPlain(i, null);
                ledger.release(r);
                throw new IllegalStateException("page " + page + " changed from " + PageState.describe(claimedWord)
                        + " to " + PageState.describe(witness) + " under the region lock [file " + region.path + "]");
            }
            claimGen = -1;
            if (!countFirst) { // the broken variant
                BrokenRule.preemptBeforeCount();
                Counters.move(region.counters.preparing, region.counters.writable, 1);
            }
            region.waiters.signal();
        }

        private HandlerFailedException handlerFailed(Exception e) {
            return new HandlerFailedException("the WriteFaultHandler failed: " + withoutSuffix(e.toString()),
                    region.path, page << region.pageShift, page, e);
        }

        private HandlerFailedException protocolError(String what) {
            IllegalStateException cause = new IllegalStateException("WriteFaultHandler " + what);
            return new HandlerFailedException("the WriteFaultHandler broke the protocol: it " + what, region.path,
                    page << region.pageShift, page, cause);
        }

        private FaultInterruptedException interrupted(Exception e) {
            Thread.currentThread().interrupt();
            return new FaultInterruptedException(region.path, page << region.pageShift, page, e);
        }
    }
}
