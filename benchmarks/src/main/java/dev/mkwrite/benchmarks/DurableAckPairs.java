package dev.mkwrite.benchmarks;

import dev.mkwrite.Backing;
import org.HdrHistogram.Histogram;
import org.agrona.collections.LongArrayList;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

/**
 * Row 7 measured in pairs: mkwrite's write-and-flush and the raw mapping's write-and-force, in one JVM, in
 * alternating blocks of {@value #BLOCK} acknowledged records, so that both meet the device in the same
 * second.
 *
 * <p>Why: on a disk file system each record waits for the device (80-90 us here), and the device's
 * latency drifts by more between JMH forks minutes apart (75-93 us for the same raw force in one run) than
 * the protocol costs (about 0.3 us a record, row 7 on tmpfs). Forks then decide the ratio, not mkwrite.
 * Here the two sinks take turns every few milliseconds, in the order mkwrite, raw, raw, mkwrite, ... so a
 * drift within a pair cancels, and the ratio is the median over pairs of raw block time / mkwrite block
 * time. Each sink is {@link DurableAckBenchmark}'s own state and operation (its {@code MKWRITE} and
 * {@code RAW} sinks on {@code TMPDIR}), driven directly; every record's latency also goes into an
 * HdrHistogram, whose p50 and p99 are reported beside the ratio.
 *
 * <p>Run: {@code ./dev java --enable-native-access=ALL-UNNAMED -cp benchmarks/target/benchmarks.jar
 * dev.mkwrite.benchmarks.DurableAckPairs [--seconds S] [--out file.properties]} (S: measured seconds per
 * backing, 5 unless given, after {@value #WARMUP_SECONDS} s of warm-up; {@code ./dev bench} gives 10).
 */
public final class DurableAckPairs {

    /** Records a block: 200 at 80-90 us, about 17 ms a block. */
    static final int BLOCK = 200;
    private static final double WARMUP_SECONDS = 3;
    private static final long HIGHEST = TimeUnit.SECONDS.toNanos(10);

    private DurableAckPairs() {
    }

    /** One backing's measurement: the median pair ratio, its quartiles, and each sink's figures. */
    record Result(Backing backing, Rounds.PairRatios ratios, double mkBlockUs, double rawBlockUs, Histogram mk,
                  Histogram raw) {
    }

    public static void main(String[] args) throws Exception {
        Rounds.Options options = Rounds.parse(args); // the harnesses' arguments; pairs take no --rounds
        double seconds = options.seconds();
        Path out = options.out();
        Properties props = new Properties();
        System.out.printf(Locale.ROOT, "Row 7 in pairs: %d-record blocks, mkwrite and raw in turn (ABBA), %.1f s"
                + " per backing after %.1f s of warm-up; java.io.tmpdir=%s%n", BLOCK, seconds, WARMUP_SECONDS,
                System.getProperty("java.io.tmpdir"));
        for (Backing backing : Backing.values()) {
            Result r = measure(backing, seconds);
            String key = backing.name().toLowerCase(Locale.ROOT) + ".";
            r.ratios().store(props, key);
            props.setProperty(key + "mkwrite.block.us", Double.toString(r.mkBlockUs()));
            props.setProperty(key + "raw.block.us", Double.toString(r.rawBlockUs()));
            props.setProperty(key + "mkwrite.p50.us", Double.toString(r.mk().getValueAtPercentile(50) / 1e3));
            props.setProperty(key + "mkwrite.p99.us", Double.toString(r.mk().getValueAtPercentile(99) / 1e3));
            props.setProperty(key + "raw.p50.us", Double.toString(r.raw().getValueAtPercentile(50) / 1e3));
            props.setProperty(key + "raw.p99.us", Double.toString(r.raw().getValueAtPercentile(99) / 1e3));
            System.out.printf(Locale.ROOT, "%-18s %d pairs: raw/mkwrite %.3fx (quartiles %.3f-%.3f); a record,"
                    + " median of block means: mkwrite %.2f us, raw %.2f us; p50 %.1f / %.1f us, p99 %.1f / %.1f us%n",
                    backing, r.ratios().pairs(), r.ratios().median(), r.ratios().q1(), r.ratios().q3(), r.mkBlockUs(), r.rawBlockUs(),
                    r.mk().getValueAtPercentile(50) / 1e3, r.raw().getValueAtPercentile(50) / 1e3,
                    r.mk().getValueAtPercentile(99) / 1e3, r.raw().getValueAtPercentile(99) / 1e3);
        }
        if (out != null) {
            try (OutputStream o = Files.newOutputStream(out)) {
                props.store(o, "DurableAckPairs");
            }
        }
    }

