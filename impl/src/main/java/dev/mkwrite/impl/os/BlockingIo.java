package dev.mkwrite.impl.os;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.channels.FileChannel;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Runs blocking file I/O on a thread of mkwrite's own, {@code mkwrite-io-N}, where no caller's interrupt can
 * reach it.
 *
 * <h2>Why</h2>
 * A {@link FileChannel} is an interruptible channel: when a thread is interrupted while it reads or writes
 * through one (or calls it with its interrupt status set), the JDK closes the channel. A channel shared by
 * every fault on a file is then closed for all of them, each later operation fails with
 * {@code ClosedChannelException}, and closing the descriptor also drops every POSIX lock the process holds
 * on the file (the region's {@code FileLock}). Replacing a closed channel would keep the faults going but
 * not the lock, and the operations that other threads had running at that moment would fail too. So mkwrite
 * never runs a shared channel's I/O on a thread it does not own: the caller hands the operation to an I/O
 * thread and waits for it. An operation that calls again from its I/O thread runs inline.
 *
 * <h2>Interrupts</h2>
 * An interrupt of the waiting caller ends the one operation it waited for: the caller sets the operation's
 * {@link Cancel} and goes on waiting, without regard to further interrupts, until the operation returns; an
 * operation polls {@link Cancel#check()} between bounded steps (a chunk read, a run of zeros written), so
 * it stops after the step it was in. Never returning early matters: a zero-fill that went on after its
 * fault gave up could write zeros over a store made by the page's next fault. The caller then throws the
 * operation's {@link InterruptedIOException} (or returns its result if it finished anyway) with its
 * interrupt status set again. A caller already interrupted when it calls gets the exception at once and no
 * operation runs.
 *
 * <h2>Threads</h2>
 * A cached pool of daemon threads: one per operation running at the same time, none after 5 idle seconds.
 * Each call costs a hand-off to a thread and back (microseconds), which is why only the slow fallback paths
 * (zero-fill, punching a hole by writing zeros) use it. Thread-safe; any thread may call.
 */
public final class BlockingIo {

    /** An operation run on an I/O thread. */
    @FunctionalInterface
    public interface Op<T> {
        /**
         * Runs the operation. Called on an I/O thread.
         *
         * @param cancel set once the caller is interrupted; poll it between steps
         * @return the result
         * @throws IOException if the I/O fails, or {@link InterruptedIOException} from {@link Cancel#check()}
         */
        T run(Cancel cancel) throws IOException;
    }

    /** Whether the caller of an operation was interrupted. Written by the caller, read by the I/O thread. */
    public static final class Cancel {
        private volatile boolean requested;

        Cancel() {
        }

        /** Called by the interrupted caller. */
        void request() {
            requested = true; // volatile: the operation stops at its next check
        }

        /**
         * Whether the caller was interrupted: the operation should stop at the next step.
         *
         * @return true once requested
         */
        public boolean requested() {
            return requested; // volatile: set by the interrupted caller
        }

        /**
         * Throws if the caller was interrupted.
         *
         * @throws InterruptedIOException if it was
         */
        public void check() throws InterruptedIOException {
            if (requested) {
                throw new InterruptedIOException("the thread that waited for this file I/O was interrupted");
            }
        }
    }

    /** A cancel that is never requested: for {@link Uninterruptible#callToTheEnd}. */
    static final Cancel NEVER_CANCELLED = new Cancel();

    private BlockingIo() {
    }

    /**
     * Runs {@code op} on an I/O thread and waits for it; see the class documentation for interrupts.
     *
     * @param op  the operation
     * @param <T> its result type
     * @return what it returned
     * @throws InterruptedIOException if the caller was interrupted before the call, or the operation stopped
     *                                because the caller was interrupted during it
     * @throws IOException            whatever else the operation threw, as it threw it
     */
    public static <T> T call(Op<T> op) throws IOException {
        if (Thread.currentThread() instanceof IoThread) {
            return op.run(new Cancel()); // already out of reach of user interrupts: an op that nests one
        }
        if (Thread.currentThread().isInterrupted()) {
            throw new InterruptedIOException("interrupted before the file I/O began");
        }
        Task<T> task = new Task<>(op, Thread.currentThread());
        Pool.EXECUTOR.execute(task);
        boolean interrupted = false;
        while (!task.done) { // volatile: the task's result and failure are visible once it is set
            LockSupport.park(task);
            if (Thread.interrupted()) {
                interrupted = true;
                task.cancel.request();
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        Throwable failure = task.failure;
        if (failure == null) {
            return task.result;
        }
        if (failure instanceof IOException e) {
            throw e;
        }
        if (failure instanceof RuntimeException e) {
            throw e;
        }
        if (failure instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException("file I/O failed", failure);
    }

    private static final class Task<T> implements Runnable {
        final Op<T> op;
        final Thread caller;
        final Cancel cancel = new Cancel();
        T result;
        Throwable failure;
        volatile boolean done;

        Task(Op<T> op, Thread caller) {
            this.op = op;
            this.caller = caller;
        }

        @Override
        public void run() {
            try {
                result = op.run(cancel);
            } catch (Throwable t) {
                failure = t;
            } finally {
                done = true; // volatile: publishes result and failure to the caller
                LockSupport.unpark(caller);
            }
        }
    }

    /** The pool, created by the first call: a JVM that never needs it starts no thread. */
    private static final class Pool {
        static final ThreadPoolExecutor EXECUTOR = new ThreadPoolExecutor(0, Integer.MAX_VALUE, 5, TimeUnit.SECONDS,
                new SynchronousQueue<>(), new IoThreads());
    }

    /** Makes the I/O threads; a class rather than {@code IoThread::new}, which a cold JVM would spin. */
    private static final class IoThreads implements ThreadFactory {
        @Override
        public Thread newThread(Runnable task) {
            return new IoThread(task);
        }
    }

    /** An I/O thread: a daemon that no code outside this class holds, so nothing interrupts it. */
    private static final class IoThread extends Thread {
        private static final AtomicInteger NEXT = new AtomicInteger();

        IoThread(Runnable task) {
            super(task, "mkwrite-io-" + NEXT.incrementAndGet());
            setDaemon(true);
        }
    }
}
