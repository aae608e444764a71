package dev.mkwrite.impl;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicLong;

import static dev.mkwrite.impl.PageState.PIN_ONE;
import static dev.mkwrite.impl.PageState.WRITABLE;
import static dev.mkwrite.impl.PageState.pins;
import static dev.mkwrite.impl.PageState.state;

/**
 * Page pins: how a writer keeps its pages WRITABLE while it stores into them without the region lock,
 * and how flush and the exclusive operations wait for writers to leave (drain).
 *
 * <p>A writer publishes its page range in its thread's hazard slot ({@link Hazards}: an opaque store, or a
 * CAS without {@link AsymmetricFence#ON}) and then checks that every page is WRITABLE. If its slot is
 * taken, it pins each page through its state word instead (a CAS that adds {@link PageState#PIN_ONE}). A
 * drainer, registered at its entry ({@link AsymmetricFence#registerDrainer()}), first moves pages out of
 * WRITABLE (a CAS), calls {@link #fenceWriters()}, then waits for both
 * kinds of pin to leave them: a Dekker pair, so either the writer sees the page leave WRITABLE and backs
 * off, or the drainer sees the pin and waits.
 *
 * <p>A thread never waits while it holds pins: {@link #tryPin} pins all of a range or nothing.
 */
final class Pins {

    private static final dev.mkwrite.impl.os.LazyLogger LOG = new dev.mkwrite.impl.os.LazyLogger(Pins.class);

    /**
     * The pins held through the pages' state words, not a hazard slot, that began in one epoch of the
     * region's mappings (see {@link #allEndedSince}), and the token of each of them: a pin is the hazard slot
     * that holds it, or the {@code StatePins} it is counted in, or {@link #NO_PINS}; {@link #tryPin}'s null
     * means nothing is pinned. An epoch ends when a grow retires a mapping ({@link #nextEpoch}); its pins
     * then only end, and no pin begins in it any more. No slot table holds one: {@link Hazards} never sees it.
     */
    static final class StatePins extends Hazards.Slot {
        /** The pins of this epoch not yet ended, and transiently ones that are beginning in a later epoch. */
        private final AtomicLong count = new AtomicLong();
        /**
         * The epoch before this one, until it is found drained after it ended; null then. Only under the
         * retirement's monitor ({@link #endedUpTo}).
         */
        private StatePins older;

        StatePins(StatePins older) {
            this.older = older;
        }
    }

    /** An empty span's: nothing pinned, nothing to unpin. */
    static final Hazards.Slot NO_PINS = new Hazards.Slot();

    private final RegionState region;
    private final PageTable table;
    private final Waiters waiters;
    /** The fast path's pins. */
    private final Hazards hazards;
    /** The system calls {@link #fenceWriters} made. */
    private final AtomicLong fences = new AtomicLong();
    /** Their slots, for {@link #tryPinPage}: one load nearer. */
    private final Hazards.Slot[] slots;
    /** The epoch state-word pins begin in now: see {@link #allEndedSince}. */
    private volatile StatePins epoch = new StatePins(null);
    /** For tests: run by a state-word pin between its read of {@link #epoch} and its count there. */
    private volatile Runnable epochReadForTests;

    Pins(RegionState region) {
        this(region, Hazards.forThisMachine());
    }

    /** With {@code hazards} of the caller's choosing: the jcstress suite's one-slot pins. */
    Pins(RegionState region, Hazards hazards) {
        this.hazards = hazards;
        this.slots = hazards.slots();
        this.region = region;
        this.table = region.table;
        this.waiters = region.waiters;
    }

    // ---------------------------------------------------------------------------------------------
    // The writer's side (any thread, no lock)

    /**
     * Pins every page of {@code [first, last]} if all are WRITABLE (or REDIRTIED), and returns the pin: the
     * hazard slot that holds the range, or the {@link StatePins} that counts it. Returns null, with nothing
     * pinned, if some page is not.
     */
    Hazards.Slot tryPin(long first, long last) {
        Hazards.Slot slot = hazards.publish(first, last); // StoreLoad (CAS, or the drainer's membarrier): the reads below after it
        if (slot != null) {
            if (allWritableVolatile(first, last)) {
                if (!Hazards.revoked(slot)) {
                    return slot;
                }
                Hazards.fenceRevokedPin(); // a revoked slot: the writer's own StoreLoad, then the states again
                if (allWritableVolatile(first, last)) {
                    Hazards.fencedPinKept(slot);
                    return slot;
                }
            }
            unpinHazard(slot);
            return null;
        }
        return tryPinStateWords(first, last);
    }

