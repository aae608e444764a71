package dev.mkwrite.examples.log;

import dev.mkwrite.FaultResult;
import dev.mkwrite.RegionStats;
import dev.mkwrite.WriteFault;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.examples.Command;
import dev.mkwrite.examples.Fmt;
import dev.mkwrite.examples.Options;
import dev.mkwrite.examples.UsageException;
import dev.mkwrite.impl.storage.StorageHandler;
import dev.mkwrite.impl.storage.StorageHandlers;
import org.HdrHistogram.ConcurrentHistogram;
import org.HdrHistogram.Histogram;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

/**
 * {@code log}: N appender threads write a segmented write-ahead log with group commit, then the log is
 * reopened and verified. {@code log --verify} verifies an existing log, for example one whose writer
 * was killed.
 *
 * <p>Each payload carries its thread and sequence number and a pattern derived from them, so the
 * verification after a run can say not only that every record is intact but that none is missing.
 */
public final class LogCommand implements Command {

    private static final long PROGRESS_NANOS = TimeUnit.MILLISECONDS.toNanos(250);

    /** Creates the command. */
    public LogCommand() {
    }

    @Override
    public String name() {
        return "log";
    }

    @Override
    public String summary() {
        return "an append-only segmented write-ahead log with group commit, then verified (or --verify an existing one)";
    }

    @Override
    public Options options() {
        return new Options(name())
                .path("dir", "DIR", "log directory: must not hold a log yet (with --verify: the log to check)")
                .flag("verify", "only verify the log in --dir; exit 1 if a record a completed flush covered is lost")
                .count("records", "N", 1_000_000L, 1, Long.MAX_VALUE / 2, "records to append, over all threads")
                .count("threads", "T", 2L, 1, 64, "appender threads")
                .size("record-size", "B", "128", Payloads.HEADER, 1 << 20, "payload bytes per record (plus an 8-byte header)")
                .count("flush-ms", "MS", 10L, 1, 60_000, "group flush period in milliseconds")
                .size("segment-size", "B", "64m", 1 << 16, 1L << 40, "roll to a new segment file at this size")
                .size("grow-step", "B", "8m", 1 << 12, 1L << 40, "a segment starts at this size and grows by it")
                .size("granule", "B", "1m", 1 << 12, 1 << 30, "storage prepared at a time (power of two)")
                .count("prepare-ahead", "G", (long) LogConfig.DEFAULT_PREPARE_AHEAD, 0, 1024,
                        "granules prepared ahead of the appenders");
    }

    @Override
    public int run(Options.Values values, PrintStream out) throws Exception {
        Path dir = values.path("dir");
        if (values.flag("verify")) {
            return verifyOnly(dir, out);
        }
        LogConfig config;
        try {
            config = new LogConfig(dir, values.number("segment-size"), values.number("grow-step"),
                    values.intNumber("granule"), values.intNumber("prepare-ahead"),
                    Duration.ofMillis(values.number("flush-ms")), UnaryOperator.identity());
        } catch (IllegalArgumentException e) {
            throw new UsageException(name() + ": " + e.getMessage());
        }
        int recordSize = values.intNumber("record-size");
        if (recordSize > config.maxPayload()) {
            throw new UsageException(name() + ": --record-size " + recordSize + " does not fit a segment of "
                    + config.segmentSize() + " bytes; at most " + config.maxPayload());
        }
        if (Files.exists(dir.resolve(LogFormat.CHECKPOINT))) {
            throw new UsageException(name() + ": " + dir + " already holds a log; check it with --verify, or give"
                    + " an empty directory");
        }
        return new Run(config, values.number("records"), values.intNumber("threads"), recordSize, out).run();
    }

    private int verifyOnly(Path dir, PrintStream out) throws Exception {
        LogVerifier.Result r;
        try {
            r = LogVerifier.verify(dir, null);
        } catch (NoSuchFileException e) {
            throw new UsageException(name() + ": no mkwrite log in " + dir + " (" + e.getFile() + " is missing)");
        }
        out.println("log " + dir + ": " + Fmt.count(r.segments()) + " segment file(s) of at most "
                + Fmt.bytes(r.segmentSize()));
        out.println("checkpoint: everything below " + LogFormat.describe(r.committed(), r.segmentSize())
                + " was flushed");
        out.println("scan stopped: " + r.stopReason());
        if (r.lostFlushedData()) {
            out.println("LOST: " + r.lossDescription());
        } else if (r.tornTail()) {
            out.println("torn tail past the checkpoint: not accepted (writers had not finished it)");
        }
        out.println("verified " + r.records() + " records, " + (r.tornTail() ? 1 : 0) + " torn tail");
        return r.lostFlushedData() ? 1 : 0;
    }

    /** One write run: appenders, flusher (inside the writer), progress, summary and verification. */
    private static final class Run {
        private final LogConfig config;
        private final long records;
        private final int threads;
        private final int recordSize;
        private final PrintStream out;
        private final ConcurrentHistogram handlerLatency = new ConcurrentHistogram(3);

