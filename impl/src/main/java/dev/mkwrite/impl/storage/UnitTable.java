package dev.mkwrite.impl.storage;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

/**
 * What a storage handler knows about each 4 KiB unit of one file: one 64-bit word per unit, in lazily
 * allocated chunks, so the table grows with the parts of the file that were written, not with its size.
 *
 * <pre>
 *   63  62  61            41  40                                  0
 *  +---+---+----------------+-------------------------------------+
 *  | T | F | stamp (21 bits)|  allocated generation + 1 (41 bits) |
 *  +---+---+----------------+-------------------------------------+
 * </pre>
 *
 * <ul>
 *   <li><b>T, touched</b> (bit 63): a fault for the page that holds this unit began preparing it, so the
 *   unit may be WRITABLE: a writer may store into it at any moment. Sticky for the life of the table.
 *   Zero-fill never writes into a touched unit except for the fault that owns it.</li>
 *   <li><b>F, filling</b> (bit 62): a zero-fill for a neighbouring page is writing this unit. Touching waits
 *   until it is clear, so no writer is let into a unit while it is filled.</li>
 *   <li><b>stamp</b> (bits 41-61): the mapping period in which the unit was found allocated. The file's
 *   stamp moves whenever the region's mapping changes (grow, truncate, a new region over the file),
 *   which invalidates every allocation recorded before: a truncate may have freed the blocks.</li>
 *   <li><b>allocated generation + 1</b> (bits 0-40): zero if not known to be allocated; otherwise the
 *   unit's blocks are allocated for pages whose generation is at most this value minus one.</li>
 * </ul>
 *
 * <p>Ordering: words are read with volatile loads and changed only by volatile CAS, so the bits of one
 * word change together; the CAS that sets an allocation publishes the system call that made it.
 * Chunks and the directory are created under the table's lock; a reader holding an older directory may
 * miss a chunk created meanwhile and see zero, which every caller treats conservatively
 * (not allocated), and every change goes through a CAS on the real word.
 */
final class UnitTable {

    /** Bytes per unit: 4 KiB, which divides every page size and granule. */
    static final int UNIT_SHIFT = 12;
    static final int UNIT = 1 << UNIT_SHIFT;

    static final long TOUCHED = 1L << 63;
    static final long FILLING = 1L << 62;
    static final int STAMP_SHIFT = 41;
    static final int STAMP_BITS = 21;
    static final int MAX_STAMP = (1 << STAMP_BITS) - 1;
    static final long STAMP_MASK = (long) MAX_STAMP << STAMP_SHIFT;
    static final long ALLOC_MASK = (1L << STAMP_SHIFT) - 1;

    private static final int CHUNK_SHIFT = 12;
    private static final int CHUNK = 1 << CHUNK_SHIFT;
    private static final int CHUNK_MASK = CHUNK - 1;