    /**
     * The writes' fast path, small enough to inline into every write within one page: pins {@code page}
     * through this thread's home hazard slot if it is WRITABLE (or REDIRTIED), and returns the slot, which
     * {@link #unpinHazard} ends. Returns null, with nothing pinned, when that does not do (the page is not
     * WRITABLE, or the home slot is taken or not yet claimed): the caller then takes {@link #tryPin}.
     */
    Hazards.Slot tryPinPage(long page) {
        return tryPinPage(slots, table, page, 0, region);
    }

    /**
     * {@link #tryPinPage(long)} through this region's {@link #slots()} and table as the caller keeps
     * them: a write that holds them in its own final fields reaches the slot and the page's state one
     * dependent load sooner than through this object. Pins only if {@code end}, the end of the bytes the
     * caller writes, is within {@code region}'s size as well, read after the pin (the region cannot shrink
     * under it).
     *
     * <p>All three tests, the page's state, the slot's mode (read after the state's volatile read) and the
     * size, are one branch, computed without one: each branch the JIT keeps costs the write that inlines this
     * an uncommon trap, some tens of bytes of code, and a write that grows past {@code InlineSmallCode}
     * (2,500 bytes on x86) is not inlined into its callers once it was compiled on its own: 2 ns of a 64-byte
     * put. The one rare path is out of line.
     */
    static Hazards.Slot tryPinPage(Hazards.Slot[] slots, PageTable table, long page, long end, RegionState region) {
        Hazards.Slot slot = Hazards.publishHome(slots, Hazards.value(page, page)); // StoreLoad: as tryPin's
        if (slot == null) {
            return null;
        }
        Chunk c = table.chunkForFastPin(page);
        // Each test is 0 when it passes; the last is 1 when end > size (no overflow: 0 <= end, size).
        if (c != null && (PageState.unpinnableBit(c.stateVolatile(Chunk.index(page))) | Hazards.revokedBits(slot)
                | (region.size - end) >>> 63) == 0) {
            return slot;
        }
        return tryPinPageSlowly(slot, table, page, end, region);
    }

    /**
     * {@link #tryPinPage} once its one test failed: in a revoked slot ({@link Hazards#revoked}) the writer's
     * own StoreLoad, then the page's state and the size read again; else, or if they do not do after all,
     * the unpin. Returns the pin, or null.
     */
    private static Hazards.Slot tryPinPageSlowly(Hazards.Slot slot, PageTable table, long page, long end,
            RegionState region) {
        if (Hazards.revoked(slot)) {
            Hazards.fenceRevokedPin();
            if (writableVolatile(table.chunkForFastPin(page), page) && end <= region.size) {
                Hazards.fencedPinKept(slot);
                return slot;
            }
        }
        unpinHazard(slot, region.waiters);
        return null;
    }

    /**
     * A {@link Writer}'s fast pin: {@link #tryPinPage}'s, through the writer's own slot and the chunk it
     * looked {@code page} up in before (index {@code index}), so that neither the thread's home slot nor the
     * page table is on the way. A chunk the table has dropped since (a shrink) holds its pages CLEAN, so a
     * stale one fails the state test; the slow half looks the page up again. Returns whether the page is
     * pinned; {@link #unpinHazard} ends the pin.
     */
    static boolean tryPinWriter(Hazards.Slot slot, long value, Chunk c, int index, long end, RegionState region) {
        Hazards.publishOwn(slot, value); // StoreLoad: as tryPinPage's
        if ((PageState.unpinnableBit(c.stateVolatile(index)) | Hazards.revokedBits(slot)
                | (region.size - end) >>> 63) == 0) {
            return true;
        }
        return tryPinPageSlowly(slot, region.table, Hazards.first(value), end, region) != null;
    }