        Run(LogConfig config, long records, int threads, int recordSize, PrintStream out) {
            this.config = config.withDecorator(h -> new TimedHandler(h, handlerLatency));
            this.records = records;
            this.threads = threads;
            this.recordSize = recordSize;
            this.out = out;
        }

        int run() throws Exception {
            out.printf(Locale.ROOT, "mkwrite log: %s records of %d B on %d thread(s), group flush every %d ms%n",
                    Fmt.count(records), recordSize, threads, config.flushInterval().toMillis());
            out.printf(Locale.ROOT, "  %s: segments of %s, grown in %s steps; space reserved lazily with %s in %s"
                            + " granules, %d prepared ahead%n", config.dir(), Fmt.bytes(config.segmentSize()),
                    Fmt.bytes(config.growStep()), StorageHandlers.nativeAccessAvailable() ? "fallocate(2)"
                            : "zero-fill (no native access)", Fmt.bytes(config.granule()), config.prepareAhead());

            List<AppenderThread> workers = new ArrayList<>();
            long start;
            long elapsed;
            LogWriter.Stats stats;
            try (LogWriter log = createLog()) {
                for (int t = 0; t < threads; t++) {
                    long count = records / threads + (t < records % threads ? 1 : 0);
                    workers.add(new AppenderThread(log, t, count, recordSize));
                }
                start = System.nanoTime();
                for (AppenderThread w : workers) {
                    w.start();
                }
                long nextProgress = start + PROGRESS_NANOS;
                for (AppenderThread w : workers) {
                    while (w.isAlive()) {
                        w.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(nextProgress - System.nanoTime())));
                        if (System.nanoTime() >= nextProgress && anyAlive(workers)) {
                            progress(log, workers, System.nanoTime() - start);
                            nextProgress += PROGRESS_NANOS;
                        }
                    }
                }
                elapsed = System.nanoTime() - start;
                for (AppenderThread w : workers) {
                    if (w.error != null) {
                        throw new IOException("appender " + w.index + " failed", w.error);
                    }
                }
                stats = log.stats();
            }
            summary(workers, elapsed, stats);
            return verify(workers);
        }

        private LogWriter createLog() throws IOException, UsageException {
            try {
                return LogWriter.create(config);
            } catch (FileAlreadyExistsException e) {
                throw new UsageException("log: " + config.dir() + " already holds a log");
            }
        }

        private static boolean anyAlive(List<AppenderThread> workers) {
            for (AppenderThread w : workers) {
                if (w.isAlive()) {
                    return true;
                }
            }
            return false;
        }

        private void progress(LogWriter log, List<AppenderThread> workers, long nanos) {
            long appended = 0;
            long acknowledged = 0;
            long bytes = 0;
            for (AppenderThread w : workers) {
                LogWriter.Appender a = w.appender;
                if (a != null) {
                    appended += a.appended();
                    acknowledged += a.acknowledged();
                    bytes += a.bytes();
                }
            }
            LogWriter.Stats s = log.stats();
            out.printf(Locale.ROOT, "  %5.1f s  appended %11s  durable %11s  %12s  faults %9s  segments %d%n",
                    nanos / 1e9, Fmt.count(appended), Fmt.count(acknowledged), Fmt.mibPerSecond(bytes, nanos),
                    Fmt.count(s.region().faults()), s.segments());
        }

        private void summary(List<AppenderThread> workers, long nanos, LogWriter.Stats s) {
            long appended = 0;
            long acknowledged = 0;
            long bytes = 0;
            Histogram faulted = new Histogram(3);
            for (AppenderThread w : workers) {
                appended += w.appender.appended();
                acknowledged += w.appender.acknowledged();
                bytes += w.appender.bytes();
                faulted.add(w.faultedAppends);
            }
            RegionStats r = s.region();
            out.println("summary");
            row("records", Fmt.count(appended) + " appended, " + Fmt.count(acknowledged) + " acknowledged durable");
            row("written", Fmt.bytes(bytes) + " (" + Fmt.count((long) recordSize * appended)
                    + " B of payload, the rest record headers and padding)");
            row("time", String.format(Locale.ROOT, "%.2f s", nanos / 1e9));
            row("throughput", Fmt.mibPerSecond(bytes, nanos) + String.format(Locale.ROOT, ", %s records/s",
                    Fmt.count((long) (appended / (nanos / 1e9)))));
            row("segments", Fmt.count(s.segments()) + " file(s), " + Fmt.count(s.grows()) + " grow(s)");
            row("group flushes", Fmt.count(s.groupFlushes()) + ", " + Fmt.count(r.pagesWrittenBack())
                    + " pages written back");
            row("faults", Fmt.count(r.faults()) + " (first writes to a page, and first writes after its writeback)");
            row("retries", Fmt.count(r.retries()));
            row("lock drops", Fmt.count(r.lockDrops()) + " (the fallocate handler holds the region lock: a"
                    + " granule costs one system call)");
            row("writeback waits", Fmt.count(r.writebackWaits()) + " (appends that found their page under"
                    + " writeback and waited: only with stable pages, which the log does not ask for)");
            row("fault latency", Fmt.latencies(faulted));
            row("", "latency of append() calls whose page faulted, measured in the appending thread");
            row("handler latency", Fmt.latencies(handlerLatency));
            row("", "time inside WriteFaultHandler.prepare, per call");
            StorageHandler.Stats st = s.storage();
            row("space", Fmt.bytes(s.preparedBytes()) + " reserved (" + Fmt.bytes(s.aheadBytes())
                    + " ahead of the appenders) for " + Fmt.bytes(bytes) + " written"
                    + (bytes > 0 ? String.format(Locale.ROOT, ", %.2fx", (double) s.preparedBytes() / bytes) : ""));
            row("", Fmt.count(st.fallocates()) + " fallocate calls (" + Fmt.count(st.aheadGranules())
                    + " by prepare-ahead), " + Fmt.count(st.alreadyAllocated()) + " faults found their page"
                    + " reserved" + (st.zeroFilledBytes() > 0 ? ", " + Fmt.bytes(st.zeroFilledBytes())
                    + " zero-filled" : ""));
            row("reservations", Fmt.count(r.reservationsOutstanding()) + " outstanding after close");
        }

        private void row(String label, String value) {
            out.printf(Locale.ROOT, "  %-16s %s%n", label, value);
        }

        private int verify(List<AppenderThread> workers) throws IOException {
            out.println("reopening " + config.dir() + " to verify");
            long[] next = new long[threads];
            long[] bad = new long[1];
            LogVerifier.Result r = LogVerifier.verify(config.dir(), (position, payload) -> {
                if (!expected(payload, next)) {
                    bad[0]++;
                }
            });
            long appended = 0;
            for (AppenderThread w : workers) {
                appended += w.appender.appended();
            }
            long matched = r.records() - bad[0];
            long lost = Math.max(0, appended - matched);
            out.println("checkpoint: everything below " + LogFormat.describe(r.committed(), r.segmentSize())
                    + " was flushed; scan: " + r.stopReason());
            if (bad[0] > 0) {
                out.println("MISMATCH: " + Fmt.count(bad[0]) + " intact records carried unexpected contents");
            }
            if (r.lostFlushedData()) {
                out.println("LOST: " + r.lossDescription());
            }
            out.println("verified " + matched + " records, " + lost + " lost");
            return lost == 0 && bad[0] == 0 && !r.lostFlushedData() ? 0 : 1;
        }

        /** Checks that a payload is the next one of its thread, with the pattern it was written with. */
        private boolean expected(MemorySegment payload, long[] next) {
            if (!Payloads.wellFormed(payload, recordSize)) {
                return false;
            }
            int thread = Payloads.thread(payload);
            if (thread < 0 || thread >= next.length || Payloads.seq(payload) != next[thread]) {
                return false;
            }
            next[thread]++;
            return true;
        }
    }

    /** An appender thread: its own payloads, and a histogram of the appends whose page faulted. */
    private static final class AppenderThread extends Thread {
        private final LogWriter log;
        private final int index;
        private final long count;
        private final int recordSize;
        final Histogram faultedAppends = new Histogram(3);
        /** Set by {@link TimedHandler} when the handler ran on this thread. */
        boolean faulted;
        volatile LogWriter.Appender appender;
        volatile Throwable error;

        AppenderThread(LogWriter log, int index, long count, int recordSize) {
            super("appender-" + index);
            this.log = log;
            this.index = index;
            this.count = count;
            this.recordSize = recordSize;
        }

        @Override
        public void run() {
            byte[] payload = new byte[recordSize];
            MemorySegment view = MemorySegment.ofArray(payload);
            try (LogWriter.Appender a = log.appender()) {
                appender = a;
                for (long seq = 0; seq < count; seq++) {
                    Payloads.fill(view, index, seq);
                    faulted = false;
                    long t0 = System.nanoTime();
                    a.append(payload, 0, recordSize);
                    long t1 = System.nanoTime();
                    if (faulted) {
                        faultedAppends.recordValue(t1 - t0);
                    }
                }
                a.awaitAcknowledged();
            } catch (IOException | RuntimeException e) {
                error = e;
            }
        }
    }

    /** Times each handler call, and tells the appender thread that its append faulted. */
    private static final class TimedHandler implements WriteFaultHandler {
        private final WriteFaultHandler inner;
        private final ConcurrentHistogram latency;

        TimedHandler(WriteFaultHandler inner, ConcurrentHistogram latency) {
            this.inner = inner;
            this.latency = latency;
        }

        @Override
        public FaultResult prepare(WriteFault fault) throws IOException, InterruptedException {
            long t0 = System.nanoTime();
            try {
                return inner.prepare(fault);
            } finally {
                latency.recordValue(System.nanoTime() - t0);
                if (Thread.currentThread() instanceof AppenderThread t) {
                    t.faulted = true;
                }
            }
        }

        @Override
        public void beforeWriteback(long page, MemorySegment contents) {
            inner.beforeWriteback(page, contents);
        }

        @Override
        public boolean needsStablePages() {
            return inner.needsStablePages();
        }
    }
}