    private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);
    private static final VarHandle SLOTS = MethodHandles.arrayElementVarHandle(long[][].class);

    private volatile long[][] directory = new long[16][];

    /** The unit that holds byte {@code offset}. */
    static long unit(long offset) {
        return offset >>> UNIT_SHIFT;
    }

    /** The first unit at or after byte {@code offset}: the unit count of {@code offset} bytes. */
    static long unitCeil(long offset) {
        return (offset + UNIT - 1) >>> UNIT_SHIFT;
    }

    static boolean touched(long word) {
        return (word & TOUCHED) != 0;
    }

    static boolean filling(long word) {
        return (word & FILLING) != 0;
    }

    /** Whether {@code word} says the unit is allocated for a page of {@code generation} in {@code stamp}. */
    static boolean allocated(long word, int stamp, long generation) {
        long alloc = word & ALLOC_MASK;
        return alloc != 0 && ((word & STAMP_MASK) >>> STAMP_SHIFT) == stamp && generation < alloc;
    }

    /** {@code word} with an allocation for pages up to {@code generation} in {@code stamp}. */
    static long withAllocation(long word, int stamp, long generation) {
        long alloc = Math.min(generation, ALLOC_MASK - 1) + 1;
        if (((word & STAMP_MASK) >>> STAMP_SHIFT) == stamp) {
            alloc = Math.max(alloc, word & ALLOC_MASK);
        }
        return (word & (TOUCHED | FILLING)) | ((long) stamp << STAMP_SHIFT) | alloc;
    }

    /** The word of {@code unit}, volatile; zero for a unit whose chunk was never created. */
    long wordVolatile(long unit) {
        long[] chunk = chunk(unit);
        return chunk == null ? 0 : (long) WORDS.getVolatile(chunk, (int) (unit & CHUNK_MASK));
    }

    /** Volatile CAS of {@code unit}'s word, creating its chunk; returns the witness. */
    long cas(long unit, long expected, long next) {
        long[] chunk = chunkOrCreate(unit);
        return (long) WORDS.compareAndExchange(chunk, (int) (unit & CHUNK_MASK), expected, next);
    }

    /** Sets {@code bits} in the word of {@code unit}; returns the word before. */
    long setBits(long unit, long bits) {
        long[] chunk = chunkOrCreate(unit);
        return (long) WORDS.getAndBitwiseOr(chunk, (int) (unit & CHUNK_MASK), bits);
    }

    /** Clears {@code bits} in the word of {@code unit}; returns the word before. */
    long clearBits(long unit, long bits) {
        long[] chunk = chunkOrCreate(unit);
        return (long) WORDS.getAndBitwiseAnd(chunk, (int) (unit & CHUNK_MASK), ~bits);
    }

    /** Records an allocation of {@code [from, to)} units for pages up to {@code generation} in {@code stamp}. */
    void recordAllocated(long from, long to, int stamp, long generation) {
        for (long u = from; u < to; u++) {
            long[] chunk = chunkOrCreate(u);
            int i = (int) (u & CHUNK_MASK);
            long w = (long) WORDS.getVolatile(chunk, i);
            for (;;) {
                long witness = (long) WORDS.compareAndExchange(chunk, i, w, withAllocation(w, stamp, generation));
                if (witness == w) {
                    break; // volatile CAS: publishes the allocation made before it
                }
                w = witness;
            }
        }
    }

    /** Whether every unit of {@code [from, to)} is allocated for pages of {@code generation} in {@code stamp}. */
    boolean allAllocated(long from, long to, int stamp, long generation) {
        for (long u = from; u < to; u++) {
            if (!allocated(wordVolatile(u), stamp, generation)) {
                return false;
            }
        }
        return true;
    }

    /**
     * The first unit at or after {@code from} that may hold blocks no writer uses: an allocation is
     * recorded for it (in any mapping period) and no fault touched it, nor does a fill hold it. A hint, read
     * without a claim; -1 if there is none.
     */
    long nextUntouchedAllocated(long from) {
        long[][] dir = directory;
        for (long u = Math.max(from, 0); (u >>> CHUNK_SHIFT) < dir.length; ) {
            long[] chunk = (long[]) SLOTS.getAcquire(dir, (int) (u >>> CHUNK_SHIFT));
            if (chunk == null) {
                u = ((u >>> CHUNK_SHIFT) + 1) << CHUNK_SHIFT;
                continue;
            }
            for (int i = (int) (u & CHUNK_MASK); i < CHUNK; i++, u++) {
                long w = (long) WORDS.getVolatile(chunk, i);
                if ((w & ALLOC_MASK) != 0 && (w & (TOUCHED | FILLING)) == 0) {
                    return u;
                }
            }
        }
        return -1;
    }

    /** Forgets every allocation, keeping touched and filling bits. For when the stamp wraps. */
    void clearAllocations() {
        long[][] dir = directory;
        for (long[] chunk : dir) {
            if (chunk == null) {
                continue;
            }
            for (int i = 0; i < CHUNK; i++) {
                WORDS.getAndBitwiseAnd(chunk, i, TOUCHED | FILLING);
            }
        }
    }

    /** Approximate heap bytes of the table. */
    long bytes() {
        long[][] dir = directory;
        long n = 16L + 8L * dir.length;
        for (long[] chunk : dir) {
            if (chunk != null) {
                n += 16L + 8L * CHUNK;
            }
        }
        return n;
    }

    private long[] chunk(long unit) {
        long[][] dir = directory;
        long slot = unit >>> CHUNK_SHIFT;
        return slot < dir.length ? (long[]) SLOTS.getAcquire(dir, (int) slot) : null;
    }

    private long[] chunkOrCreate(long unit) {
        long[] chunk = chunk(unit);
        return chunk != null ? chunk : create(unit);
    }

    /** Creates the chunk of {@code unit}, growing the directory if needed. Rare: once per 16 MiB of file. */
    private synchronized long[] create(long unit) {
        long slot = unit >>> CHUNK_SHIFT;
        if (slot >= Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("offset " + (unit << UNIT_SHIFT) + " is beyond what mkwrite tracks");
        }
        long[][] dir = directory;
        if (slot >= dir.length) {
            // Every slot is written under this lock, so the copy misses none.
            dir = Arrays.copyOf(dir, (int) Math.min(Integer.MAX_VALUE - 8L, Math.max(slot + 1, dir.length * 2L)));
            directory = dir; // volatile: publishes the copied slots
        }
        long[] chunk = (long[]) SLOTS.getAcquire(dir, (int) slot);
        if (chunk == null) {
            chunk = new long[CHUNK];
            SLOTS.setRelease(dir, (int) slot, chunk); // release: publishes the zeroed chunk
        }
        return chunk;
    }
}
