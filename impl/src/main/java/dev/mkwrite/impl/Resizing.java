package dev.mkwrite.impl;

import dev.mkwrite.Reservation;

import java.io.IOException;
import java.util.function.LongSupplier;

import static dev.mkwrite.impl.PageState.CLEAN;
import static dev.mkwrite.impl.PageState.FROZEN;
import static dev.mkwrite.impl.PageState.PREPARING;
import static dev.mkwrite.impl.PageState.WRITABLE;
import static dev.mkwrite.impl.PageState.state;
import static dev.mkwrite.impl.PageState.withState;

/**
 * The exclusive operations on the region's extent (rules K2, K6): grow, truncate and punchHole, with
 * the generations they move and the quiesce and thaw they stand on. Every method here runs with the
 * region lock held exclusive, which the public operations take.
 *
 * <p><b>Quiesce</b> freezes a range: every WRITABLE page becomes FROZEN (so no writer can pin it), every
 * writeback in it ends, and every pinned writer leaves it. <b>Thaw</b> makes the FROZEN pages WRITABLE
 * again. Truncate and close quiesce everything, punchHole its range, and grow only a partly covered last
 * page: writers of other pages go on, on the lock-free fast path.
 *
 * <p><b>Generations</b> (K6): a page that is removed, or whose extent changes, moves to a new epoch, so a
 * handler keyed by (page, generation) prepares it again, and a fault that prepared it with the lock
 * dropped finds its work stale on the retry.
 */
final class Resizing {

    private final RegionState region;
    private final PageTable table;
    private final RegionFile file;
    private final Pins pins;
    private final Writeback writeback;
    private final Retirement retirement;
    private final Ledger ledger;
    /**
     * Whether the file is longer than the region: a shrink could not truncate it. The bytes past the region's
     * end are what the shrink discarded, so the file is truncated again before the region grows over them
     * ({@link #trimFile}), and at close. Read and written with the lock held exclusive.
     */
    private boolean fileLonger;
    /**
     * Whether the next grow must map anew, not extend the mapping in place: set with {@link #fileLonger}, and
     * cleared only once a new mapping is in place. A storage handler recorded allocations in the file's tail
     * while it was longer; the truncate that frees their blocks changes no mapping, and only a new mapping's
     * scope makes the handler forget them ({@code FileSpace#observe}). Kept past a grow that truncated and
     * then failed, so the grow after it maps anew too. Read and written with the lock held exclusive.
     */
    private boolean mapAnew;
    /**
     * The Errors reservations threw from {@code release()} in this operation's page loops (a page removed,
     * or a PREPARED page taken back by a quiesce), thrown once the operation has settled every page. Guarded
     * by the lock held exclusive.
     */
    private final Ledger.Kept kept = new Ledger.Kept();

    Resizing(RegionState region, RegionFile file, Pins pins, Writeback writeback, Retirement retirement,
             Ledger ledger) {
        this.region = region;
        this.table = region.table;
        this.file = file;
        this.pins = pins;
        this.writeback = writeback;
        this.retirement = retirement;
        this.ledger = ledger;
    }

    // ---------------------------------------------------------------------------------------------
    // The operations, as MappedRegion offers them

    void grow(long newSize) throws IOException {
        HandlerScope.checkNotInHandler(region, "grow");
        if (newSize > region.backing.maxRegionSize()) {
            throw RegionState.tooLarge(newSize, region.backing, region.path);
        }
        exclusively("grow(" + newSize + ")", newSize, () -> region.size, () -> {
            if (newSize < region.size) {
                throw new IllegalArgumentException("grow(" + newSize + ") is below the size " + region.size
                        + "; use truncate to shrink " + region.where(newSize));
            }
            if (newSize > region.size) {
                growTo(newSize);
            }
        });
    }

    void truncate(long newSize) throws IOException {
        HandlerScope.checkNotInHandler(region, "truncate");
        if (newSize < 0 || newSize > region.backing.maxRegionSize()) {
            throw new IllegalArgumentException("truncate(" + newSize + "): the size must lie in [0, "
                    + region.backing.maxRegionSize() + "] " + region.where(newSize));
        }
        exclusively("truncate(" + newSize + ")", newSize, () -> Math.min(newSize, region.size), () -> {
            if (newSize > region.size) {
                growTo(newSize);
            } else if (newSize < region.size) {
                shrinkTo(newSize);
            }
        });
    }

