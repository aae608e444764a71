package dev.mkwrite.examples.log;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The child JVM of {@link CrashConsistencyIT}: appends records through {@link LogWriter} on
 * {@value #THREADS} threads until it is killed, and tells the parent on standard output which records are
 * durable.
 *
 * <p>Each thread appends {@value #BATCH} records, waits for the group flush that covers the last one
 * ({@link LogWriter#awaitDurable}), and only then prints {@code acked THREAD SEQ}: every record of that
 * thread up to {@code SEQ} is durable. A line is printed and flushed after the flush returned, so an ack
 * the parent has read is one the log owes it.
 *
 * <p>Test-only broken variant: with {@code -Dmkwrite.crash.ackBeforeFlush=true} a thread acks right after
 * its appends, without waiting for the flush, as a log that acknowledges too early would. A kill does not
 * lose page-cache data, so those records are usually still in the files; what the parent catches is that
 * they lie past the checkpoint, where a power failure would lose them.
 */
public final class CrashChild {

    /** Appender threads. */
    static final int THREADS = 2;
    /** Records between two acknowledgements of one thread. */
    static final int BATCH = 40;
    /** Payload bytes per record: thread, sequence number, then a pattern derived from them ({@link Payloads}). */
    static final int PAYLOAD = 100;

    private CrashChild() {
    }

    /**
     * The small log the child writes: segments of 512 KiB grown in 128 KiB steps, so that every round
     * grows and rolls; 32 KiB granules, two prepared ahead; a group flush every 2 ms.
     *
     * @param dir the log directory
     * @return the configuration
     */
    static LogConfig config(Path dir) {
        return LogConfig.of(dir).withSpace(32 << 10, 2).withSegments(512 << 10, 128 << 10)
                .withFlushInterval(Duration.ofMillis(2));
    }

    /**
     * Appends until killed.
     *
     * @param args the log directory
     * @throws Exception if the log fails; the parent then sees the child end by itself
     */
    public static void main(String[] args) throws Exception {
        boolean ackBeforeFlush = Boolean.getBoolean("mkwrite.crash.ackBeforeFlush");
        PrintStream out = System.out;
        LogWriter log = LogWriter.create(config(Path.of(args[0])));
        List<Thread> threads = new ArrayList<>();
        List<Throwable> errors = new ArrayList<>();
        for (int t = 0; t < THREADS; t++) {
            int thread = t;
            threads.add(Thread.ofPlatform().name("appender-" + t).start(() -> {
                try {
                    append(log, thread, ackBeforeFlush, out);
                } catch (IOException | RuntimeException e) {
                    synchronized (errors) {
                        errors.add(e);
                    }
                }
            }));
        }
        synchronized (out) {
            out.println("started");
            out.flush();
        }
        for (Thread t : threads) {
            t.join();
        }
        throw new IllegalStateException("an appender stopped before the kill: " + errors);
    }

    private static void append(LogWriter log, int thread, boolean ackBeforeFlush, PrintStream out) throws IOException {
        byte[] payload = new byte[PAYLOAD];
        MemorySegment view = MemorySegment.ofArray(payload);
        try (LogWriter.Appender a = log.appender()) {
            for (long seq = 0; ; seq++) {
                Payloads.fill(view, thread, seq);
                long end = a.append(payload, 0, PAYLOAD);
                if ((seq + 1) % BATCH == 0) {
                    if (!ackBeforeFlush) {
                        log.awaitDurable(end); // the group flush covering this record and the thread's earlier ones
                    }
                    synchronized (out) {
                        out.println("acked " + thread + " " + seq);
                        out.flush();
                    }
                }
            }
        }
    }
}
