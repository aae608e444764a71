package dev.mkwrite.impl;

import java.util.Arrays;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * Proves that an operation running on another thread is blocked by watching the thread, not by waiting
 * for a timeout to pass: the thread must be seen parked in one of the region's waits, twice, with the
 * operation still not done.
 *
 * <p>A timeout proves less and costs more: an operation whose thread has not yet been scheduled passes
 * it by luck, and every call costs the whole timeout. Here a thread that has not started, or is still
 * on its way to the wait, is not yet blocked; the check polls until it is seen parked (in state WAITING
 * or TIMED_WAITING, with the wait's frame on its stack), or fails once the operation completes. It then
 * lets {@link #SETTLE_MILLIS} pass and looks again, so that a wait which ends on its own (a broken
 * variant that waits briefly and goes on) does not pass either.
 */
final class Blocking {

    /** How long a thread may take to reach the wait on a loaded machine before the check gives up. */
    static final long REACH_SECONDS = 30;

    /**
     * Runs {@code task} on a new daemon thread. A daemon: a task that the code under test makes wait for
     * itself ignores interrupts, and must not keep the test JVM from ending.
     */
    static <T> Future<T> onDaemon(String name, java.util.concurrent.Callable<T> task) {
        java.util.concurrent.FutureTask<T> f = new java.util.concurrent.FutureTask<>(task);
        Thread.ofPlatform().name(name).daemon().start(f);
        return f;
    }

    /**
     * Runs {@code task} on a new daemon thread and waits {@link #REACH_SECONDS} for it: a task that waits for
     * itself fails the test with a {@link java.util.concurrent.TimeoutException} instead of hanging it.
     */
    static <T> T within(String name, java.util.concurrent.Callable<T> task) throws Exception {
        return onDaemon(name, task).get(REACH_SECONDS, TimeUnit.SECONDS);
    }
    /** How long a blocked operation must stay blocked between the two sightings. */
    static final long SETTLE_MILLIS = 10;

    private Blocking() {
    }

    /** Where a region's operations wait. */
    enum Wait {
        /**
         * The region's wait queue ({@code Waiters.await}): for a page's state to change (another
         * fault's preparation, a writeback), for pinned writers to leave, or for faults in flight to end.
         */
        WAIT_QUEUE,
        /**
         * The region lock, a {@link java.util.concurrent.locks.ReentrantReadWriteLock}: an exclusive
         * operation behind a shared holder, or a fault or read behind an exclusive operation.
         */
        REGION_LOCK,
        /** A handle's close, waiting for another thread's close of the same handle to end. */
        HANDLE_CLOSE;

        /** Whether {@code thread} is parked in this wait now. */
        boolean holds(Thread thread) {
            Thread.State state = thread.getState();
            if (state != Thread.State.WAITING && state != Thread.State.TIMED_WAITING) {
                return false;
            }
            StackTraceElement[] stack = thread.getStackTrace();
            return switch (this) {
                case WAIT_QUEUE -> Arrays.stream(stack).anyMatch(f ->
                        f.getClassName().equals(Waiters.class.getName()) && f.getMethodName().equals("await"));
                case REGION_LOCK -> lockFrameBelowMkwrite(stack);
                case HANDLE_CLOSE -> Arrays.stream(stack).anyMatch(f ->
                        f.getClassName().equals(RegionHandle.class.getName()) && f.getMethodName().equals("awaitNotClosing"));
            };
        }

        /** A lock() of a ReentrantReadWriteLock called from mkwrite's own code, not from some other lock's user. */
        private static boolean lockFrameBelowMkwrite(StackTraceElement[] stack) {
            for (int i = 0; i < stack.length - 1; i++) {
                StackTraceElement f = stack[i];
                if (f.getClassName().startsWith("java.util.concurrent.locks.ReentrantReadWriteLock$")
                        && f.getMethodName().startsWith("lock")) {
                    return stack[i + 1].getClassName().startsWith("dev.mkwrite.impl.");
                }
            }
            return false;
        }
    }

    /**
     * Asserts that {@code operation}, running on {@code thread}, is blocked in {@code where}: the thread is
     * seen parked there, {@link #SETTLE_MILLIS} later it is seen parked there again, and the operation has
     * not completed at either time.
     *
     * @param thread    the thread that runs the operation
     * @param operation the operation's future
     * @param where     the wait it must be blocked in
     * @throws InterruptedException if the calling thread is interrupted
     */
    static void assertBlocked(Thread thread, Future<?> operation, Wait where) throws InterruptedException {
        if (thread == null) {
            throw new AssertionError("no thread is known for the operation " + operation);
        }
        awaitParked(thread, operation, where, "reached");
        TimeUnit.MILLISECONDS.sleep(SETTLE_MILLIS);
        awaitParked(thread, operation, where, "stayed in");
        if (operation.isDone()) {
            throw new AssertionError("expected the operation to be blocked in " + where + ", but it "
                    + outcome(operation));
        }
    }

    /**
     * Waits until {@code operation}, running on {@code thread}, either completes or is seen parked in
     * {@code where}, and says which: a probe, for a test that asks whether something holds it up now.
     *
     * @return {@code true} if it was seen parked in {@code where}, {@code false} if it completed first
     * @throws InterruptedException if the calling thread is interrupted
     */
    static boolean parksIn(Thread thread, Future<?> operation, Wait where) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(REACH_SECONDS);
        for (;;) {
            if (where.holds(thread)) {
                return true;
            }
            if (operation.isDone()) {
                return false;
            }
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("the operation neither completed nor reached " + where + " within "
                        + REACH_SECONDS + " s; its thread is " + thread.getState() + " at\n" + stackOf(thread));
            }
            TimeUnit.MICROSECONDS.sleep(200);
        }
    }

    /** Polls until {@code thread} is parked in {@code where}; fails if the operation completes first. */
    private static void awaitParked(Thread thread, Future<?> operation, Wait where, String what)
            throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(REACH_SECONDS);
        while (!where.holds(thread)) {
            if (operation.isDone()) {
                throw new AssertionError("expected the operation to be blocked in " + where + ", but it "
                        + outcome(operation) + " (" + what + " no such wait)");
            }
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("the operation never " + what + " " + where + " within " + REACH_SECONDS
                        + " s; its thread is " + thread.getState() + " at\n" + stackOf(thread));
            }
            TimeUnit.MICROSECONDS.sleep(200);
        }
    }

    /** How a completed operation ended, for the failure message. */
    private static String outcome(Future<?> done) {
        try {
            return "completed with " + done.get(0, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            return "failed with " + e.getCause();
        } catch (CancellationException e) {
            return "was cancelled";
        } catch (Exception e) {
            return "completed (" + e + ")";
        }
    }

    private static String stackOf(Thread thread) {
        return Arrays.stream(thread.getStackTrace()).map(f -> "\tat " + f).collect(Collectors.joining("\n"));
    }
}