    void punchHole(long offset, long length) throws IOException {
        HandlerScope.checkNotInHandler(region, "punchHole");
        region.checkRange("punchHole", offset, length);
        exclusively("punchHole(offset " + offset + ", length " + length + ")", offset, () -> offset, () -> {
            long end = offset + length;
            if (end > region.size) {
                throw region.outOfRegion(offset, length);
            }
            if (length == 0) {
                return;
            }
            int mask = region.pageSize - 1;
            if ((offset & mask) != 0 || ((end & mask) != 0 && end != region.size)) {
                throw new IllegalArgumentException("punchHole(offset " + offset + ", length " + length
                        + "): the range must be whole pages of " + region.pageSize + " bytes, or end at the region's"
                        + " end " + region.size + " " + region.where(offset));
            }
            punch(offset, length);
        });
    }

    /** An operation's work under the exclusive lock. */
    @FunctionalInterface
    private interface Exclusive {
        void run() throws IOException;
    }

    /**
     * Runs {@code work} with the lock held exclusive, on an open region ({@code offset} names the operation's
     * place if it is closed): an IOException it throws is named after the operation, {@code what}, at the
     * offset {@code at} gives then. Then the Errors reservations threw in its page loops ({@link #kept}) are
     * thrown, whatever it threw suppressed in them: every page was settled first.
     */
    private void exclusively(String what, long offset, LongSupplier at, Exclusive work) throws IOException {
        AsymmetricFence.registerDrainer(); // before quiesce freezes a page or retire snapshots the hazards
        region.lock.writeLock().lock();
        Throwable thrown = null;
        try {
            region.ensureOpen(offset);
            work.run();
        } catch (IOException e) {
            IOException named = region.named(what, at.getAsLong(), e);
            thrown = named;
            throw named;
        } catch (RuntimeException | Error e) {
            thrown = e;
            throw e;
        } finally {
            Error released = kept.take(); // under the lock, which confines it
            region.lock.writeLock().unlock();
            Ledger.Kept.rethrow(released, thrown);
        }
    }

    /**
     * What a close's quiesce kept of the Errors reservations threw ({@link #kept}), for the close to throw
     * once it is done; null if none. Lock held exclusive.
     */
    Error takeKept() {
        return kept.take();
    }

    // ---------------------------------------------------------------------------------------------
    // With the lock held exclusive