    /**
     * {@link #tryPin} through the state words only, never a hazard slot: its fallback when this thread's
     * slots are taken, and the prepare-ahead thread's pin, so that thread owns no slot and a flush needs no
     * {@code membarrier} on its account ({@link Hazards#beginRevoking}). A step pins 16 pages
     * around an {@code madvise} of some tens of microseconds: the CAS and the add on each page's word cost
     * little beside it.
     */
    Hazards.Slot tryPinStateWords(long first, long last) {
        StatePins counted = enterEpoch(); // before the mapping is read: see allEndedSince
        if (pinStateWords(first, last)) {
            return counted;
        }
        counted.count.decrementAndGet();
        return null;
    }

    /**
     * Counts a state-word pin beginning now in the current epoch, and returns that epoch. The count comes
     * before the pin's first read of the mapping, and the epoch is read again after it: a pin counted in an
     * epoch that a grow has ended meanwhile moves to the new one, so that an ended epoch only ever loses
     * pins and, once seen drained, stays drained ({@link #endedUpTo} forgets it then).
     */
    private StatePins enterEpoch() {
        for (;;) {
            StatePins e = epoch;
            Runnable seam = epochReadForTests;
            if (seam != null) {
                seam.run();
            }
            e.count.incrementAndGet();
            if (epoch == e) { // volatile, after the count: see allEndedSince
                return e;
            }
            e.count.decrementAndGet(); // counted in an ended epoch: not a pin, and never a mapping read for it
        }
    }

    /**
     * Whether every page of {@code [first, last]} is WRITABLE. The reads are volatile: after the publish of
     * a hazard they make the Dekker pair with a drainer's CAS and slot reads (an acquire read could be
     * ordered before a volatile publish).
     */
    private boolean allWritableVolatile(long first, long last) {
        if (first == last) { // the common write, within one page: no loop for the JIT to keep
            return writableVolatile(first);
        }
        for (long page = first; page <= last; ) { // a chunk at a time: one lookup per run of pages
            Chunk c = table.chunkAcquire(page);
            int from = Chunk.index(page);
            int to = (int) Math.min(Chunk.MASK, from + (last - page));
            if (c == null || !c.allPinnableVolatile(from, to)) {
                return false;
            }
            page += to - from + 1;
        }
        return true;
    }

    private boolean writableVolatile(long page) {
        return writableVolatile(table.chunkAcquire(page), page);
    }

    /**
     * Whether {@code page}, of chunk {@code c} (null: none), is WRITABLE. {@link #tryPinPage} looks the chunk
     * up through {@link PageTable#chunkForFastPin}, whose caller checks the size after the pin.
     */
    private static boolean writableVolatile(Chunk c, long page) {
        return c != null && PageState.pinnable(state(c.stateVolatile(Chunk.index(page)))); // StoreLoad: see above
    }

    /** The fallback: pins pages in order; on the first that is not WRITABLE, unpins the rest. */
    private boolean pinStateWords(long first, long last) {
        for (long page = first; page <= last; page++) {
            if (!pinStateWord(page)) {
                for (long p = first; p < page; p++) {
                    unpinStateWord(p);
                }
                return false;
            }
        }
        return true;
    }

    private boolean pinStateWord(long page) {
        Chunk c = table.chunkAcquire(page);
        if (c == null) {
            return false;
        }
        int i = Chunk.index(page);
        long w = c.stateAcquire(i); // the CAS below validates it
        while (PageState.pinnable(state(w)) && pins(w) < PageState.MAX_PINS) {
            long witness = c.casState(i, w, w + PIN_ONE); // acquire side: the preparation happens-before our writes
            if (witness == w) {
                return true;
            }
            w = witness;
        }
        return false;
    }

    /** Ends the pin {@link #tryPin} or {@link #tryPinPage} took on {@code [first, last]}. */
    void unpin(long first, long last, Hazards.Slot pin) {
        if (pin instanceof StatePins counted) {
            unpinStateWords(first, last, counted);
        } else if (pin != NO_PINS) {
            unpinHazard(pin);
        }
    }

    /** Ends a pin held in a hazard slot: {@link #tryPinPage}'s, or {@link #tryPin}'s when it returned a slot. */
    void unpinHazard(Hazards.Slot slot) {
        unpinHazard(slot, waiters);
    }

    /** {@link #unpinHazard(Hazards.Slot)} with the region's waiters as the caller keeps them. */
    static void unpinHazard(Hazards.Slot slot, Waiters waiters) {
        Hazards.clearRelease(slot); // release: our writes before any drainer's read of EMPTY
        waiters.signal(); // may miss a drainer that starts waiting now: those wait with a timeout
    }