    /** Warms up, then measures pairs of blocks for {@code seconds}. */
    static Result measure(Backing backing, double seconds) throws IOException {
        DurableAckBenchmark mk = sink(DurableAckBenchmark.Sink.MKWRITE, backing);
        try {
            DurableAckBenchmark raw = sink(DurableAckBenchmark.Sink.RAW, backing);
            try {
                return pairs(backing, seconds, mk, raw);
            } finally {
                close(raw);
            }
        } finally {
            close(mk);
        }
    }

    /** Warms both sinks up, then runs pairs of blocks for {@code seconds}, at least two. */
    private static Result pairs(Backing backing, double seconds, DurableAckBenchmark mk, DurableAckBenchmark raw)
            throws IOException {
        Histogram mkLatency = new Histogram(HIGHEST, 3);
        Histogram rawLatency = new Histogram(HIGHEST, 3);
        long warmEnd = System.nanoTime() + (long) (WARMUP_SECONDS * 1e9);
        while (System.nanoTime() < warmEnd) {
            block(mk, null);
            block(raw, null);
        }
        LongArrayList mkNanos = new LongArrayList(); // each pair's block times; the ratios derive from them
        LongArrayList rawNanos = new LongArrayList();
        long end = System.nanoTime() + (long) (seconds * 1e9);
        while (mkNanos.size() < 2 || System.nanoTime() < end) {
            if ((mkNanos.size() & 1) == 0) { // ABBA: mkwrite first in even pairs, raw first in odd ones
                mkNanos.addLong(block(mk, mkLatency));
                rawNanos.addLong(block(raw, rawLatency));
            } else {
                rawNanos.addLong(block(raw, rawLatency));
                mkNanos.addLong(block(mk, mkLatency));
            }
        }
        int pairs = mkNanos.size();
        double[] mkRecordUs = new double[pairs];
        double[] rawRecordUs = new double[pairs];
        for (int i = 0; i < pairs; i++) {
            mkRecordUs[i] = mkNanos.getLong(i) / 1e3 / BLOCK;
            rawRecordUs[i] = rawNanos.getLong(i) / 1e3 / BLOCK;
        }
        return new Result(backing, Rounds.PairRatios.of(rawNanos, mkNanos), LockDropHarness.median(mkRecordUs),
                LockDropHarness.median(rawRecordUs), mkLatency, rawLatency);
    }

    /** {@value #BLOCK} acknowledged records through {@code sink}; returns the block's nanoseconds. */
    private static long block(DurableAckBenchmark sink, Histogram latency) throws IOException {
        long start = System.nanoTime();
        long last = start;
        for (int i = 0; i < BLOCK; i++) {
            sink.writeAndForce();
            if (latency != null) {
                long now = System.nanoTime();
                latency.recordValue(Math.min(now - last, HIGHEST));
                last = now;
            }
        }
        return System.nanoTime() - start;
    }

    /** A {@link DurableAckBenchmark} set up as JMH would for one iteration on {@code TMPDIR}. */
    private static DurableAckBenchmark sink(DurableAckBenchmark.Sink sink, Backing backing) throws IOException {
        DurableAckBenchmark b = new DurableAckBenchmark();
        b.sink = sink;
        b.backing = backing;
        b.fs = DurableAckBenchmark.Fs.TMPDIR;
        b.setUpTrial();
        b.setUpIteration();
        return b;
    }

    private static void close(DurableAckBenchmark b) throws IOException {
        b.tearDownIteration();
        b.tearDownTrial();
    }
}