    /**
     * Grows the region without draining its writers: they go on writing through the old mapping, which
     * maps the same file pages, and it is unmapped once they have left ({@link Retirement}). Only a
     * partly covered last page is quiesced, as its extent changes.
     */
    private void growTo(long newSize) throws IOException {
        long oldSize = region.size;
        long oldPages = region.pageCount;
        boolean partial = (oldSize & (region.pageSize - 1)) != 0;
        if (partial) {
            pins.checkNotHeldByThisThread("grow(" + newSize + ")", oldPages - 1, oldPages - 1);
        }
        Mapping current = region.mapping;
        if (current.unmaps() && (mapAnew || !current.hasRoomFor(newSize)) && retirement.full()) {
            // It maps anew with no room to retire the old mapping: it drains every writer (below), this thread too
            pins.checkNotHeldByThisThread("grow(" + newSize + ")", 0, Long.MAX_VALUE);
        }
        boolean cut = trimCutsUnit();
        long cutUnit = (oldSize & -LARGEST_FOLIO) >>> region.pageShift;
        if (cut) {
            pins.checkNotHeldByThisThread("grow(" + newSize + ")", cutUnit, oldPages - 1);
        }
        trimFile(); // first: if it fails, nothing has changed
        if (cut) {
            markTrimmedUnit(cutUnit, oldPages);
        }
        try {
            if (partial) {
                quiesce(oldPages - 1, oldPages); // inside: a page it froze before it threw is thawed
            }
            Mapping old = region.mapping;
            if (partial) {
                // The old last page was prepared for fewer bytes than it will cover: write it back and
                // give it a new generation, so its next write prepares the whole page, and a fault
                // that prepared it with the lock dropped finds its work stale.
                writeback.writeBackFrozen(old, oldPages - 1, oldPages);
                renewGeneration(oldPages - 1, region.nextEpoch());
            }
            long newPages = region.pagesFor(newSize);
            BrokenRule.publishReadsBeforeGrow(region, newSize);
            if (!mapAnew && old.extendInPlace(newSize)) { // the mapping has room: the file grows beneath it
                table.resize(newPages);
                region.resized(old, newSize, newPages); // reads past the old size only now: the file has grown
                return;
            }
            Mapping fresh;
            try {
                fresh = file.map(region.backing, newSize); // extends the file sparsely
            } catch (IOException | RuntimeException | Error e) { // an OutOfMemoryError or InternalError too
                // The map may have extended the file before its mmap failed: the file is then longer than the
                // region, as after a shrink whose truncate failed, and is trimmed the same way (and a handler
                // that bounded a granule by its size may have recorded the tail: the next grow maps anew).
                fileLonger = true;
                mapAnew = true;
                throw e;
            }
            table.resize(newPages); // keeps every chunk: a pinned writer's unpin finds its page
            region.resized(fresh, newSize, newPages); // writers that pin from now on write through it
            mapAnew = false; // a new scope: the handlers forget what they recorded in the file's old tail
            if (!retirement.retire(old)) {
                // Some writer stays pinned across many grows: drain every writer, and unmap them all. (A buffer's
                // retired mappings are read companions a channel operation holds: no writer uses them.)
                try {
                    if (old.unmaps()) {
                        quiesceAll(); // inside, as every quiesce: its drain's barrier may throw
                    }
                    retirement.unmapAll();
                    retirement.awaitUsers(old);
                    old.unmap();
                } finally {
                    thawAll();
                }
            }
        } finally {
            if (partial) {
                thaw(oldPages - 1, oldPages);
            }
        }
    }

    /**
     * Shrinks the region: quiesces everything, maps the smaller size, removes the pages past the end,
     * unmaps the old mapping, and only then truncates the file. Readers take no lock: a read of the old
     * mapping either ends before its arena is closed or fails and retries on the new one, and no read can
     * reach past the file's end (which would fault). If mapping anew fails, nothing has changed.
     */
    private void shrinkTo(long newSize) throws IOException {
        pins.checkNotHeldByThisThread("truncate(" + newSize + ")", 0, Long.MAX_VALUE); // it waits for every writer
        try {
            quiesceAll(); // inside: a page it froze before its drain's barrier threw is thawed
            retirement.unmapAll();
            long oldPages = region.pageCount;
            long newPages = region.pagesFor(newSize);
            Mapping old = region.mapping;
            Mapping fresh = file.map(region.backing, newSize); // the file is still longer: nothing to extend
            long generation = region.nextEpoch();
            removePages(newPages, oldPages, generation);
            if ((newSize & (region.pageSize - 1)) != 0) {
                renewGeneration(newPages - 1, generation);
            }
            markCutUnit(newSize, newPages, generation);
            region.resized(fresh, newSize, newPages);
            table.resize(newPages);
            retirement.awaitUsers(old);
            old.unmap(); // readers of it now fail and retry on the fresh one, sliced to the new size
            try {
                file.truncate(newSize);
                fileLonger = false;
                mapAnew = false; // the fresh mapping above: recorded allocations in the tail are forgotten
            } catch (IOException | RuntimeException e) {
                // The region has shrunk and holds every byte below its new end; only the file is still long.
                // Its tail is truncated again before a grow would expose it, and at close: the region stays open.
                fileLonger = true;
                mapAnew = true;
                throw new IOException("truncate(" + newSize + ") of " + region.path + ": the region now ends at"
                        + " offset " + newSize + " (page " + (newSize >>> region.pageShift) + "), but the file could"
                        + " not be shortened (" + e + "); it is truncated again before the region grows, and when it"
                        + " closes", e);
            }
        } finally {
            thawAll();
        }
    }

    /**
     * Truncates the file to the region's size if a shrink could not ({@link #fileLonger}): the discarded
     * bytes past the region's end go before a grow maps them again. Nothing past the end is read or
     * pinned. Throws if it fails again; the region is unchanged then.
     */
    void trimFile() throws IOException {
        if (fileLonger) {
            file.truncate(region.size);
            fileLonger = false;
        }
    }

