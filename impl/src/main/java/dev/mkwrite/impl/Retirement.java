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

    /** A mapping a grow replaced, and the hazard slots as they were when it was replaced. */
    private record Retired(Mapping mapping, Hazards.Snapshot hazards) {
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
     * membarrier cannot fail for want of it here, where the swap is already done.
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
            // Read after the swap: a writer that read the old mapping published its pin before.
            retired.add(new Retired(old, pins.hazardSnapshot()));
            if (reaping.compareAndSet(false, true)) {
                Unmapper.schedule(this::reap);
            }
            return true;
        }
    }

    /** Whether every writer and flush that could use the retired mapping has left it. */
    private boolean expired(Retired r) {
        return r.mapping().users() == 0 && pins.allEndedSince(r.hazards());
    }

    /** The reaper, on the unmapper thread: unmaps expired mappings; true while some remain. */
    private boolean reap() {
        synchronized (retired) {
            reaping.set(false); // set again below while some remain; a throw leaves it clear for the next retire
            retired.removeIf(r -> {
                if (!expired(r)) {
                    return false;
                }
                try {
                    return r.mapping().tryUnmap(); // a channel operation on a read view holds it: later
                } catch (RuntimeException e) {
                    LOG.get().warn("unmapping a retired mapping of {} failed; it stays mapped until collected", region.path, e);
                    return true;
                }
            });
            if (!retired.isEmpty()) {
                reaping.set(true);
                return true;
            }
            return false;
        }
    }

    /**
     * Unmaps every retired mapping, with the lock held exclusive after a full quiesce: no writer is
     * pinned, so only a flush can still be using one, finishing its writeback.
     */
    void unmapAll() {
        synchronized (retired) {
            for (Retired r : retired) {
                awaitUsers(r.mapping());
                r.mapping().unmap();
            }
            retired.clear();
        }
    }

    /** Waits until no flush uses {@code m}, which is no longer the current mapping. */
    void awaitUsers(Mapping m) {
        region.awaitUninterruptibly(() -> m.users() == 0, () -> "flushes to leave an old mapping of " + region.path);
    }

    /** Number of retired mappings not yet unmapped, for tests. */
    int count() {
        synchronized (retired) {
            return retired.size();
        }
    }
}
