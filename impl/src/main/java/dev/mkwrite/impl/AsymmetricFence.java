package dev.mkwrite.impl;

import dev.mkwrite.impl.os.Errno;
import dev.mkwrite.impl.os.NativeAccess;
import dev.mkwrite.impl.os.PosixNative;
import org.slf4j.LoggerFactory;

import java.util.function.LongSupplier;

/**
 * The StoreLoad fence of the hazard pin's Dekker pair, moved from the writer, who pins on every write,
 * to the drainer, who drains once per flush or exclusive operation: {@code membarrier(2)}'s
 * {@code MEMBARRIER_CMD_PRIVATE_EXPEDITED}, as userspace RCU and Folly's asymmetric barriers use it.
 *
 * <h2>The pair</h2>
 * A writer stores its range into its hazard slot, then reads the pages' states; a drainer moves the pages
 * out of WRITABLE with a CAS, then reads the slots. Dekker needs a StoreLoad fence between each side's
 * store and its load. With {@link #ON}, the writer's side has none in hardware, only a compiler barrier
 * ({@link #light()}); the drainer calls {@link #heavy()} between its CAS and its first read of a slot. The
 * kernel returns from {@code membarrier} only after every thread of this process that was running on a
 * CPU has executed a full memory barrier (an interrupt), and a thread that was not running passes one when
 * it is scheduled again. So each writer has a point, between the drainer's CAS and its slot reads, where
 * everything the writer did before in program order is visible and nothing it does after was done before:
 * <ul>
 *   <li>the point falls after the writer's slot store: the drainer reads the slot and waits for it;</li>
 *   <li>it falls before the writer's state read: the read comes after the CAS and sees the page taken,
 *   and the writer backs off;</li>
 *   <li>both, when it falls between them: the drainer waits, the writer backs off and clears its slot.</li>
 * </ul>
 * Either way no writer stores into a page the drainer believes drained. Reads of a slot after the first,
 * while the drainer polls for it to change, need no second barrier: a writer that publishes again
 * afterwards reads the page taken, by the same argument.
 *
 * <h2>The compiler's half</h2>
 * The kernel orders what the CPU does; the writer's program order must also survive the JIT. The Java
 * memory model does not forbid moving a plain or opaque load before an earlier store to another
 * variable, so the writer puts {@link java.lang.invoke.VarHandle#releaseFence()} between them. In HotSpot
 * (C1, C2) and Graal a fence intrinsic is a barrier to every memory access in the compiler's graph (C2's
 * {@code MemBarNode} takes and produces the whole memory state, so a later load depends on it and cannot be
 * scheduled above it); on x86 it emits no instruction, on AArch64 a {@code dmb ishst}-class barrier. The
 * interpreter runs in program order. This is the one place where mkwrite relies on how the JIT compiles
 * rather than on the memory model alone; {@code Protocol_09_HazardPin} (jcstress) checks the pair on
 * every run, and has failed when the drainer's barrier and its owners' scan are left out
 * ({@link BrokenRule#PIN_WITHOUT_FENCE}): a window of some nanoseconds, seen in 1 to 13 samples of
 * 200,000-350,000 in quick mode; with the scan kept and the barrier left out, one quick run saw none.
 *
 * <h2>When the drainer goes without it</h2>
 * Only a thread that owns a hazard slot publishes without a fence, and it owns one only after a claiming
 * CAS. So the drainer first reads the slots' owners, volatile, after its CAS; it calls {@link #heavy()}
 * only if another live thread owns one that is not revoked ({@link Hazards#beginRevoking}). A thread that
 * claims after that read orders its state read after its own CAS and sees the page taken. A slot stays
 * owned while its thread lives (the prepare-ahead daemon pins through the state words, and owns none). A
 * thread that writes and flushes alone, a durable-ack store, then never makes the system call, which costs
 * about a microsecond on every flush on this project's virtual machines, and 4-5 us in their slow hours
 * (row 7 on tmpfs: 1.6-1.7 us a write and flush with it, 0.65 us without), more than the writer's CAS it
 * replaces saves in a hundred writes.
 *
 * <p>The call the drainer makes also revokes the slots it is made for, as a JVM revoked a biased lock:
 * from then on their owners fence each pin themselves (a full fence and the states read again, after a
 * check of the slot's mode that follows the pin's state reads), and the next drainers go without the call
 * on their account; an owner makes its slot biased again after {@link Hazards#REBIAS_AFTER} fenced pins.
 * So another thread that wrote once and lives on (a main thread that wrote a header, a pool's thread)
 * costs one barrier, not one per flush, and writers that flush after every write make one barrier per
 * {@code REBIAS_AFTER} pins of each other. The argument is at {@link Hazards#beginRevoking}.
 *
 * <p>{@code Protocol_09_HazardPin} runs all of it, a slot claimed in every sample (only a fenced sample can
 * end with the writer holding its pin); it fails with {@link BrokenRule#FENCE_SKIPPED_WHEN_SLOTS_LOOK_EMPTY},
 * which asks whether any range is published instead of who may publish, and, in its {@code Revoked} test,
 * with {@link BrokenRule#REVOKED_PIN_WITHOUT_FENCE}, whose revoked writers still publish without a fence.
 *
 * <h2>When it is off</h2>
 * Without native access, on a kernel without the command, or with the system property
 * {@value #SYMMETRIC_PROPERTY} set, {@link #ON} is false and the writer claims and publishes its slot with
 * a CAS, a full fence, as before; {@link #heavy()} does nothing. The choice is made once, at class
 * initialisation, so every writer and drainer in the JVM agree.
 *
 * <h2>Registration</h2>
 * The command needs the process registered first ({@code MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED}),
 * which waits out an RCU grace period: about 6 ms, measured with {@code strace -T} on this project's
 * machines, on the path to a cold JVM's first write if it ran at class initialisation. Only the drainer
 * needs it, so every drainer calls {@link #registerDrainer()} at its entry (flush, grow, truncate,
 * punchHole, close), before its first CAS on a page's state; the first of the process registers, once, and
 * the rest read a volatile flag. The class initialisation asks only whether the kernel has the command
 * ({@code MEMBARRIER_CMD_QUERY}, microseconds). Once the query lists both commands, registration can fail
 * only in allocating a CPU mask ({@code ENOMEM}), an allocation small enough that the kernel's allocator
 * retries rather than fails it, so the writers' choice made at initialisation stands. A registration that
 * failed all the same would leave writers without their fence: the drainer then throws at its entry,
 * having changed nothing (no page taken out of WRITABLE, no mapping swapped), and the next drainer tries
 * to register again. Registering there and not at {@link #heavy()}, which runs after the CASes, is what
 * keeps a failure from leaving pages under writeback or FROZEN; {@link #heavy()} called unregistered is a
 * drainer that missed its entry's call, and throws.
 */