    /**
     * Whether the grow about to run must take back the folio unit of the region's last pages
     * ({@link #markTrimmedUnit}): the file was longer than the region since a new mapping was last put in
     * place ({@link #mapAnew}, which outlives {@link #fileLonger} past a grow that trimmed and then failed:
     * the pages faulted meanwhile, on the old mapping, found their records whole), in a region that keeps
     * pages prepared, whose size cuts a unit.
     */
    private boolean trimCutsUnit() {
        return mapAnew && region.keepsPrepared && (region.size & (LARGEST_FOLIO - 1)) != 0;
    }

    /**
     * After {@link #trimFile} truncated the file inside the folio unit of the region's last pages,
     * {@code [first, end)}, before a grow (this one, or one that failed after it): the faults since the shrink
     * whose truncate failed saw the longer file, or records made then, so a storage handler allocated that
     * unit whole and recorded it, and its pages were kept prepared after their writeback; the truncate freed
     * the unit's tail. Its pages are taken back as a shrink
     * takes back those of the unit it cuts ({@link #markCutUnit}): the quiesce makes the PREPARED ones CLEAN,
     * and the mark makes the dirty ones fault after their writeback, each fault then allocating the whole
     * unit (the grow maps anew, so the handler forgets its records).
     */
    private void markTrimmedUnit(long first, long end) {
        try {
            quiesce(first, end); // inside: a page it froze before it threw is thawed
            markCutUnit(region.size, end, region.nextEpoch());
        } finally {
            thaw(first, end);
        }
    }

    /**
     * Discards the whole pages of {@code [offset, offset + length)} (the range is checked): the file's
     * range first, then the pages become CLEAN at a new generation and their reservations are released.
     * Writers of other pages go on: the mapping stays. Once the file's discard has begun, the pages are
     * removed whether or not it completed: a punch that failed partway may have freed the blocks under some
     * of them, and a page thawed WRITABLE over a hole takes its next store lock-free, where the kernel's
     * fault needs a block (SIGBUS on a full disk). Removed, each page faults in mkwrite first, and its
     * handler prepares it again. But a discard that failed may have changed nothing (a zero-range refused
     * for want of space, before it began): the caller, told it failed, may go on using the range, so its
     * dirty pages are written back first, as they are (what was zeroed reads as zero), and no write into
     * it is lost. Dropped without, they were left to the kernel's own writeback, which no flush waits for.
     */
    private void punch(long offset, long length) throws IOException {
        long first = offset >>> region.pageShift;
        long endPage = region.pagesFor(offset + length);
        pins.checkNotHeldByThisThread("punchHole(offset " + offset + ", length " + length + ")", first, endPage - 1);
        boolean discarding = false;
        try {
            quiesce(first, endPage); // inside, as the shrink's
            // With no writer pinned in the range and its pages FROZEN or CLEAN, nothing stores into it.
            discarding = true;
            discard(offset, offset + length);
        } catch (IOException | RuntimeException | Error e) {
            if (discarding) {
                try {
                    writeback.writeBackFrozen(region.mapping, first, endPage); // FROZEN ones become CLEAN
                } catch (IOException | RuntimeException | Error w) { // those left FROZEN are dropped below
                    e.addSuppressed(w);
                }
            }
            throw e;
        } finally {
            try {
                if (discarding) {
                    removePages(first, endPage, region.nextEpoch());
                }
            } finally {
                thaw(first, endPage);
            }
        }
    }

