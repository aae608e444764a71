package dev.mkwrite.impl;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A directory of lazily allocated {@link Chunk}s. A 1 TiB region of 4 KiB pages has a directory of
 * 65,536 references (256 KiB) and one 48 KiB chunk per 16 MiB that has been written.
 *
 * <p>Ordering and locking: the directory array is replaced only under the region lock held exclusive,
 * after every pin drained, and published with a volatile store. Chunks are created under the region
 * lock held shared and published into a directory slot by CAS (release); the lock-free fast path reads
 * the directory (volatile) and the slot (acquire), so it sees a chunk's initial states.
 */
final class PageTable {

    private static final VarHandle SLOTS = MethodHandles.arrayElementVarHandle(Chunk[].class);

    private volatile Chunk[] directory;
    private final AtomicInteger allocated = new AtomicInteger();

    PageTable(long pages) {
        directory = new Chunk[slots(pages)];
    }

    private static int slots(long pages) {
        long n = (pages + Chunk.MASK) >>> Chunk.SHIFT;
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("region too large for the page size: " + pages + " pages");
        }
        return (int) n;
    }

    /**
     * The chunk holding {@code page}, or null if none was allocated (or the page lies past the end). The
     * directory is read volatile and the slot with acquire: pairs with the CAS that published the chunk,
     * so its initial states are seen.
     */
    Chunk chunkAcquire(long page) {
        Chunk[] dir = directory;
        long slot = page >>> Chunk.SHIFT;
        return slot < dir.length ? (Chunk) SLOTS.getAcquire(dir, (int) slot) : null;
    }

    /**
     * {@link #chunkAcquire} for the writes' fast path, one range check instead of two: the slot is the
     * page's low bits, so a page past 2^43 may alias a chunk of the region. The fast path checks its end
     * against the region's size after the pin and backs off, so an alias pins nothing it writes.
     */
    Chunk chunkForFastPin(long page) {
        Chunk[] dir = directory;
        int slot = (int) (page >>> Chunk.SHIFT);
        // One unsigned compare for both bounds: a negative slot is a large unsigned one.
        return Integer.compareUnsigned(slot, dir.length) < 0 ? (Chunk) SLOTS.getAcquire(dir, slot) : null;
    }

    /**
     * The chunk holding {@code page}, allocating it with every page CLEAN at {@code generation}.
     * Caller holds the region lock (shared or exclusive) and has checked that the page is in the region.
     */
    Chunk chunkOrCreate(long page, long generation) {
        Chunk[] dir = directory;
        int slot = (int) (page >>> Chunk.SHIFT);
        Chunk c = (Chunk) SLOTS.getAcquire(dir, slot); // pairs with the CAS below, in another fault
        if (c != null) {
            return c;
        }
        Chunk fresh = new Chunk(generation);
        Chunk witness = (Chunk) SLOTS.compareAndExchange(dir, slot, null, fresh); // publishes fresh
        if (witness != null) {
            return witness;
        }
        allocated.incrementAndGet();
        return fresh;
    }

    /** Number of directory slots; chunks are visited by slot. Caller holds the region lock. */
    int slots() {
        return directory.length;
    }

    /** The chunk in {@code slot}, or null; acquire, as {@link #chunkAcquire}. Caller holds the region lock. */
    Chunk slotAcquire(int slot) {
        return (Chunk) SLOTS.getAcquire(directory, slot);
    }

    /** What {@link #forEachPage} does with one page: {@code i} is its index in chunk {@code c}. */
    @FunctionalInterface
    interface PageAction {
        void apply(Chunk c, int i, long page);
    }

    /**
     * Calls {@code action} for every page of {@code [first, end)} that lies in an allocated chunk, in
     * order; pages of chunks never allocated are CLEAN in the region's first epoch and are skipped.
     * {@code end} may lie past the table (Long.MAX_VALUE for every page). Caller holds the region lock.
     */
    void forEachPage(long first, long end, PageAction action) {
        Chunk[] dir = directory;
        long stop = Math.min(end, (long) dir.length << Chunk.SHIFT);
        for (long slot = first >>> Chunk.SHIFT; slot < dir.length && slot << Chunk.SHIFT < stop; slot++) {
            Chunk c = (Chunk) SLOTS.getAcquire(dir, (int) slot); // acquire: as chunkAcquire
            if (c == null) {
                continue;
            }
            long base = slot << Chunk.SHIFT;
            for (long page = Math.max(first, base), to = Math.min(stop, base + Chunk.PAGES); page < to; page++) {
                action.apply(c, Chunk.index(page), page);
            }
        }
    }

    /**
     * Resizes the directory to cover {@code pages}, dropping chunks wholly past the end. Caller holds
     * the region lock exclusive with every pin drained, and has already made every dropped page CLEAN.
     */
    void resize(long pages) {
        Chunk[] old = directory;
        int n = slots(pages);
        Chunk[] dir = Arrays.copyOf(old, n);
        int live = 0;
        for (Chunk c : dir) {
            if (c != null) {
                live++;
            }
        }
        allocated.set(live);
        directory = dir; // volatile: publishes the new directory
    }

    /**
     * The sum of the pin counts of every allocated page: a racy snapshot, read without the region lock,
     * for statistics and leak checks. Costs one acquire load per allocated page.
     */
    long pins() {
        Chunk[] dir = directory;
        long sum = 0;
        for (int slot = 0; slot < dir.length; slot++) {
            Chunk c = (Chunk) SLOTS.getAcquire(dir, slot);
            if (c != null) {
                for (int i = 0; i < Chunk.PAGES; i++) {
                    sum += PageState.pins(c.stateAcquire(i));
                }
            }
        }
        return sum;
    }

    long metadataBytes() {
        return (long) directory.length * Integer.BYTES + 16 + (long) allocated.get() * Chunk.BYTES;
    }
}
