package dev.mkwrite.impl;

import dev.mkwrite.FaultInterruptedException;
import dev.mkwrite.Reservation;
import dev.mkwrite.WouldBlock;

import java.util.Arrays;

import static dev.mkwrite.impl.PageState.CLEAN;
import static dev.mkwrite.impl.PageState.WRITABLE;
import static dev.mkwrite.impl.PageState.generation;
import static dev.mkwrite.impl.PageState.withState;

/**
 * The prepared pages of a write over several pages, held PREPARING until the last is prepared. Only
 * the writing thread touches it.
 *
 * <p>A write of a mebibyte holds hundreds of claims, most of them one fault-around run, so claims are
 * kept as runs: consecutive pages of one chunk claimed at one generation, published by one call into
 * the chunk; and the statistics are counted once per publish, not once per page.
 */
final class Claims {

    private final RegionState region;
    private final Ledger ledger;
    /** Run {@code r}: {@code lengths[r]} pages of {@code chunks[r]} from index {@code starts[r]}, claimed as {@code words[r]}. */
    private Chunk[] chunks = new Chunk[4];
    private int[] starts = new int[4];
    private int[] lengths = new int[4];
    private long[] words = new long[4];
    private int runs;
    /** The reservation of every page claimed, in the order of the runs. */
    private Reservation[] reservations;
    private int held;
    /** The last page fault-around handed to these claims: the write's loop skips up to it. */
    long through = -1;

    /** For a write over {@code pages} pages: room for that many reservations, up to a chunk's worth. */
    Claims(RegionState region, Ledger ledger, long pages) {
        this.region = region;
        this.ledger = ledger;
        this.reservations = new Reservation[Math.clamp(pages, 2, Chunk.PAGES)];
    }

    /** Adds page {@code i} of {@code c}, claimed as {@code claimedWord}, with reservation {@code r}. */
    void add(Chunk c, int i, long claimedWord, Reservation r) {
        append(c, i, 1, claimedWord);
        reservations[held++] = r;
    }

    /**
     * Adds fault-around's run: {@code n} consecutive pages from {@code firstPage}, each claimed as
     * {@code claimedWord}, page {@code k} in chunk {@code cs[k]} with reservation {@code rs[k]}.
     */
    void addRun(Chunk[] cs, Reservation[] rs, long firstPage, long claimedWord, int n) {
        for (int k = 0; k < n; ) {
            int i = Chunk.index(firstPage + k);
            int length = Math.min(n - k, Chunk.PAGES - i); // the part in one chunk
            append(cs[k], i, length, claimedWord);
            k += length;
        }
        room(n);
        System.arraycopy(rs, 0, reservations, held, n);
        held += n;
    }

    /** Adds a run, or extends the last one if this one continues it. */
    private void append(Chunk c, int start, int length, long word) {
        if (runs > 0) {
            int last = runs - 1;
            if (chunks[last] == c && words[last] == word && starts[last] + lengths[last] == start) {
                lengths[last] += length;
                room(length);
                return;
            }
        }
        if (runs == chunks.length) {
            int capacity = runs * 2;
            chunks = Arrays.copyOf(chunks, capacity);
            starts = Arrays.copyOf(starts, capacity);
            lengths = Arrays.copyOf(lengths, capacity);
            words = Arrays.copyOf(words, capacity);
        }
        chunks[runs] = c;
        starts[runs] = start;
        lengths[runs] = length;
        words[runs] = word;
        runs++;
        room(length);
    }

    private void room(int more) {
        if (held + more > reservations.length) {
            reservations = Arrays.copyOf(reservations, Math.max(held + more, reservations.length * 2));
        }
    }