    /**
     * Makes {@code [from, to)} of the file read as zero: punches its whole folio units (aligned
     * {@link #LARGEST_FOLIO}s, and the last unit's part up to the region's end), and zeroes the rest in place,
     * keeping its blocks ({@link RegionFile#zeroInPlace}). A hole punched in a unit beside a written page of it
     * would share a page-cache folio with that page on ext4 or XFS with large folios (one read back after
     * eviction, or one the punch could not split), and the kernel's fault of that folio, at the page's next
     * store after a writeback, needs blocks for the hole: SIGBUS on a full disk. Whatever the handler, which
     * believes the page's blocks allocated: kept prepared, the page faults in the kernel only; faulting in
     * mkwrite, its handler finds its own blocks allocated and allocates nothing. The storage handlers
     * allocate and give back whole folio units only, for the same reason.
     */
    private void discard(long from, long to) throws IOException {
        long wholeFrom = (from + LARGEST_FOLIO - 1) & -LARGEST_FOLIO;
        long wholeTo = to == region.size ? to : to & -LARGEST_FOLIO; // no page of the region past its end
        if (wholeFrom >= wholeTo) {
            file.zeroInPlace(from, to - from);
            return;
        }
        if (from < wholeFrom) {
            file.zeroInPlace(from, wholeFrom - from);
        }
        file.punch(wholeFrom, wholeTo - wholeFrom);
        if (wholeTo < to) {
            file.zeroInPlace(wholeTo, to - wholeTo);
        }
    }

    /** K6: removed pages release their reservations and move to {@code generation}, so stale work is seen. */
    private void removePages(long from, long to, long generation) {
        table.forEachPage(from, to, (c, i, page) -> {
            long w = c.stateAcquire(i); // quiesced: nobody else moves it
            switch (state(w)) {
                case FROZEN -> ledger.dropFrozen(c, i, generation, kept);
                case PREPARING -> {
                    // A fault dropped the lock while preparing it; its retry sees the new generation.
                    Runnable seam = beforeEndClaimForTests;
                    if (seam != null) {
                        seam.run();
                    }
                    endClaim(c, i, page, w, generation);
                }
                case CLEAN -> c.setStateVolatile(i, PageState.word(CLEAN, generation)); // volatile: as above
                case PageState.PREPARED -> { // fault-around prepared it; never written: its reservation goes back
                    if (BrokenRule.dropsRemovedPrepared()) {
                        ledger.dropPrepared(c, i, generation, kept);
                    }
                }
                default -> throw notQuiesced(page, w);
            }
        });
    }

    /**
     * After a shrink whose new end cuts a folio unit (an aligned {@link #LARGEST_FOLIO}), in a region whose
     * handler keeps written-back pages prepared: the kernel frees the blocks past the new end, and once the
     * file grew again a page of that unit kept prepared would be stored into by one CAS beside the hole, in
     * one page-cache folio on ext4 with large folios, whose fault on a full disk needs blocks for it (SIGBUS).
     * The dirty pages of the unit (FROZEN) get their reservations marked {@link PreparedInPart}, so that
     * their next writeback ends them CLEAN and their next write faults; the quiesce already made its
     * PREPARED pages CLEAN. A page of the unit that a fault holds PREPARING (a write over several pages
     * between two of its faults, or a handler that dropped the lock) was prepared for the whole unit too:
     * it goes CLEAN at the shrink's {@code generation}, so its fault finds its claim gone, gives back what it
     * prepared, and faults it again. After quiesce, before the thaw publishes the marks.
     */
    private void markCutUnit(long newSize, long newPages, long generation) {
        if (!region.keepsPrepared || (newSize & (LARGEST_FOLIO - 1)) == 0) {
            return;
        }
        long first = (newSize & -LARGEST_FOLIO) >>> region.pageShift;
        table.forEachPage(first, newPages, (c, i, page) -> {
            long w = c.stateAcquire(i); // quiesced: nobody else moves it
            if (state(w) == FROZEN) {
                Reservation r = c.reservationPlain(i);
                if (r != null) {
                    c.setReservationPlain(i, InPartReservation.of(r)); // published by the thaw's volatile store
                }
            } else if (state(w) == PREPARING) {
                endClaim(c, i, page, w, generation);
            }
        });
    }

    /**
     * A PREPARING page, {@code w}, whose fault holds its claim between faults or with the lock dropped, goes
     * CLEAN at {@code generation}, so the fault finds its claim gone. By CAS: the fault gives its claim back
     * without the lock when it fails (CLEAN at the claim's generation, counted there), and a plain store
     * after that counted the page out of PREPARING twice. The page is then CLEAN, moved to
     * {@code generation} all the same. Volatile: the signaller's half of the Waiters pair (the thaw signals);
     * the retry's lock orders it.
     */
    private void endClaim(Chunk c, int i, long page, long w, long generation) {
        long witness = c.casState(i, w, PageState.word(CLEAN, generation));
        if (witness == w) {
            region.counters.preparing.decrement();
        } else if (state(witness) == CLEAN) { // given back meanwhile; no fault claims it under this lock
            c.casState(i, witness, PageState.word(CLEAN, generation));
        } else {
            throw notQuiesced(page, witness); // nothing else moves a claimed page
        }
    }