    /** The hazard table, for a {@link Writer}'s slot. */
    Hazards hazards() {
        return hazards;
    }

    /** The hazard slots, for a caller of {@link #tryPinPage(Hazards.Slot[], PageTable, long, long, RegionState)}. */
    Hazards.Slot[] slots() {
        return slots;
    }

    private void unpinStateWords(long first, long last, StatePins counted) {
        for (long page = first; page <= last; page++) {
            unpinStateWord(page);
        }
        counted.count.decrementAndGet(); // after the pages': the mapping's last use was before them
    }

    private void unpinStateWord(long page) {
        // A pinned page's chunk cannot be dropped nor the directory replaced: both wait for pins.
        Chunk c = table.chunkAcquire(page);
        long before = c.getAndAddState(Chunk.index(page), -PIN_ONE); // release: our writes before any drain
        if (pins(before) == 1 && state(before) != WRITABLE) {
            waiters.signal(); // a flush or an exclusive operation waits for this page to drain
        }
    }

    // ---------------------------------------------------------------------------------------------
    // The drainer's side: flush and the exclusive operations, after they moved pages out of WRITABLE

    /**
     * The drainer's StoreLoad, after the CASes that took its pages out of WRITABLE and before its first
     * {@link #drained} of them: with {@link AsymmetricFence#ON}, a writer published its hazard without one
     * (see {@link AsymmetricFence}). {@link #awaitDrained} and {@link #hazardSnapshot} call it themselves.
     * The drainer called {@link AsymmetricFence#registerDrainer()} at its entry, before those CASes: this
     * throws if it did not, whether or not it then needs the system call. The system call is left out when
     * no other live thread owns a hazard slot that is not revoked ({@link Hazards#beginRevoking}): then no
     * writer can have published without a fence. The call revokes the slots it is made for, so their owners
     * fence their own pins until they have pinned {@link Hazards#REBIAS_AFTER} times.
     */
    void fenceWriters() {
        if (AsymmetricFence.ON && BrokenRule.fencesPin()) {
            AsymmetricFence.requireRegistered(); // a drainer that missed it fails alone, not only beside writers
            Hazards.Revocation begun = hazards.beginRevoking(Thread.currentThread());
            if (begun != null) {
                AsymmetricFence.heavy();
                fences.incrementAndGet(); // beside a system call of microseconds: for the tests
                hazards.finishRevoking(begun); // after the barrier returned: see Hazards.beginRevoking
            }
        }
    }

    /**
     * The open spans of the current thread whose pins no scan of the slots finds: pinned through the pages'
     * state words ({@link StatePins}: its slots taken, or a range too long for one), or through a slot no
     * thread owns (without {@link AsymmetricFence#ON}). One list per thread, of every region; only such spans
     * pay for it, a span in a slot of the thread's own (the common case with the fence) is found by
     * {@link Hazards#ownRangeOverlapping}. Without them, an operation that waits for writers would not see
     * that the caller is one, and wait for itself forever.
     */
    private static final ThreadLocal<HeldList> HELD = new ThreadLocal<>();

    /** A thread's notes of the spans it holds open ({@link Held}). Only that thread touches it. */
    @SuppressWarnings("serial") // never serialised
    static final class HeldList extends java.util.ArrayList<Held> {
        /** The size at which a note next drops the notes other threads ended: twice what the last drop kept. */
        private int dropAt = 8;

        HeldList() {
            super(4);
        }

        /**
         * Drops the notes another thread ended ({@link Span#closeForOpener}), once the list has doubled
         * since the last drop: a list that piles such notes up (a jcstress round's spans, all ended by the
         * arbiters after it) costs amortised constant time a note, not a scan of the whole list at each.
         */
        void dropEnded() {
            if (size() >= dropAt) {
                removeIf(x -> x.ended);
                dropAt = Math.max(8, 2 * size());
            }
        }
    }
    /** Notes of this region's spans, on every thread: none, and no thread's list is looked at. */
    private final java.util.concurrent.atomic.AtomicInteger noted = new java.util.concurrent.atomic.AtomicInteger();

