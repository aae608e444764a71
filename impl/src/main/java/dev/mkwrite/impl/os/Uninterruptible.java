package dev.mkwrite.impl.os;

import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * Runs a blocking {@link java.nio.channels.FileChannel} operation where no interrupt can reach it.
 *
 * <p>When a thread is interrupted while it blocks in a {@code FileChannel} operation (or calls one with
 * its interrupt status set), the JDK closes the channel, for every thread that uses it, and with it the
 * process's locks on the file. A library that calls such operations on its callers' threads would let
 * one interrupt break a region or a handler for good. So the operation runs on a virtual thread of its
 * own, which nothing else knows and so nothing interrupts, while the caller waits for it without
 * reacting to interrupts and keeps its interrupt status for later. The cost, a virtual thread's start
 * and join (some microseconds), is paid only on the slow paths that touch the channel.
 */
public final class Uninterruptible {

    /** An operation on a channel. */
    @FunctionalInterface
    public interface IoCall<T> {
        T call() throws IOException;
    }

    private Uninterruptible() {
    }

    /** Runs {@code op} on a thread of its own and returns its result, or throws what it threw. */
    public static <T> T call(IoCall<T> op) throws IOException {
        Outcome<T> outcome = new Outcome<>();
        Thread worker = Thread.ofVirtual().name("mkwrite-io").start(() -> outcome.run(op));
        boolean interrupted = false;
        for (;;) {
            try {
                worker.join(); // happens-before: the worker's writes to outcome
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        return outcome.get();
    }

    /** {@link #call} for an operation with no result. */
    public static void run(IoRun op) throws IOException {
        call(() -> {
            op.run();
            return null;
        });
    }

    /** An operation on a channel with no result. */
    @FunctionalInterface
    public interface IoRun {
        void run() throws IOException;
    }

    private static final class Outcome<T> {
        private T value;
        private Throwable failure;

        void run(IoCall<T> op) {
            try {
                value = op.call();
            } catch (Throwable t) {
                failure = t;
            }
        }

        T get() throws IOException {
            if (failure == null) {
                return value;
            }
            if (failure instanceof IOException e) {
                throw new IOException(e.getMessage(), e); // keeps the caller's stack in the trace
            }
            if (failure instanceof UncheckedIOException e) {
                throw e;
            }
            if (failure instanceof RuntimeException e) {
                throw e;
            }
            if (failure instanceof Error e) {
                throw e;
            }
            throw new IOException(failure);
        }
    }
}