    /** Run by a shrink or punch between its read of a PREPARING page and its end of the claim; for tests. */
    static volatile Runnable beforeEndClaimForTests;

    /**
     * The largest folio unit a storage handler allocates whole ({@code FolioUnit.MAX}): the page cache's
     * largest folio with 4 KiB pages on x86-64.
     */
    static final long LARGEST_FOLIO = 2L << 20;

    /**
     * A page whose extent changed (the last page, when the size moves inside or out of it) moves to a new
     * generation: what was prepared for it covered other bytes. A dirty page keeps its data and
     * reservation. After quiesce.
     */
    private void renewGeneration(long page, long generation) {
        Chunk c = table.chunkAcquire(page);
        if (c == null) {
            return;
        }
        int i = Chunk.index(page);
        long w = c.stateAcquire(i); // quiesced: nobody else moves it
        switch (state(w)) {
            // volatile: the signaller's half of the Waiters pair, for a fault waiting on the page (the thaw signals)
            case FROZEN, CLEAN -> c.setStateVolatile(i, PageState.word(state(w), generation));
            case PREPARING -> endClaim(c, i, page, w, generation);
            case PageState.PREPARED -> ledger.dropPrepared(c, i, generation, kept); // prepared for the old extent
            default -> throw notQuiesced(page, w);
        }
    }

    private IllegalStateException notQuiesced(long page, long w) {
        return new IllegalStateException("page " + page + " is " + PageState.describe(w) + " after quiesce [file "
                + region.path + "]");
    }

    // ---------------------------------------------------------------------------------------------
    // Quiesce and thaw

    /** {@link #quiesce} of every page: afterwards no thread touches the mapping. */
    void quiesceAll() {
        quiesce(0, Long.MAX_VALUE);
    }

    /**
     * Freezes every WRITABLE page of {@code [first, end)} so no writer can enter, makes every PREPARED
     * page CLEAN (releasing its reservation), waits for every writeback in it to end and for every pin to
     * drain. The operation that calls it registered at its entry ({@link AsymmetricFence#registerDrainer()}).
     */
    void quiesce(long first, long end) {
        table.forEachPage(first, end, (c, i, page) -> {
            long w = c.stateAcquire(i); // the CAS below validates it
            for (;;) {
                if (state(w) == WRITABLE) {
                    long witness = c.casState(i, w, withState(w, FROZEN)); // volatile: Dekker with the writers' pins
                    if (witness == w) {
                        break;
                    }
                    w = witness;
                } else if (state(w) == PageState.PREPARED && BrokenRule.quiesceTakesPrepared()) {
                    // Fault-around prepared it and no writer entered it: a writer may enter it without the
                    // lock, so it is taken away, its reservation released; its next write faults again.
                    if (ledger.takePrepared(c, i, w, kept)) {
                        break;
                    }
                    w = c.stateAcquire(i); // a writer entered it: WRITABLE now, frozen on the next pass
                } else if (PageState.underWriteback(state(w))) {
                    // volatile: the waiter's half of the Waiters Dekker pair (see Waiters)
                    region.awaitUninterruptibly(() -> !PageState.underWriteback(state(c.stateVolatile(i))),
                            () -> "writeback of page " + page + " of " + region.path + " to end");
                    w = c.stateAcquire(i);
                } else {
                    break;
                }
            }
        });
        if (BrokenRule.drainsWriters()) {
            pins.awaitDrained(first, end);
        }
    }

    void thawAll() {
        thaw(0, Long.MAX_VALUE);
    }

    /** FROZEN pages of {@code [first, end)}, the range a quiesce froze, become WRITABLE again. */
    void thaw(long first, long end) {
        table.forEachPage(first, end, (c, i, page) -> c.move(i, FROZEN, WRITABLE));
        region.waiters.signal();
    }
}