    /**
     * Publishes every claim WRITABLE under the region lock held shared (K3: an exclusive operation
     * may have taken a claim meanwhile; then its page is faulted again by the caller's next pass).
     * Returns false, publishing nothing, if a no-wait write would have to wait for the lock (the caller
     * records {@link WouldBlock.Reason#REGION_LOCK}). The wait for the lock ends at an interrupt (K9), with
     * {@link FaultInterruptedException} and nothing published: the caller gives every claim back.
     */
    boolean publish(long offset, boolean noWait) {
        if (held == 0) {
            return true;
        }
        if (noWait) {
            if (!region.lock.readLock().tryLock()) {
                return false;
            }
        } else {
            try {
                // No handler runs under it here, but an exclusive operation may hold it for long: a grow
                // or a close writing back, a truncate waiting for pinned writers.
                region.lock.readLock().lockInterruptibly();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new FaultInterruptedException(region.path, offset, offset >>> region.pageShift, e);
            }
        }
        int count = held;
        int published = 0;
        Ledger.Kept kept = new Ledger.Kept(); // stale reservations' Errors: thrown once every claim is settled
        Counters.move(region.counters.preparing, region.counters.writable, count); // before writers may write them
        try {
            if (region.closed) {
                throw region.closedException(offset, offset >>> region.pageShift);
            }
            int page = 0; // the first page of run r, as an index into reservations
            for (int r = 0; r < runs; page += lengths[r], r++) {
                Chunk c = chunks[r];
                long claimed = words[r];
                long writable = withState(claimed, WRITABLE);
                for (int k = 0; k < lengths[r]; ) {
                    // Under the shared lock only the claim's owner moves a PREPARING page: while the
                    // word is still our claim, the page and its reservation slot are ours.
                    int done = c.publishRun(starts[r] + k, lengths[r] - k, claimed, writable, reservations, page + k);
                    if (done < 0) {
                        published += ~done;
                        int at = k + ~done;
                        long witness = c.stateAcquire(starts[r] + at);
                        giveBack(r, at, page + at, kept); // those before are settled; the rest go back (K7)
                        IllegalStateException e = new IllegalStateException("a claim changed from "
                                + PageState.describe(claimed) + " to " + PageState.describe(witness)
                                + " under the region lock [file " + region.path + "]");
                        kept.throwIfAny(e); // a reservation's Error first, this suppressed in it
                        throw e;
                    }
                    published += done;
                    k += done;
                    if (k < lengths[r]) {
                        // A truncate or punch took the claim while the lock was free between faults, and
                        // counted it; the page may even be another fault's now. The reservation is stale (K6).
                        ledger.release(reservations[page + k], kept);
                        k++;
                    }
                }
            }
            clear();
        } finally {
            // Those not published: taken by a truncate (which counted them), given back, or refused when closed.
            Counters.move(region.counters.writable, region.counters.preparing, count - published);
            region.lock.readLock().unlock();
        }
        region.waiters.signal();
        kept.throwIfAny(null); // the pages are WRITABLE, their reservations published; the write fails
        return true;
    }

    /** K7: every claim still held goes back to CLEAN, and its reservation is released. */
    void abandon() {
        if (held > 0) {
            Ledger.Kept kept = new Ledger.Kept();
            giveBack(0, 0, 0, kept);
            kept.throwIfAny(null);
        }
    }

    /**
     * Every claim from page {@code offset} of run {@code run} on ({@code page} in the reservations) goes
     * back to CLEAN and its reservation is released; then the claims are empty. An Error a reservation
     * throws goes to {@code kept}, for the caller to throw: every claim goes back first.
     */
    private void giveBack(int run, int offset, int page, Ledger.Kept kept) {
        int returned = 0;
        for (int r = run; r < runs; r++, offset = 0) {
            Chunk c = chunks[r];
            long claimed = words[r];
            long clean = PageState.word(CLEAN, generation(claimed));
            for (int k = offset; k < lengths[r]; k++, page++) {
                if (c.casState(starts[r] + k, claimed, clean) == claimed) { // volatile
                    returned++;
                } // else a truncate took the page and counted it
                ledger.release(reservations[page], kept);
            }
        }
        region.counters.preparing.add(-returned);
        clear();
        region.waiters.signal();
    }

    private void clear() {
        Arrays.fill(chunks, 0, runs, null);
        Arrays.fill(reservations, 0, held, null);
        runs = 0;
        held = 0;
    }
}