    /** Pages {@code [first, last]} of the region of {@code pins}, held by an open span of the current thread. */
    static final class Held {
        final Pins pins;
        final long first;
        final long last;
        /** The opening thread's list, which holds this note. Only that thread changes it. */
        final HeldList list;
        /**
         * Set once the note is ended, by the opener's close ({@link #forgetHeld}) or by another thread on its
         * behalf ({@link Span#closeForOpener}): whichever sets it first, by CAS, counts the note out of
         * {@code noted}, so a close from both sides never counts it twice. The opener's scans skip an ended
         * note, and its list drops one that another thread ended as the list grows.
         */
        volatile boolean ended;

        Held(Pins pins, long first, long last, HeldList list) {
            this.pins = pins;
            this.first = first;
            this.last = last;
            this.list = list;
        }

        /** Ends the note, counting it out of its region's notes; false if it was ended already. */
        boolean end() {
            if (!ENDED.compareAndSet(this, false, true)) {
                return false;
            }
            pins.noted.decrementAndGet();
            return true;
        }

        private static final VarHandle ENDED;

        static {
            try {
                ENDED = MethodHandles.lookup().findVarHandle(Held.class, "ended", boolean.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }
    }

    /**
     * The opener of a span over {@code [first, last]} pinned by {@code pin}, for its close to check: the
     * current thread, where a scan of the slots finds the span (a slot of the thread's own); else the
     * thread's note of it ({@link Held}), for {@link #forgetHeld}; null for a span that pins nothing.
     */
    Object opener(Hazards.Slot pin, long first, long last) {
        if (pin == NO_PINS) {
            return null;
        }
        if (AsymmetricFence.ON && !(pin instanceof StatePins)) {
            return Thread.currentThread(); // a slot of this thread's own
        }
        return noteHeldSlowly(first, last);
    }

    /** {@link #opener}'s note, out of line: the span's fast path inlines only the tests above. */
    private Held noteHeldSlowly(long first, long last) {
        noted.incrementAndGet();
        HeldList held = HELD.get();
        if (held == null) {
            held = new HeldList();
            HELD.set(held);
        }
        held.dropEnded(); // only this thread edits its list
        Held h = new Held(this, first, last, held);
        held.add(h);
        return h;
    }

    /**
     * Ends a span's note on the thread that made it. Returns false, changing nothing, if the current thread
     * did not make it: the span is being closed by another thread.
     */
    static boolean forgetHeld(Held h) {
        return HELD.get() == h.list && forgetInList(h);
    }

    private static boolean forgetInList(Held h) {
        HeldList held = h.list;
        for (int k = held.size() - 1; k >= 0; k--) { // the last opened is most often the first closed
            if (held.get(k) == h) {
                held.remove(k);
                h.end(); // unless another thread ended it for this one already
                return true;
            }
        }
        return false;
    }

    /** A span of this thread's whose note overlaps {@code [first, last]} of this region, or null. */
    private Held heldNoted(long first, long last) {
        if (noted.get() == 0) {
            return null; // no span of this region is noted, on any thread: the common case with the fence
        }
        HeldList held = HELD.get();
        if (held != null) {
            for (Held h : held) {
                if (h.pins == this && h.first <= last && first <= h.last && !h.ended) {
                    return h;
                }
            }
        }
        return null;
    }

    /** Whether this thread holds a page of {@code [first, last]} pinned, in a span still open (see below). */
    boolean heldByThisThread(long first, long last) {
        return hazards.ownRangeOverlapping(first, last) != Hazards.EMPTY || heldNoted(first, last) != null;
    }

    /**
     * Throws if this thread holds a pin on a page of {@code [first, last]} (a {@link dev.mkwrite.WriteSpan}
     * it has not closed): {@code op}, which waits for the writers of those pages to leave, would wait for
     * this thread, forever. Called before {@code op} changes anything. Finds a span in a hazard slot of the
     * thread's own, and one pinned otherwise ({@link #opener}).
     */
    void checkNotHeldByThisThread(String op, long first, long last) {
        long heldFirst;
        long heldLast;
        long inSlot = hazards.ownRangeOverlapping(first, last);
        if (inSlot != Hazards.EMPTY) {
            heldFirst = Hazards.first(inSlot);
            heldLast = Hazards.last(inSlot);
        } else {
            Held h = heldNoted(first, last);
            if (h == null) {
                return;
            }
            heldFirst = h.first;
            heldLast = h.last;
        }
        long lastPage = Math.max(first, Math.min(last, region.pageCount - 1)); // flush(0, MAX): not page 2^51
        String which = first == 0 && last >= region.pageCount - 1 ? "every page"
                : first == lastPage ? "page " + first : "pages " + first + ".." + lastPage;
        throw new IllegalStateException(op + " waits for the writers of " + which + " of " + region.path
                + " to leave, and this thread holds pages " + heldFirst + ".." + heldLast
                + " pinned (a WriteSpan not closed): close it first [file " + region.path + ", offset "
                + (heldFirst << region.pageShift) + ", page " + heldFirst + "]");
    }

    /**
     * Whether this thread holds a pin on some page of the region (a {@link dev.mkwrite.WriteSpan} it has not
     * closed): an exclusive operation under way may be waiting for it.
     */
    boolean heldByThisThread() {
        return hazards.ownRangeOverlapping(0, Long.MAX_VALUE) != Hazards.EMPTY || heldNoted(0, Long.MAX_VALUE) != null;
    }

    /** How many times {@link #fenceWriters} called the system call: for tests. */
    long fencesMade() {
        return fences.get();
    }

    /**
     * Whether no writer pins {@code page}, which this thread took out of WRITABLE and has since called
     * {@link #fenceWriters()}: neither through its state word nor through a hazard slot. Both reads are
     * volatile, after the taking CAS: the drainer's half of the Dekker pair with the writer's publish.
     * Costs a read of every slot.
     */
    boolean drained(long page) {
        return pins(table.chunkAcquire(page).stateVolatile(Chunk.index(page))) == 0 // StoreLoad: after our CAS
                && !hazards.coversVolatile(page);
    }

    /**
     * Waits until no writer pins a page of {@code [first, end)}, whose WRITABLE pages this thread froze.
     * Region lock held exclusive.
     */
    void awaitDrained(long first, long end) {
        fenceWriters(); // after the freezing CASes, before any slot read
        table.forEachPage(first, end, (c, i, page) -> {
            if (pins(c.stateVolatile(i)) != 0) { // volatile: after the freezing CAS (Dekker)
                region.awaitUninterruptibly(() -> pins(c.stateVolatile(i)) == 0, // volatile: the Waiters pair
                        () -> "pinned writers to leave page " + page + " of " + region.path);
            }
        });
        long last = Math.min(end, region.pageCount) - 1;
        for (Hazards.Slot slot : hazards.scanned()) { // the writers' own slots too
            long seen = Hazards.rangeVolatile(slot); // after the freezing CASes: Dekker with the writer's publish
            if (Hazards.overlaps(seen, first, last)) {
                region.awaitHazard(() -> Hazards.rangeVolatile(slot) != seen || endedOwnersPin(slot, seen),
                        () -> "the writer of pages " + Hazards.first(seen) + ".." + Hazards.last(seen) + " of "
                                + region.path + " to leave");
            }
        }
    }

    /**
     * Whether a drainer waiting for the pin {@code seen} of {@code slot} may stop: the slot's owner ended
     * holding it ({@link Hazards#endPinOfEndedOwner}), which is logged, once per pin, as the application's
     * bug it is. Only pins in owned slots (with the fence) can be told so: a pin through the state words, or
     * in a slot without an owner, of a thread that ended keeps its drainers waiting (and the wait says so
     * in the log every 10 s).
     */
    boolean endedOwnersPin(Hazards.Slot slot, long seen) {
        Thread owner = Hazards.endPinOfEndedOwner(slot, seen);
        if (owner == null) {
            return false;
        }
        LOG.get().warn("{} ended holding pages {}..{} of {} pinned (a WriteSpan it never closed); their pin is"
                + " ended for it, and whatever it stored before it ended is kept", owner, Hazards.first(seen),
                Hazards.last(seen), region.path);
        return true;
    }

    /**
     * Whether no writer pins {@code page} ({@link #drained}), once the pins of ended owners' slots over it
     * were ended ({@link #endedOwnersPin}). For a drainer's wait, not its first look.
     */
    boolean drainedOrOwnersEnded(long page) {
        if (drained(page)) {
            return true;
        }
        boolean ended = false;
        for (Hazards.Slot slot : hazards.scanned()) {
            long seen = Hazards.rangeVolatile(slot);
            if (Hazards.overlaps(seen, page, page)) {
                ended |= endedOwnersPin(slot, seen);
            }
        }
        return ended && drained(page);
    }

    // ---------------------------------------------------------------------------------------------
    // For mapping retirement and statistics

    /** Every hazard slot now, read volatile: a retired mapping waits until all have changed. */
    Hazards.Snapshot hazardSnapshot() {
        fenceWriters(); // after the new mapping's volatile store: a writer that read the old one is in a slot
        return hazards.snapshotVolatile();
    }

    /**
     * Ends the epoch of state-word pins, for a grow that has just replaced the mapping and retires the old
     * one, and returns it: the old mapping waits for the pins counted in it and in every epoch before it
     * ({@link #allEndedSince}). Lock held exclusive, after the new mapping's volatile store; under the
     * retirement's monitor, as every use of {@link StatePins#older} is.
     */
    StatePins nextEpoch() {
        StatePins ended = epoch;
        epoch = new StatePins(ended); // volatile, after the mapping's: a pin that reads it reads the new mapping
        return ended;
    }

    /**
     * Whether every pin that could have read a mapping replaced when {@code snapshot} was taken has
     * ended: every hazard changed since or is held by an owner that ended (a span it never closed, which
     * would keep the mapping for good), and no state-word pin counted in {@code ended}, the epoch the
     * replacing grow ended ({@link #nextEpoch}), or an earlier one is held.
     *
     * <p>Why those epochs. A state-word pin counts itself in the epoch it read and reads the epoch again
     * ({@link #enterEpoch}) before it reads the mapping; all of it volatile, so in one total order. A pin kept
     * in epoch E was counted before its second read found E current, so before the store that ended E, so
     * before any count read of E after that store: no epoch is seen drained while a pin of its holds. Its
     * mapping read comes after, so it read the mapping that was current when E began (stored before E was)
     * or a later one, never an earlier. A mapping M is replaced by the grow that ends the epoch E(M) current
     * then; the pins that may use M are counted in E(M) or an earlier epoch (one of those may have read a
     * newer mapping that a later grow replaced: it reads no older one). Pins that began in later epochs
     * cannot have read M, so a retired mapping no longer waits for them, as it waited for every state-word
     * pin held (a region-wide count) before: with the prepare-ahead thread pinning every step, or spans
     * pinned through the state words held open, that count could stay above zero for good and keep every
     * retired mapping mapped until 32 piled up and a grow drained every writer. Retirement's monitor held.
     */
    boolean allEndedSince(Hazards.Snapshot snapshot, StatePins ended) {
        return (endedUpTo(ended) || !BrokenRule.waitsForStatePins()) && hazards.allChangedSince(snapshot);
    }

    /**
     * Whether no pin is counted in {@code ended} or any epoch before it. An epoch seen drained after it ended
     * stays drained (a late count moves on, {@link #enterEpoch}), so once the whole chain is, it is dropped
     * below {@code ended}; a check that finds a pin drops nothing. Retirement's monitor held.
     */
    private static boolean endedUpTo(StatePins ended) {
        for (StatePins e = ended; e != null; e = e.older) {
            if (e.count.get() != 0) {
                return false;
            }
        }
        ended.older = null; // all drained: forget them
        return true;
    }

    /**
     * Forgets every ended epoch, once every retired mapping is unmapped after a drain of every writer
     * ({@link Retirement#unmapAll}): no pin is held in one, and no retired mapping is left to check them. Without
     * it, epochs that no check ever found drained (the retirements a drain unmapped, or those whose snapshot
     * failed and are never checked) would stay linked from the current one. Retirement's monitor held.
     */
    void forgetEndedEpochs() {
        epoch.older = null;
    }

    /** The epochs of state-word pins linked now, the current one included: for tests, with no grow under way. */
    int epochsLinkedForTests() {
        int n = 0;
        for (StatePins e = epoch; e != null; e = e.older) {
            n++;
        }
        return n;
    }

    /** See {@link #epochReadForTests}. */
    void epochReadForTests(Runnable seam) {
        epochReadForTests = seam;
    }

    /** Hazard slot {@code slot}'s value, read volatile: for the jcstress suite. */
    long hazardVolatile(int slot) {
        return hazards.slotVolatile(slot);
    }

    /** The pages pinned now, a racy sum for statistics. */
    long pinnedPages() {
        return table.pins() + hazards.pinnedPages();
    }
}
