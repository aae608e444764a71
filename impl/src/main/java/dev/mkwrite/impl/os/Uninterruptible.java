package dev.mkwrite.impl.os;

import java.io.IOException;

/**
 * A blocking {@link java.nio.channels.FileChannel} operation that must complete once begun, whatever
 * interrupts its caller: the region's own map, size, truncate and positional transfers, which run with the
 * region lock held exclusive or inside a fault and would leave it half done, and the storage handlers'
 * punches of claimed units ({@link #callToTheEnd}). (The punch fallback's zero-fill, which may take long,
 * stays interruptible: {@code FileHoles}.) It runs on one of {@link BlockingIo}'s threads, where no interrupt
 * can close the channel, and never looks at the cancel request: the caller waits for it to finish and keeps
 * its interrupt status for later. A caller interrupted before the call is not refused, as
 * {@link BlockingIo#call} refuses, since the operation it is part of has begun.
 */
public final class Uninterruptible {

    /** An operation on a channel. */
    @FunctionalInterface
    public interface IoCall<T> {
        T call() throws IOException;
    }

    /** An operation on a channel with no result. */
    @FunctionalInterface
    public interface IoRun {
        void run() throws IOException;
    }

    private Uninterruptible() {
    }

    /** Runs {@code op} out of reach of interrupts and returns its result, or throws what it threw. */
    public static <T> T call(IoCall<T> op) throws IOException {
        boolean interrupted = Thread.interrupted(); // BlockingIo refuses an interrupted caller: restored below
        try {
            return BlockingIo.call(cancel -> op.call()); // ignores the cancel: BlockingIo then returns its result
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * {@link #call} for an operation written for {@link BlockingIo}, which polls a {@link BlockingIo.Cancel}
     * between its steps: here the cancel is never requested, so the operation runs to its end.
     */
    public static <T> T callToTheEnd(BlockingIo.Op<T> op) throws IOException {
        return call(() -> op.run(BlockingIo.NEVER_CANCELLED));
    }

    /** {@link #call} for an operation with no result. */
    public static void run(IoRun op) throws IOException {
        call(() -> {
            op.run();
            return null;
        });
    }
}
