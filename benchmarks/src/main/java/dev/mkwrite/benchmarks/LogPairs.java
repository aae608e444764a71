package dev.mkwrite.benchmarks;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Properties;

import org.agrona.collections.LongArrayList;

/**
 * Row 4 with one thread measured in pairs: each mkwrite sink of {@link LogBenchmark} and its baseline,
 * {@code RAW_FALLOCATED}, appending in one JVM in alternating blocks of {@value #BLOCK} records, so that
 * both meet the host in the same millisecond; one sink after the other.
 *
 * <p>Why: on this two-core host a JMH fork's rate moves with the host's slow stretches by more than the
 * protocol costs. In one full run the {@code MKWRITE} forks spread over 8.3-12.7 M records/s, each fork's
 * error as large as its score, and the row's ratio read 0.48x where the same two jars, alternated fork by
 * fork right after, read 0.66x and 0.70x. Forks minutes apart decide such a ratio, not mkwrite. Here the
 * sinks take turns every millisecond or so, in the order mkwrite, raw, raw, mkwrite, ... (ABBA), so a drift
 * within a pair cancels, and the ratio is the median over pairs of raw block time / mkwrite block time:
 * mkwrite's rate over raw's, as the row's. As {@link DurableAckPairs} does for row 7.
 *
 * <p>Each sink is {@link LogBenchmark}'s own state and operation ({@code append1}: the tail's atomic add,
 * the record's encoding and its write), with its group-flush thread, driven directly. A round is one JMH
 * iteration of the sink and the baseline at once: fresh files, {@code --seconds} of pairs, then the
 * iteration's tear-down (each prints its records and flushes). Rounds are {@code --rounds} a sink, after
 * one round of {@value #WARMUP_SECONDS} s of warm-up, not recorded.
 *
 * <p>Run: {@code ./dev java --enable-native-access=ALL-UNNAMED -cp benchmarks/target/benchmarks.jar
 * dev.mkwrite.benchmarks.LogPairs [--seconds S] [--rounds R] [--out file.properties]} (5 s and 3 rounds
 * unless given).
 */
public final class LogPairs {

    /** Records a block: 2 MiB of the log, about a millisecond at 15 M records/s. */
    static final int BLOCK = 1 << 14;
    private static final double WARMUP_SECONDS = 3;
    /** The sinks measured against the baseline, in turn. */
    static final List<LogBenchmark.Sink> SINKS = List.of(LogBenchmark.Sink.MKWRITE, LogBenchmark.Sink.MKWRITE_SPAN,
            LogBenchmark.Sink.MKWRITE_WRITER);

    private LogPairs() {
    }

    /** One sink's measurement: the median pair ratio, its quartiles, and each side's median rate. */
    record Result(LogBenchmark.Sink sink, Rounds.PairRatios ratios, double mkRate, double rawRate) {
    }

    public static void main(String[] args) throws Exception {
        Rounds.Options options = Rounds.parse(args);
        System.out.printf(Locale.ROOT, "Row 4 in pairs, 1 thread: %d-record blocks, each mkwrite sink in turn against RAW_FALLOCATED"
                + " (ABBA), %d rounds of %.1f s after %.1f s of warm-up a sink; java.io.tmpdir=%s%n", BLOCK,
                options.rounds(), options.seconds(), WARMUP_SECONDS, System.getProperty("java.io.tmpdir"));
        List<Result> results = measure(options.seconds(), options.rounds());
        Properties props = new Properties();
        for (Result r : results) {
            String key = r.sink().name().toLowerCase(Locale.ROOT) + ".";
            r.ratios().store(props, key);
            props.setProperty(key + "mkwrite.rate", Double.toString(r.mkRate()));
            props.setProperty(key + "raw.rate", Double.toString(r.rawRate()));
            System.out.printf(Locale.ROOT, "%-15s %d pairs: mkwrite/raw %.3fx (quartiles %.3f-%.3f); median block"
                    + " rates: mkwrite %.2f M rec/s, raw %.2f M rec/s%n", r.sink(), r.ratios().pairs(),
                    r.ratios().median(), r.ratios().q1(), r.ratios().q3(), r.mkRate() / 1e6, r.rawRate() / 1e6);
        }
        if (options.out() != null) {
            try (OutputStream o = Files.newOutputStream(options.out())) {
                props.store(o, "LogPairs");
            }
        }
    }

