package dev.mkwrite.impl;

import dev.mkwrite.impl.os.LazyLogger;

import java.util.ArrayDeque;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Mapping retirement. A grow that must map anew does not drain the region's writers: they go on
 * writing through the old mapping, which maps the same file pages, and a flush may still force through
 * it. The old mapping is retired here and unmapped off the growing thread ({@link Unmapper}) once
 * every writer and flush that could be using it has left.
 *
 * <p>A writer that keeps a span open across many grows must not make the address space grow without
 * bound: past {@value #MAX_RETIRED} retired mappings, {@link #retire} refuses, and the caller drains
 * every writer and unmaps synchronously.
 */
final class Retirement {

    private static final LazyLogger LOG = new LazyLogger(Retirement.class);

    /** Retired mappings a region keeps before a grow drains every writer and unmaps them itself. */
    private static final int MAX_RETIRED = 32;

    /**
     * A mapping a grow replaced, and the hazard slots as they were when it was replaced; and when the reaper
     * tries again to unmap it, after a channel operation on a read view of it held the unmap off (each wait
     * twice the last, 1 to 100 ms). Only the reaper, and a grow asking whether the list is full, read and
     * write the retry fields, both under the list's monitor.
     */
    private static final class Retired {
        private static final long FIRST_WAIT = 1_000_000L;
        private static final long LAST_WAIT = 100_000_000L;

        final Mapping mapping;
        /** Null if the snapshot failed: unmapped only by {@link #unmapAll}, after a drain of every writer. */
        final Hazards.Snapshot hazards;
        /** The epoch of state-word pins the grow ended: it waits for that one's pins and earlier ones'. */
        final Pins.StatePins statePins;
        private boolean heldOff;
        private long nextTry;
        private long wait;

        Retired(Mapping mapping, Hazards.Snapshot hazards, Pins.StatePins statePins) {
            this.mapping = mapping;
            this.hazards = hazards;
            this.statePins = statePins;
        }

        boolean due(long now) {
            return !heldOff || now - nextTry >= 0;
        }

        void heldOff(long now) {
            heldOff = true;
            wait = Math.min(LAST_WAIT, Math.max(FIRST_WAIT, 2 * wait));
            nextTry = now + wait;
        }
    }

    private final RegionState region;
    private final Pins pins;
    /** Mappings a grow replaced, until their writers and flushes leave; guarded by itself. */
    private final ArrayDeque<Retired> retired = new ArrayDeque<>();
    private final AtomicBoolean reaping = new AtomicBoolean();

    Retirement(RegionState region, Pins pins) {
        this.region = region;
        this.pins = pins;
    }

    /**
     * A grow replaced {@code old}: it is unmapped once its writers and flushes have left, off this
     * thread. Returns false if too many mappings are retired already; then the caller must drain every
     * writer, {@link #unmapAll}, and unmap {@code old} itself. Lock held exclusive, after the swap, by a
     * grow that registered at its entry ({@link AsymmetricFence#registerDrainer()}): the snapshot's
     * membarrier cannot fail for want of it here, where the swap is already done. If the barrier fails all
     * the same (the kernel refused it: ENOMEM, say), the grow has still happened; only which writers may use
     * the old mapping is unknown, so it stays mapped until every writer is drained: by the next shrink, a
     * grow that finds the list full, or the close ({@link #unmapAll}). It is logged, and the grow returns.
     */
    boolean retire(Mapping old) {
        if (!old.unmaps() && old.tryUnmap()) {
            return true; // a buffer mapping: only its read companion goes, at once (readers retry)
        } // else a channel operation on a read view holds the companion: the reaper closes it later
        if (!BrokenRule.drainsWriters()) {
            old.unmap(); // the broken variant: writers pinned through the old mapping fault
            return true;
        }
        synchronized (retired) {
            if (retired.size() >= MAX_RETIRED) {
                return false;
            }
            Pins.StatePins statePins = pins.nextEpoch(); // after the swap: later state-word pins read the new mapping
            Hazards.Snapshot hazards = null; // none: kept until a drain of every writer
            try {
                // Read after the swap: a writer that read the old mapping published its pin before.
                hazards = pins.hazardSnapshot();
            } catch (RuntimeException e) {
                LOG.get().error("the writers' barrier failed after a grow of {} replaced its mapping; the old mapping"
                        + " stays mapped until every writer is drained (a truncate, or the close)", region.path, e);
            } finally {
                retired.add(new Retired(old, hazards, statePins)); // an Error too: never left mapped for good
            }
            if (!BrokenRule.waitsForStatePins()) {
                unmapExpired(); // the broken variant: at once, not 500 us later, where a writer's state pin is no wait
            }
            if (hazards != null && reaping.compareAndSet(false, true)) {
                Unmapper.schedule(this::reap);
            }
            return true;
        }
    }

    /** Whether every writer and flush that could use the retired mapping has left it. Monitor held. */
    private boolean expired(Retired r) {
        return r.hazards != null && r.mapping.users() == 0 && pins.allEndedSince(r.hazards, r.statePins);
    }

    /** The reaper, on the unmapper thread: unmaps expired mappings; true while some remain that may expire. */
    private boolean reap() {
        synchronized (retired) {
            reaping.set(false); // set again below while some remain; a throw leaves it clear for the next retire
            unmapExpired();
            for (Retired r : retired) {
                if (r.hazards != null) { // those without wait for a drain: no use polling for them
                    reaping.set(true);
                    return true;
                }
            }
            return false;
        }
    }

    /**
     * Unmaps the expired mappings, as the reaper does, leaving the reaper's own flag alone: for a grow that
     * asks whether the list is full. Caller holds the list's monitor.
     */
    private void unmapExpired() {
        long now = System.nanoTime();
        retired.removeIf(r -> {
            if (!r.due(now) || !expired(r)) {
                return false;
            }
            try {
                if (r.mapping.tryUnmap()) {
                    return true;
                }
                r.heldOff(now); // a channel operation on a read view holds it: later, less often
                return false;
            } catch (RuntimeException e) {
                LOG.get().warn("unmapping a retired mapping of {} failed; it stays mapped until collected", region.path, e);
                return true;
            }
        });
    }

    /**
     * Unmaps every retired mapping, with the lock held exclusive after a full quiesce: no writer is
     * pinned, so only a flush can still be using one, finishing its writeback.
     */
    void unmapAll() {
        java.util.List<Retired> all;
        synchronized (retired) { // taken from the reaper; waited for outside the monitor, which the reaper needs
            all = new java.util.ArrayList<>(retired);
            retired.clear();
            pins.forgetEndedEpochs(); // no writer is pinned: the epochs of those unmapped below hold nothing
        }
        for (Retired r : all) {
            awaitUsers(r.mapping);
            r.mapping.unmap(); // may wait for a channel operation on a read view
        }
    }

    /** Waits until no flush uses {@code m}, which is no longer the current mapping. */
    void awaitUsers(Mapping m) {
        region.awaitUninterruptibly(() -> m.users() == 0, () -> "flushes to leave an old mapping of " + region.path);
    }

    /**
     * Whether {@link #retire} would refuse a mapping now, after unmapping those already expired (as the
     * reaper would). Lock held exclusive: only a grow retires, so a false answer stays false until that
     * grow's retire; a true one may turn false meanwhile, as the reaper frees room.
     */
    boolean full() {
        synchronized (retired) {
            if (retired.size() < MAX_RETIRED) {
                return false;
            }
            unmapExpired();
            return retired.size() >= MAX_RETIRED;
        }
    }

    /** Number of retired mappings not yet unmapped, for tests. */
    int count() {
        synchronized (retired) {
            return retired.size();
        }
    }
}