final class AsymmetricFence {

    /** Set to {@code true} to keep the writer's CAS (for comparison; the suites run both). */
    static final String SYMMETRIC_PROPERTY = "dev.mkwrite.impl.symmetricPins";

    /** Whether the writer's side goes without a fence, and {@link #heavy()} calls {@code membarrier}. */
    static final boolean ON = supported();

    /** Whether this process is registered for the command: by the first {@link #registerDrainer()} (class comment). */
    private static volatile boolean registered;

    /**
     * A stand-in for the registration's system call, set by a test to make it fail; null, the system call.
     * Guarded by the class's lock, as {@link #registered} is written.
     */
    private static LongSupplier registrationForTests;

    /** A stand-in for {@link #heavy()}'s system call, set by a test to make it fail; null, the system call. */
    private static volatile LongSupplier barrierForTests;

    private AsymmetricFence() {
    }

    private static boolean supported() {
        if (Boolean.getBoolean(SYMMETRIC_PROPERTY) || !NativeAccess.available()) {
            return false;
        }
        long commands = PosixNative.membarrier(PosixNative.MEMBARRIER_CMD_QUERY);
        if (commands < 0 || (commands & PosixNative.MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0
                || (commands & PosixNative.MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0) {
            LoggerFactory.getLogger(AsymmetricFence.class).debug("no expedited membarrier ({}); writers pin with a CAS",
                    commands < 0 ? Errno.name((int) -commands) : "not supported");
            return false;
        }
        return true;
    }

    /**
     * A drainer's first step, before it takes any page out of WRITABLE: registers this process for the
     * expedited command its {@link #heavy()} will call, once for the process (about 6 ms; afterwards one
     * volatile read). Does nothing when {@link #heavy()} does nothing. Throws {@link IllegalStateException}
     * if the registration fails; the drainer has changed nothing then, and the next one tries again.
     */
    static void registerDrainer() {
        if (ON && BrokenRule.fencesPin() && !registered) {
            register();
        }
    }

    /** Registers this process for the expedited command, once; concurrent first drainers wait for it. */
    private static synchronized void register() {
        if (!registered) {
            long r = registrationForTests == null
                    ? PosixNative.membarrier(PosixNative.MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)
                    : registrationForTests.getAsLong();
            if (r < 0) {
                throw new IllegalStateException("membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) failed after"
                        + " the kernel listed the command: " + Errno.name((int) -r) + ". Flush and the exclusive"
                        + " operations need it; this one changed nothing, and the next tries to register again"
                        + " (-D" + SYMMETRIC_PROPERTY + "=true does without it)");
            }
            registered = true; // volatile: later drainers skip the lock
        }
    }

    /**
     * The writer's side, between its slot store and its state reads: a barrier to the compiler only (see
     * the class comment). Costs nothing on x86.
     */
    static void light() {
        java.lang.invoke.VarHandle.releaseFence(); // compiler barrier: the slot store stays before the state reads
    }

    /**
     * The drainer's side, after the CAS that took its pages and before it reads a hazard slot: a full
     * barrier on every running thread of the process. Some microseconds: the kernel interrupts the CPUs
     * that run this process's threads. Does nothing when {@link #ON} is false. The drainer called
     * {@link #registerDrainer()} at its entry; one that did not is a bug, and this throws.
     */
    static void heavy() {
        if (ON && BrokenRule.fencesPin()) {
            requireRegistered();
            LongSupplier barrier = barrierForTests; // volatile; a drainer's read, beside a system call
            long r = barrier == null ? PosixNative.membarrier(PosixNative.MEMBARRIER_CMD_PRIVATE_EXPEDITED)
                    : barrier.getAsLong();
            if (r < 0) {
                // Registered, so the kernel has no reason to refuse; writers have no fence to fall back on.
                throw new IllegalStateException("membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed: "
                        + Errno.name((int) -r));
            }
        }
    }

    /**
     * Throws unless this process registered for the expedited command: a drainer that reaches its
     * {@link #heavy()} (or decides it needs none) without {@link #registerDrainer()} at its entry is a bug.
     */
    static void requireRegistered() {
        if (!registered) { // volatile: set by the drainer's registerDrainer(), or by an earlier drainer's
            throw new IllegalStateException("membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) needed before this"
                    + " process registered for it: the drainer must call AsymmetricFence.registerDrainer()"
                    + " at its entry, before its first page-state CAS");
        }
    }

    /**
     * For tests: {@link #heavy()} calls {@code barrier} (which returns 0 or {@code -errno}) instead of the
     * system call from now on; null restores the system call.
     */
    static void barrierThroughForTests(LongSupplier barrier) {
        barrierForTests = barrier;
    }

    /**
     * For tests: forgets that this process registered, so the next drainer registers again, through
     * {@code registration} (which returns 0 or {@code -errno}) instead of the system call; null restores the
     * system call. The kernel keeps its registration: registering again is harmless. No other drainer of
     * the process may be running: one between its entry and its {@link #heavy()} would throw.
     */
    static synchronized void registerThroughForTests(LongSupplier registration) {
        registrationForTests = registration;
        registered = false;
    }
}