    /** Each sink in turn against a baseline of its own: warm-up, then {@code rounds} rounds of {@code seconds}. */
    static List<Result> measure(double seconds, int rounds) throws IOException, InterruptedException {
        List<Result> results = new ArrayList<>();
        for (LogBenchmark.Sink s : SINKS) {
            results.add(measure(s, seconds, rounds));
        }
        return results;
    }

    /**
     * {@code sink} against {@code RAW_FALLOCATED}: one sink at a time, so that two group-flush threads run
     * beside the appender, not one for every sink (with all of them in turn, the idle sinks' flushes of
     * their last blocks landed in the measured one's: quartiles of 0.37x-0.81x, where one sink at a time
     * gives 0.67x-0.79x).
     */
    static Result measure(LogBenchmark.Sink sink, double seconds, int rounds) throws IOException, InterruptedException {
        LogBenchmark raw = sink(LogBenchmark.Sink.RAW_FALLOCATED);
        try {
            LogBenchmark mk = sink(sink);
            try {
                LogBenchmark.Appender appender = new LogBenchmark.Appender(); // one thread's, as append1's
                LongArrayList mkNanos = new LongArrayList();
                LongArrayList rawNanos = new LongArrayList();
                round(WARMUP_SECONDS, raw, mk, appender, null, null);
                for (int r = 0; r < rounds; r++) {
                    round(seconds, raw, mk, appender, mkNanos, rawNanos);
                }
                return result(sink, mkNanos, rawNanos);
            } finally {
                mk.tearDownTrial();
            }
        } finally {
            raw.tearDownTrial();
        }
    }

    /**
     * One round: an iteration of both sinks at once, {@code seconds} of pairs; the block times go to
     * {@code mkNanos} and {@code rawNanos} (null: a warm-up round).
     */
    private static void round(double seconds, LogBenchmark raw, LogBenchmark mk, LogBenchmark.Appender appender,
                              LongArrayList mkNanos, LongArrayList rawNanos) throws IOException, InterruptedException {
        raw.setUpIteration();
        mk.setUpIteration();
        try {
            long end = System.nanoTime() + (long) (seconds * 1e9);
            int pair = 0;
            do {
                long m;
                long w;
                if ((pair & 1) == 0) { // ABBA: mkwrite first in even pairs, raw first in odd ones
                    m = block(mk, appender);
                    w = block(raw, appender);
                } else {
                    w = block(raw, appender);
                    m = block(mk, appender);
                }
                if (mkNanos != null) {
                    mkNanos.addLong(m);
                    rawNanos.addLong(w);
                }
                pair++;
            } while (pair < 2 || System.nanoTime() < end);
        } finally {
            appender.closeSpan(); // before the truncate of the tear-down, as JMH does
            mk.tearDownIteration();
            raw.tearDownIteration();
        }
    }

    /** {@value #BLOCK} records appended to {@code sink}; returns the block's nanoseconds. */
    private static long block(LogBenchmark sink, LogBenchmark.Appender appender) throws IOException {
        long start = System.nanoTime();
        for (int i = 0; i < BLOCK; i++) {
            sink.append1(appender);
        }
        return System.nanoTime() - start;
    }

    private static Result result(LogBenchmark.Sink sink, LongArrayList mkNanos, LongArrayList rawNanos) {
        int pairs = mkNanos.size();
        double[] mkRates = new double[pairs];
        double[] rawRates = new double[pairs];
        for (int i = 0; i < pairs; i++) {
            mkRates[i] = BLOCK * 1e9 / mkNanos.getLong(i);
            rawRates[i] = BLOCK * 1e9 / rawNanos.getLong(i);
        }
        return new Result(sink, Rounds.PairRatios.of(rawNanos, mkNanos), LockDropHarness.median(mkRates),
                LockDropHarness.median(rawRates));
    }

    /** A {@link LogBenchmark} of {@code sink} set up as JMH would for a trial. */
    private static LogBenchmark sink(LogBenchmark.Sink sink) throws IOException {
        LogBenchmark b = new LogBenchmark();
        b.sink = sink;
        b.setUpTrial();
        return b;
    }
}
