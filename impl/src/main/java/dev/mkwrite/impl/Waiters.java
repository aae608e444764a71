package dev.mkwrite.impl;

import dev.mkwrite.impl.os.LazyLogger;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * The region's one wait queue: threads that wait for a page's state to change (writeback to end,
 * another fault's preparation to end, pins to drain) or for faults in flight to leave.
 *
 * <p>No wake-up is lost: a waiter increments {@link #waiting} (volatile) and then re-checks its condition
 * while holding the monitor; a signaller first changes the state (a volatile CAS) and then reads
 * {@link #waiting}. With both accesses sequentially consistent, either the waiter sees the new state or
 * the signaller sees the waiter, and its {@code notifyAll} cannot fall between the waiter's check and
 * its {@code wait}, since both happen under the monitor.
 *
 * <p>Signalling costs one volatile read when nobody waits, so the fast path's unpin can afford it.
 */
final class Waiters {

    private static final LazyLogger LOG = new LazyLogger(Waiters.class);
    private static final int SPINS = 64;
    /** After this long a waiter logs what it waits for. Never shorter: a lost wake-up must show as a stall. */
    private static final long REPORT_MS = TimeUnit.SECONDS.toMillis(10);

    private static final VarHandle WAITING;

    static {
        try {
            WAITING = MethodHandles.lookup().findVarHandle(Waiters.class, "waiting", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final Object monitor = new Object();
    /** Threads in {@link #await}: a field of this object, so the unpin's read is one load from the Waiters. */
    private volatile int waiting;

    /** Wakes every waiter if there is one. Call after any state change somebody may wait for. */
    void signal() {
        if (waiting != 0) { // volatile: after the caller's state change (see the class comment)
            wakeAll();
        }
    }

    /** Out of line, so the monitor's code is not inlined into every unpin: the fast path calls signal. */
    private void wakeAll() {
        synchronized (monitor) {
            monitor.notifyAll();
        }
    }

    /**
     * Waits until {@code done} holds.
     *
     * @param done          the condition; re-evaluated after every signal
     * @param interruptible whether an interrupt ends the wait with {@link InterruptedException}; if not,
     *                      the interrupt status is restored on return
     * @param what          describes the wait for the diagnostic logged after ten seconds
     * @param pollMillis    0 if every change of the condition is signalled; otherwise re-check at least
     *                      this often, for a condition whose wake-up can be missed
     */
    void await(BooleanSupplier done, boolean interruptible, Supplier<String> what, long pollMillis)
            throws InterruptedException {
        for (int i = 0; i < SPINS; i++) {
            if (done.getAsBoolean()) {
                return;
            }
            Thread.onSpinWait();
        }
        boolean interrupted = false;
        boolean reported = false;
        long start = System.nanoTime();
        WAITING.getAndAdd(this, 1); // volatile: before the re-check of the condition
        try {
            synchronized (monitor) {
                while (!done.getAsBoolean()) {
                    try {
                        // Wake-ups come from signal(); a timed wait triggers the diagnostic, or polls.
                        long left = REPORT_MS - TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                        long timeout = reported ? 0 : Math.max(1, left);
                        if (pollMillis > 0) {
                            timeout = timeout == 0 ? pollMillis : Math.min(timeout, pollMillis);
                        }
                        monitor.wait(timeout);
                    } catch (InterruptedException e) {
                        if (interruptible) {
                            throw e;
                        }
                        interrupted = true;
                    }
                    if (!reported && System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(REPORT_MS)) {
                        reported = true;
                        LOG.get().warn("{} has waited over 10 s: {}. A WriteSpan left open, or a span opened while"
                                + " this thread holds another, can cause this.", Thread.currentThread(), what.get());
                    }
                }
            }
        } finally {
            WAITING.getAndAdd(this, -1); // volatile
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
