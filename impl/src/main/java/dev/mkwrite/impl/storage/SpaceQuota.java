package dev.mkwrite.impl.storage;

import dev.mkwrite.FaultResult;
import dev.mkwrite.NoSpaceException;
import dev.mkwrite.Reservation;
import dev.mkwrite.WriteFault;
import dev.mkwrite.WriteFaultHandler;
import org.agrona.collections.Long2LongHashMap;
import org.agrona.collections.LongArrayList;

import java.nio.file.Path;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An in-process space budget shared by any number of regions: the {@code EDQUOT} analogue for an engine
 * that serves several tenants from one disk. A write whose page does not fit the budget fails with
 * {@link NoSpaceException}, like a write to a full disk, while the disk may still have room.
 *
 * <h2>Accounting</h2>
 * The budget counts bytes of pages, by file and page offset, in two states:
 * <ul>
 *   <li><b>reserved</b>: a fault took the page's bytes and the page is being written (WRITABLE, or under
 *   writeback). {@link Reservation#release()} (the write failed, the page was truncated) gives them
 *   back.</li>
 *   <li><b>charged</b>: writeback forced the page, and {@link Reservation#consume()} moved its bytes from
 *   reserved to charged: the data now occupies them. A page stays charged across clean cycles: mkwrite
 *   calls the handler again after every writeback of a page, and those faults find the page charged and
 *   take nothing more (a page that grew, as the last page of a region does, is charged the difference).
 *   So every byte is counted once, however often its page is rewritten.</li>
 * </ul>
 * Charged bytes come back only when the application says the data is gone: {@link #truncated(Path, long)}
 * after it truncated a file, {@link #punched(Path, long, long)} after it punched a hole,
 * {@link #forget(Path)} after it deleted one. A page truncated and extended
 * again without telling the quota keeps its charge and is not charged twice.
 *
 * <h2>Composition</h2>
 * A quota only counts; it does not make the disk hold the page. Chain it before a storage handler, so a
 * page is taken from the budget and then allocated, and the budget is given back if allocation fails:
 * <pre>{@code
 * SpaceQuota tenantA = StorageHandlers.quota(64L << 30);           // 64 GiB for tenant A's regions
 * try (StorageHandler storage = StorageHandlers.bestAvailable(1 << 20)) {
 *     WriteFaultHandler handler = StorageHandlers.chain(tenantA, storage);
 *     ...
 * }
 * }</pre>
 *
 * <p>Thread-safe; faults on different files and pages proceed in parallel. The budget is a single atomic
 * counter taken by CAS, so it is never exceeded, not even for an instant.
 */
public final class SpaceQuota implements WriteFaultHandler {

    private final long budget;
    /** Reserved plus charged bytes; never above {@link #budget}. */
    private final AtomicLong used = new AtomicLong();
    private final AtomicLong reserved = new AtomicLong();
    private final ConcurrentHashMap<Path, Charges> files = new ConcurrentHashMap<>();

    SpaceQuota(long budget) {
        if (budget < 0) {
            throw new IllegalArgumentException("a quota budget must be >= 0 bytes, was " + budget);
        }
        this.budget = budget;
    }

    /**
     * Takes the page's bytes from the budget, or nothing if the page is already charged.
     *
     * @throws NoSpaceException if the budget cannot hold the page
     */
    @Override
    public FaultResult prepare(WriteFault fault) {
        Charges charges = files.computeIfAbsent(fault.path(), p -> new Charges());
        long offset = fault.offset();
        // Less what the page has charged, and what a reservation of its last dirty cycle still holds: the page
        // goes CLEAN when its writeback ends, just before that reservation is consumed, and a fault may come
        // in between. Only a reservation of the same generation: one of an older generation (a fault that
        // dropped the lock, then a punch or truncate renewed the page) is released, never consumed.
        long generation = fault.generation();
        long need = charges.need(offset, generation, fault.length());
        if (need <= 0) {
            return Reservation.none();
        }
        long u = used.get();
        for (;;) {
            if (u + need > budget) {
                throw new NoSpaceException("space quota exhausted: the page needs " + need + " bytes and "
                        + (budget - u) + " of the quota's " + budget + " are left (" + reserved.get()
                        + " reserved by pages being written, the rest charged to data written back)",
                        fault.path(), offset, fault.page());
            }
            long witness = used.compareAndExchange(u, u + need); // volatile: the budget is never exceeded
            if (witness == u) {
                break;
            }
            u = witness;
        }
        reserved.addAndGet(need);
        charges.pend(offset, generation, need);
        return new QuotaReservation(charges, offset, generation, need);
    }

    /**
     * False: a page stays charged across clean cycles, so an overwrite of a written-back page takes nothing
     * from the budget, and mkwrite may let it in without asking (in a chain, the other handlers decide).
     *
     * @param path the region's file
     * @return false
     */
    @Override
    public boolean preparesOverwrites(Path path) {
        return false;
    }

    /**
     * The budget.
     *
     * @return bytes
     */
    public long budget() {
        return budget;
    }

    /**
     * Bytes taken from the budget: reserved plus charged.
     *
     * @return bytes
     */
    public long used() {
        return used.get();
    }

    /**
     * Bytes held by pages being written, not yet written back.
     *
     * @return bytes
     */
    public long reserved() {
        return reserved.get();
    }

    /**
     * Bytes charged to data that was written back.
     *
     * @return bytes
     */
    public long charged() {
        return used.get() - reserved.get();
    }

    /**
     * Bytes still available.
     *
     * @return bytes, {@code budget() - used()}
     */
    public long available() {
        return budget - used.get();
    }

    /**
     * Gives back the charges of {@code path} at and after {@code newSize}, after the application truncated
     * the file (or its region) to that size. A page that straddles {@code newSize} keeps the part before.
     * Reservations of pages being written are untouched: mkwrite releases them itself when it truncates.
     *
     * @param path    the file
     * @param newSize its new size
     * @return bytes given back
     */
    public long truncated(Path path, long newSize) {
        if (newSize < 0) {
            throw new IllegalArgumentException("newSize must be >= 0, was " + newSize + " for " + path);
        }
        Charges charges = files.get(path);
        long freed = charges == null ? 0 : charges.discard(newSize, Long.MAX_VALUE);
        used.addAndGet(-freed);
        return freed;
    }

    /**
     * Gives back the charges of {@code path} in {@code [offset, offset + length)}, after the application
     * punched that range with {@link dev.mkwrite.MappedRegion#punchHole}. Reservations of pages being
     * written are untouched: the punch releases them itself.
     *
     * @param path   the file
     * @param offset the first byte of the hole, page-aligned as punchHole requires
     * @param length the hole's length
     * @return bytes given back
     */
    public long punched(Path path, long offset, long length) {
        if (offset < 0 || length < 0 || offset + length < 0) {
            throw new IllegalArgumentException("punched(offset " + offset + ", length " + length
                    + "): both must be >= 0 and their sum must not overflow, for " + path);
        }
        Charges charges = files.get(path);
        long freed = charges == null ? 0 : charges.discard(offset, offset + length);
        used.addAndGet(-freed);
        return freed;
    }

    /**
     * Gives back every charge of {@code path}, after the application deleted the file.
     *
     * Call it after the file's region is closed.
     *
     * @param path the file
     * @return bytes given back
     */
    public long forget(Path path) {
        Charges charges = files.remove(path);
        long freed = charges == null ? 0 : charges.forget();
        used.addAndGet(-freed);
        return freed;
    }

    @Override
    public String toString() {
        return "SpaceQuota[budget " + budget + ", used " + used.get() + ", reserved " + reserved.get() + "]";
    }

    /** A page and the generation a fault prepared it for: what a reservation not yet ended holds bytes for. */
    private record Pending(long offset, long generation) {
    }

    /**
     * The charged pages of one file (page offset to charged bytes), and the bytes its reservations not yet
     * consumed nor released hold, by page and generation. Guarded by its own monitor.
     */
    private static final class Charges {
        private final Long2LongHashMap charged = new Long2LongHashMap(0);
        private final java.util.HashMap<Pending, Long> pending = new java.util.HashMap<>();
        /** The file was forgotten ({@link SpaceQuota#forget}): a reservation consumed since charges nothing. */
        private boolean forgotten;

        /** Drops every charge, and any a reservation still pending would make; returns the bytes dropped. */
        synchronized long forget() {
            forgotten = true;
            return discard(0, Long.MAX_VALUE);
        }

        /**
         * What a fault of {@code length} bytes at {@code offset}, for {@code generation}, takes from the budget:
         * neither charged nor held by a reservation of the same generation.
         */
        synchronized long need(long offset, long generation, long length) {
            return length - charged.get(offset) - pending.getOrDefault(new Pending(offset, generation), 0L);
        }

        synchronized void pend(long offset, long generation, long bytes) {
            pending.merge(new Pending(offset, generation), bytes, Long::sum);
        }

        /**
         * A reservation of {@code bytes} at {@code offset} ends: consumed ({@code charge}), or released.
         * Returns whether a consumed one was charged: not once the file was forgotten, whose bytes the caller
         * gives back to the budget then.
         */
        synchronized boolean settle(long offset, long generation, long bytes, boolean charge) {
            Pending key = new Pending(offset, generation);
            long left = pending.getOrDefault(key, 0L) - bytes;
            if (left > 0) {
                pending.put(key, left);
            } else {
                pending.remove(key);
            }
            if (charge && !forgotten) {
                charged.put(offset, charged.get(offset) + bytes);
                return true;
            }
            return false;
        }

        /**
         * Drops the charged bytes in {@code [from, to)}; returns how many. A page that straddles
         * {@code from} keeps its part before it (a truncate to the middle of a page); ranges always end at a
         * page end or past the last page, so no page keeps a part after {@code to}.
         */
        synchronized long discard(long from, long to) {
            LongArrayList hit = new LongArrayList();
            Long2LongHashMap.EntryIterator it = charged.entrySet().iterator();
            while (it.hasNext()) {
                it.next();
                if (it.getLongKey() < to && it.getLongKey() + it.getLongValue() > from) {
                    hit.addLong(it.getLongKey());
                }
            }
            long freed = 0;
            for (int i = 0; i < hit.size(); i++) {
                long offset = hit.getLong(i);
                long bytes = charged.remove(offset);
                long keep = Math.max(0, from - offset);
                freed += bytes - keep;
                if (keep > 0) {
                    charged.put(offset, keep);
                }
            }
            return freed;
        }
    }

    /** Bytes taken for one page by one fault. mkwrite calls exactly one of the callbacks, once. */
    private final class QuotaReservation implements Reservation {
        private final Charges charges;
        private final long offset;
        private final long generation;
        private final long bytes;

        QuotaReservation(Charges charges, long offset, long generation, long bytes) {
            this.charges = charges;
            this.offset = offset;
            this.generation = generation;
            this.bytes = bytes;
        }

        @Override
        public long bytes() {
            return bytes;
        }

        @Override
        public void consume() {
            boolean kept = charges.settle(offset, generation, bytes, true);
            reserved.addAndGet(-bytes);
            if (!kept) { // the file was forgotten while a flush still held this reservation (after its close)
                used.addAndGet(-bytes);
            }
        }

        @Override
        public void release() {
            charges.settle(offset, generation, bytes, false);
            reserved.addAndGet(-bytes);
            used.addAndGet(-bytes);
        }

        @Override
        public String toString() {
            return "QuotaReservation[offset " + offset + ", " + bytes + " bytes]";
        }
    }
}
