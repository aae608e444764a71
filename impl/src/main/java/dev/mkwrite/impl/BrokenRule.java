package dev.mkwrite.impl;

import org.slf4j.LoggerFactory;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Deliberately broken variants of the protocol, for one purpose: to show that each concurrency test can
 * fail. A test that never fails against broken code proves nothing.
 *
 * <p>Selected only by the system property {@value #PROPERTY}, read once into a constant, so that the JIT
 * removes every check when it is unset. Never set it outside the test suites; a loud error is logged when
 * it is.
 */
enum BrokenRule {
    /** The real protocol. */
    NONE,
    /** G4/K6: a retry adopts a PREPARING page without comparing generations. */
    SKIP_GENERATION_CHECK,
    /** G1/K3: the page becomes WRITABLE before the handler runs. */
    PUBLISH_BEFORE_PREPARE,
    /** G5/K8: flush forces pages without waiting for their writers to leave. */
    FLUSH_WITHOUT_DRAIN,
    /** G3/K4: a retry may drop the lock again. */
    DROP_LOCK_ON_RETRY,
    /** G7/K4: dropLock() returns without releasing the region lock. */
    KEEP_LOCK_ON_DROP,
    /** G6/K2: grow, truncate and close swap the mapping without draining pinned writers. */
    REMAP_WITHOUT_DRAIN,
    /**
     * G6/K2: a mapping a grow retired waits for the writers pinned through hazard slots only, not for those
     * pinned through the pages' state words ({@link Pins.StatePins}), and is unmapped under them.
     */
    STATE_PINS_IGNORED,
    /** G2/K5: a retry that finds its page prepared by another fault keeps its own reservation too. */
    LEAK_REDUNDANT_RESERVATION,
    /** G2/K5: a fault that read a CLEAN page prepares it even when its claim CAS lost to another fault. */
    CLAIM_WITHOUT_CAS,
    /**
     * G5/G6: the hazard pin's Dekker pair has no StoreLoad on the writer's side: without
     * {@link AsymmetricFence#ON} the writer publishes with a release store instead of its CAS; with it, the
     * drainer leaves out the membarrier that stands in for the writer's fence.
     */
    PIN_WITHOUT_FENCE,
    /**
     * G5/G6 with {@link AsymmetricFence#ON}: the drainer leaves out its membarrier whenever no hazard slot
     * holds a range when it looks, instead of only when no other live thread owns a slot. A range a writer
     * has just stored may not be visible yet: that is the reordering the barrier is there for.
     */
    FENCE_SKIPPED_WHEN_SLOTS_LOOK_EMPTY,
    /**
     * G5/G6 with {@link AsymmetricFence#ON}: a writer whose slot a drainer revoked (drainers then leave out
     * the membarrier on its account) still publishes without its own fence, and keeps a pin whose state
     * read may have come before its slot store was visible.
     */
    REVOKED_PIN_WITHOUT_FENCE,
    /**
     * G5/G6: a {@link Writer}'s own slot is never added to the slots drainers scan, so a drainer misses a
     * pin published there.
     */
    WRITER_SLOT_UNSCANNED,
    /** G5/K8 without stable pages: a page written again during its writeback is made CLEAN regardless. */
    CLEAN_AFTER_WRITEBACK,
    /** Fault-around: the pages a fault prepares around its own become WRITABLE (dirty), not PREPARED. */
    AROUND_MARKS_DIRTY,
    /** Fault-around: the offer runs to the region's last page, even one the region covers only in part. */
    AROUND_PAST_END,
    /** Fault-around/K6: truncate and punchHole leave a PREPARED page as it was, at its old generation. */
    AROUND_SURVIVES_TRUNCATE,
    /**
     * Fault-around/G6: quiesce leaves PREPARED pages to the removal, which drops them with a plain store, so a
     * writer entering one without the lock races the exclusive operation.
     */
    QUIESCE_LEAVES_PREPARED,
    /**
     * Fault-around/G3: the run's pages leave PREPARING without waking the writers that wait for them. The
     * faulting thread also stops for {@link #PREEMPTION_MILLIS} between its own page's publish (which wakes
     * waiters) and the run's: a stand-in for a preemption at that point, without which a writer that woke
     * for the first page and sleeps again before the run's CAS is a window of some nanoseconds.
     */
    AROUND_WAKES_NOBODY,
    /**
     * Statistics: a fault's page is counted WRITABLE only after the CAS that lets other writers write it,
     * and the faulting thread first stops for {@link #PREEMPTION_MILLIS} there (a stand-in for a preemption
     * in a window of some nanoseconds), so a write that returned can find its page still counted PREPARING.
     */
    COUNTS_AFTER_PUBLISH,
    /**
     * G5/K8 with written-back pages kept prepared ({@link dev.mkwrite.WriteFaultHandler#preparesOverwrites}
     * false): a page written again during its writeback is kept PREPARED regardless, not left dirty.
     */
    KEPT_PREPARED_REGARDLESS,
    /**
     * Lock-free reads: their memory is the whole mapping, room to grow included, not a slice of the
     * region's size, so the copy's bounds check no longer stands for the size check.
     */
    READS_UNSIZED,
    /**
     * Lock-free reads: a grow in place publishes the larger read memory before the file grows, and then
     * stops for {@link #PREEMPTION_MILLIS} (a stand-in for a preemption between the two).
     */
    READS_BEFORE_GROW,
    /**
     * Lock-free reads: a read that met an arena closed under it keeps the interrupt HotSpot sent its thread
     * with the asynchronous exception, as if the application had sent it.
     */
    READS_KEEP_CLOSERS_INTERRUPT;

    /** How long {@link #AROUND_WAKES_NOBODY} holds the faulting thread before it publishes the run. */
    static final long PREEMPTION_MILLIS = 1;

    static final String PROPERTY = "dev.mkwrite.impl.testing.brokenRule";

    static final BrokenRule ACTIVE = load();

    private static BrokenRule load() {
        String name = System.getProperty(PROPERTY);
        if (name == null || name.isBlank()) {
            return NONE;
        }
        BrokenRule rule = valueOf(name.trim());
        LoggerFactory.getLogger(BrokenRule.class).error(
                "mkwrite runs with the deliberately broken rule {} ({}={}); this is for tests only", rule, PROPERTY, name);
        return rule;
    }

    static boolean active(BrokenRule rule) {
        return ACTIVE == rule;
    }

    // ---------------------------------------------------------------------------------------------
    // The protocol's checks, named for what they assert. Each holds as written unless its broken
    // variant is active; the protocol code calls these instead of testing for variants, so it reads
    // straight. ACTIVE is a constant: with no variant the JIT folds each to the real check.

    /** K5: the claim CAS on a CLEAN page won ({@code witness == expected}). */
    static boolean claimWon(long witness, long expected) {
        return witness == expected || ACTIVE == CLAIM_WITHOUT_CAS;
    }

    /** K6: a retry's page is still at the generation it claimed. */
    static boolean sameGeneration(long generation, long claimed) {
        return generation == claimed || ACTIVE == SKIP_GENERATION_CHECK;
    }

    /** K3: the page becomes WRITABLE only after the handler prepared it (else it is published early). */
    static boolean publishesAfterPrepare() {
        return ACTIVE != PUBLISH_BEFORE_PREPARE;
    }

    /** K3: the publishing CAS found the claim it expected ({@code witness == expected}). */
    static boolean publishWon(long witness, long expected) {
        return witness == expected || ACTIVE == PUBLISH_BEFORE_PREPARE || ACTIVE == SKIP_GENERATION_CHECK;
    }

    /** K8: writeback forces a page only once its writers have left ({@code drained}). */
    static boolean mayForce(boolean drained) {
        return drained || ACTIVE == FLUSH_WITHOUT_DRAIN;
    }

    /** K4: an attempt may drop the lock only if it is not already a retry. */
    static boolean mayDropLock(boolean retry) {
        return !retry || ACTIVE == DROP_LOCK_ON_RETRY;
    }

    /** K4: {@code dropLock()} releases the region lock. */
    static boolean dropReleasesLock() {
        return ACTIVE != KEEP_LOCK_ON_DROP;
    }

    /** K2: exclusive operations wait for pinned writers before they change or unmap the mapping. */
    static boolean drainsWriters() {
        return ACTIVE != REMAP_WITHOUT_DRAIN;
    }

    /** K2: a retired mapping waits for the writers pinned through the pages' state words too. */
    static boolean waitsForStatePins() {
        return ACTIVE != STATE_PINS_IGNORED;
    }

    /** K5: a reservation made redundant (the page was prepared by another fault, or truncated) is released. */
    static boolean releasesRedundant() {
        return ACTIVE != LEAK_REDUNDANT_RESERVATION;
    }

    /**
     * K8 without stable pages: a page written during its writeback stays dirty for the next flush, in a
     * region whose written-back pages are CLEAN or, {@code keptPrepared}, PREPARED.
     */
    static boolean keepsRedirtied(boolean keptPrepared) {
        return ACTIVE != CLEAN_AFTER_WRITEBACK && !(keptPrepared && keepsPreparedRegardless());
    }

    /** K8 with pages kept prepared: a page written during its writeback is kept PREPARED regardless. */
    static boolean keepsPreparedRegardless() {
        return ACTIVE == KEPT_PREPARED_REGARDLESS;
    }

    /** G5/G6: the hazard pin has its StoreLoad: the writer's CAS, or the drainer's membarrier. */
    static boolean fencesPin() {
        return ACTIVE != PIN_WITHOUT_FENCE;
    }

    /**
     * G5/G6: whether the drainer may go without its membarrier because no slot holds a range when it looks
     * (broken: {@link #FENCE_SKIPPED_WHEN_SLOTS_LOOK_EMPTY}); the real rule asks who owns the slots.
     */
    static boolean skipsFenceWhenSlotsLookEmpty() {
        return ACTIVE == FENCE_SKIPPED_WHEN_SLOTS_LOOK_EMPTY;
    }

    /** G5/G6: whether drainers scan the writers' own slots (broken: {@link #WRITER_SLOT_UNSCANNED}). */
    static boolean scansWriterSlots() {
        return ACTIVE != WRITER_SLOT_UNSCANNED;
    }

    /**
     * G5/G6: whether a writer whose hazard slot was revoked fences its pin itself (broken:
     * {@link #REVOKED_PIN_WITHOUT_FENCE}).
     */
    static boolean fencesRevokedPin() {
        return ACTIVE != REVOKED_PIN_WITHOUT_FENCE;
    }

    /** Fault-around: pages prepared around a fault stay clean (PREPARED) until a writer enters them. */
    static boolean aroundMarksDirty() {
        return ACTIVE == AROUND_MARKS_DIRTY;
    }

    /** Fault-around: the offer stops before a last page the region covers only in part (else it runs to it). */
    static boolean aroundPastEnd() {
        return ACTIVE == AROUND_PAST_END;
    }

    /** Fault-around/K6: a PREPARED page that an exclusive operation removes ends, its reservation released. */
    static boolean dropsRemovedPrepared() {
        return ACTIVE != AROUND_SURVIVES_TRUNCATE;
    }

    /**
     * Fault-around/G3: publishing the run wakes the writers waiting for its pages. Called as the run's
     * publish begins; the broken variant first stops the thread there (see {@link #AROUND_WAKES_NOBODY}).
     */
    static boolean aroundWakesWriters() {
        if (ACTIVE != AROUND_WAKES_NOBODY) {
            return true;
        }
        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(PREEMPTION_MILLIS));
        return false;
    }

    /** Statistics: a fault's page is counted out of PREPARING before the CAS that publishes it. */
    static boolean countsBeforePublish() {
        return ACTIVE != COUNTS_AFTER_PUBLISH;
    }

    /** {@link #COUNTS_AFTER_PUBLISH}'s stand-in for a preemption, between the publish and the count. */
    static void preemptBeforeCount() {
        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(PREEMPTION_MILLIS));
    }

    /** Fault-around/G6: quiesce takes PREPARED pages by CAS, away from writers that enter them without a lock. */
    static boolean quiesceTakesPrepared() {
        return ACTIVE != AROUND_SURVIVES_TRUNCATE && ACTIVE != QUIESCE_LEAVES_PREPARED;
    }

    /** Lock-free reads: the memory they read through is {@code memory} sliced to the region's {@code size}. */
    static MemorySegment readSlice(MemorySegment memory, long size) {
        return ACTIVE == READS_UNSIZED ? memory : memory.asSlice(0, size);
    }

    /**
     * Lock-free reads: nothing, unless {@link #READS_BEFORE_GROW} is active; then a grow in place publishes
     * its reads of {@code newSize} bytes now, before the file grows, and stops the thread.
     */
    static void publishReadsBeforeGrow(RegionState region, long newSize) {
        if (ACTIVE == READS_BEFORE_GROW) {
            MemorySegment memory = region.mapping.mappedReadSegment();
            if (memory != null) {
                region.reads.memory = memory.asSlice(0, Math.min(newSize, memory.byteSize()));
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(PREEMPTION_MILLIS));
        }
    }

    /** Lock-free reads: whether a read keeps the interrupt an arena closed under it left (the broken variant). */
    static boolean keepsClosersInterrupt() {
        return ACTIVE == READS_KEEP_CLOSERS_INTERRUPT;
    }
}
