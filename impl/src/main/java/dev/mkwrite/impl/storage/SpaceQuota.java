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
     * Takes the page's bytes from the budget: what the fault's length adds to what the page holds already
     * (its charge, or a reservation of it not yet ended), so nothing for a page charged or held as far.
     *
     * @throws NoSpaceException if the budget cannot hold the page
     */
    @Override
    public FaultResult prepare(WriteFault fault) {
        Charges charges = files.computeIfAbsent(fault.path(), p -> new Charges());
        return charges.reserve(fault.offset(), fault.length(), fault);
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
     * One it cannot release is that of a page whose writeback ended just before the truncate, and whose
     * reservation a flush on another thread consumes only after this call: that page is charged again, and
     * stays charged until the file is truncated or forgotten once more (the quota errs towards holding
     * bytes, never towards giving out more than the budget).
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
        return charges == null ? 0 : charges.discard(newSize, Long.MAX_VALUE);
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
        return charges == null ? 0 : charges.discard(offset, offset + length);
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
        return charges == null ? 0 : charges.forget();
    }

    @Override
    public String toString() {
        return "SpaceQuota[budget " + budget + ", used " + used.get() + ", reserved " + reserved.get() + "]";
    }

    /**
     * The pages of one file that hold bytes of the budget. A page holds its <i>level</i>: the longest of its
     * charge (the data written back, up to where it ends in the page) and of the lengths of its reservations
     * not yet ended. A fault takes from the budget what its length adds to that level, and every reservation
     * of the page is recorded until it ends: a consume raises the charge to its length, a release drops its
     * length; either gives back whatever the level falls by. So a page counts once whatever races its
     * reservations: a fault that comes between a writeback's end and that reservation's consume takes
     * nothing more (the level holds); so does one of a new generation while a fault that dropped the lock
     * still holds a reservation it will release (the level holds until the release, then the new one's
     * length holds it); and a last page that grew takes the difference. {@code used} and {@code reserved}
     * change only under this monitor, with the levels. Guarded by its own monitor.
     */
    private final class Charges {
        private final Long2LongHashMap charged = new Long2LongHashMap(0);
        /** The lengths of the page's reservations not yet ended, by page offset. */
        private final java.util.HashMap<Long, LongArrayList> open = new java.util.HashMap<>();
        /** The file was forgotten ({@link SpaceQuota#forget}): a reservation consumed since charges nothing. */
        private boolean forgotten;

        private long level(long offset) {
            long level = charged.get(offset);
            LongArrayList lengths = open.get(offset);
            if (lengths != null) {
                for (int i = 0; i < lengths.size(); i++) {
                    level = Math.max(level, lengths.getLong(i));
                }
            }
            return level;
        }

        /** {@link SpaceQuota#prepare}: takes what {@code length} adds to the page's level, and records it. */
        synchronized FaultResult reserve(long offset, long length, WriteFault fault) {
            long charge = charged.get(offset);
            if (charge >= length) {
                return Reservation.none(); // written back already as far as this fault reaches
            }
            long need = Math.max(0, length - level(offset));
            long u = used.get();
            while (need > 0) {
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
            open.computeIfAbsent(offset, o -> new LongArrayList()).addLong(length);
            return new QuotaReservation(this, offset, length, need);
        }

        /**
         * A reservation of {@code length} at {@code offset} ends: consumed ({@code charge}), or released.
         * Gives back what the page's level falls by: nothing for a consume, unless the file was forgotten.
         */
        synchronized void settle(long offset, long length, boolean charge) {
            long before = level(offset);
            long chargedBefore = charged.get(offset);
            LongArrayList lengths = open.get(offset);
            lengths.removeAt(lengths.indexOf(length));
            if (lengths.isEmpty()) {
                open.remove(offset);
            }
            if (charge && !forgotten && length > chargedBefore) {
                charged.put(offset, length);
            }
            account(before, chargedBefore, level(offset), charged.get(offset));
        }

        /**
         * Moves {@code used} and {@code reserved} by a page's change of level and charge: when {@code used}
         * falls, {@code reserved} first, so that {@link SpaceQuota#charged()} ({@code used - reserved}) read between
         * the two is never below what it was and after.
         */
        private void account(long levelBefore, long chargedBefore, long levelAfter, long chargedAfter) {
            long usedBy = levelAfter - levelBefore;
            long reservedBy = (levelAfter - chargedAfter) - (levelBefore - chargedBefore);
            if (usedBy < 0) {
                reserved.addAndGet(reservedBy);
                used.addAndGet(usedBy);
            } else {
                used.addAndGet(usedBy);
                reserved.addAndGet(reservedBy);
            }
        }

        /** Drops every charge, and any a reservation still open would make; returns the bytes given back. */
        synchronized long forget() {
            forgotten = true;
            return discard(0, Long.MAX_VALUE);
        }

        /**
         * Drops the charged bytes in {@code [from, to)}; returns the bytes given back to the budget (a page a
         * reservation still holds keeps its level until that ends). A page that straddles {@code from} keeps
         * its part before it (a truncate to the middle of a page); ranges always end at a page end or past
         * the last page, so no page keeps a part after {@code to}.
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
                long before = level(offset);
                long bytes = charged.remove(offset);
                long keep = Math.max(0, from - offset);
                if (keep > 0) {
                    charged.put(offset, keep);
                }
                long after = level(offset);
                account(before, bytes, after, keep);
                freed += before - after;
            }
            return freed;
        }
    }

    /** One fault's hold on a page, of its length. mkwrite calls exactly one of the callbacks, once. */
    private static final class QuotaReservation implements Reservation {
        private final Charges charges;
        private final long offset;
        private final long length;
        /** What the fault took from the budget: its length above the page's level then. */
        private final long bytes;

        QuotaReservation(Charges charges, long offset, long length, long bytes) {
            this.charges = charges;
            this.offset = offset;
            this.length = length;
            this.bytes = bytes;
        }

        @Override
        public long bytes() {
            return bytes;
        }

        @Override
        public void consume() {
            charges.settle(offset, length, true);
        }

        @Override
        public void release() {
            charges.settle(offset, length, false);
        }

        @Override
        public String toString() {
            return "QuotaReservation[offset " + offset + ", " + length + " bytes held, " + bytes + " taken]";
        }
    }
}
