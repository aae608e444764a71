package dev.mkwrite.benchmarks;

import org.openjdk.jmh.results.BenchmarkResult;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.results.format.ResultFormatType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.function.ToDoubleFunction;

/**
 * Runs every row of the benchmark table in one go and prints the ratios: the JMH rows 1, 1b, 2, 4, 6 and 7
 * through the JMH runner API (which gives each fork's score, so the median over forks is exact), one fork
 * of each benchmark per round so that variants and baselines alternate ({@link #rounds}), then the
 * harnesses of rows 3, 3b, 5 and 8 in their own JVMs. Writes JMH's JSON, the harnesses' output and
 * {@code summary.md} (the table, in row order) into the results directory. {@code ./dev bench} with no
 * arguments runs it.
 *
 * <p>Run: {@code ./dev java --enable-native-access=ALL-UNNAMED -cp benchmarks/target/benchmarks.jar
 * dev.mkwrite.benchmarks.RunAll [--quick] resultsDir}. {@code --quick} runs one short fork of everything,
 * to check that it all works; its numbers mean nothing.
 */
public final class RunAll {

    private static final String PKG = "dev.mkwrite.benchmarks.";

    /** How long each kind of measurement runs. */
    private record Profile(int forks, int warmups, TimeValue warmup, int iterations, TimeValue measurement,
                           int logIterations, TimeValue logMeasurement, int shotForks, int shotWarmups, int shots,
                           String lockDropSeconds, String lockDropRounds, String coldStartRuns, String pairSeconds,
                           String logPairSeconds, String logPairRounds) {
    }

    private static final Profile FULL = new Profile(3, 2, TimeValue.seconds(1), 4, TimeValue.seconds(1),
            3, TimeValue.seconds(2), 5, 150, 30, "5", "3", "10", "10", "3", "3");
    private static final Profile QUICK = new Profile(1, 1, TimeValue.milliseconds(200), 1,
            TimeValue.milliseconds(200), 1, TimeValue.milliseconds(500), 1, 2, 3, "0.5", "1", "2", "0.5", "0.5", "1");

    /** One line of the ratio table. */
    private record Line(String row, String variant, String median, String baseline, String baselineMedian,
                        String ratio, String target, String met) {
    }

    /**
     * One line of the table of rows 2 and 4 by cross-CPU mode: the ratio over the forks both of whose probes
     * found the vCPUs close, and over those that found them apart ({@link CrossCpuProfiler}).
     */
    private record ModeLine(String row, String variant, String baseline, String fast, String slow) {
    }

    private final Path results;
    private final Profile profile;
    private final List<Line> lines = new ArrayList<>();
    private final List<ModeLine> modeLines = new ArrayList<>();

    private RunAll(Path results, Profile profile) {
        this.results = results;
        this.profile = profile;
    }

    /** A row of the table and how to run it. */
    private interface RowRun {
        void run(RunAll all) throws Exception;
    }

    /** Every row, in the table's order. */
    private static final Map<String, RowRun> ROWS = rows();

    private static Map<String, RowRun> rows() {
        Map<String, RowRun> rows = new java.util.LinkedHashMap<>();
        rows.put("1", RunAll::fastPath);
        rows.put("1b", RunAll::append);
        rows.put("2", RunAll::firstWrite);
        rows.put("4", RunAll::log);
        rows.put("6", RunAll::reads);
        rows.put("7", RunAll::durableAck);
        rows.put("3", RunAll::lockDrop);
        rows.put("3b", RunAll::convoy);
        rows.put("5", RunAll::scale);
        rows.put("8", RunAll::coldStart);
        return rows;
    }

    public static void main(String[] args) throws Exception {
        boolean quick = false;
        Path results = null;
        List<String> only = List.copyOf(ROWS.keySet());
        for (int k = 0; k < args.length; k++) {
            String a = args[k];
            if (a.equals("--quick")) {
                quick = true;
            } else if (a.equals("--rows") && k + 1 < args.length) {
                only = List.of(args[++k].split(","));
                for (String row : only) {
                    if (!ROWS.containsKey(row)) {
                        throw new IllegalArgumentException("no row " + row + "; the rows are " + ROWS.keySet());
                    }
                }
            } else {
                results = Path.of(a);
            }
        }
        if (results == null) {
            throw new IllegalArgumentException("usage: RunAll [--quick] [--rows 1,1b,4] resultsDir");
        }
        Files.createDirectories(results);
        long start = System.nanoTime();
        RunAll all = new RunAll(results, quick ? QUICK : FULL);
        for (Map.Entry<String, RowRun> row : ROWS.entrySet()) {
            if (only.contains(row.getKey())) {
                row.getValue().run(all);
            }
        }
        String summary = all.table(quick, (System.nanoTime() - start) / 1e9);
        Files.writeString(results.resolve("summary.md"), summary);
        System.out.println();
        System.out.println(summary);
    }

    // ---------------------------------------------------------------------------------------------
    // Rows

    /** Row 1: ns per write; the ratio is raw time / mkwrite time, the fraction of raw speed. */
    private void fastPath() throws RunnerException {
        Scores s = rounds(
                new Call("row1-segment", "FastPathBenchmark\\.(span|put|writerPut|rawSegment|rawSegmentArray|rawBuffer)$", false,
                        Map.of("backing", "MEMORY_SEGMENT")),
                new Call("row1-buffer", "FastPathBenchmark\\.(span|put|writerPut)$", false, Map.of("backing", "MAPPED_BYTE_BUFFER")),
                new Call("row1-long", "FastPathBenchmark\\.(putLong|writerPutLong|rawPutLong)$", false,
                        Map.of("backing", "MEMORY_SEGMENT", "size", "64")));
        for (String size : List.of("64", "512", "4096")) {
            String target = switch (size) {
                case "64" -> ">= 0.5";
                case "4096" -> ">= 0.9";
                default -> "";
            };
            double want = size.equals("64") ? 0.5 : size.equals("4096") ? 0.9 : Double.NaN;
            for (String backing : List.of("MEMORY_SEGMENT", "MAPPED_BYTE_BUFFER")) {
                for (String method : List.of("span", "put", "writerPut")) {
                    // Like for like on the segment backing: the span copies from a native segment, put (and a
                    // RegionWriter's put) from a byte[]. The buffer backing keeps the raw MappedByteBuffer's put
                    // of a byte[].
                    String raw = !backing.equals("MEMORY_SEGMENT") ? "rawBuffer"
                            : method.equals("span") ? "rawSegment" : "rawSegmentArray";
                    Stat base = s.stat(raw, "backing=MEMORY_SEGMENT", "size=" + size);
                    Stat v = s.stat(method, "backing=" + backing, "size=" + size);
                    double r = base.median() / v.median();
                    lines.add(new Line("1", method + " " + size + " B, " + shortBacking(backing), ns(v),
                            raw + " " + size + " B", ns(base), ratio(r), target, met(r >= want, want)));
                }
            }
        }
        Stat base = s.stat("rawPutLong", "backing=MEMORY_SEGMENT", "size=64");
        for (String method : List.of("putLong", "writerPutLong")) {
            Stat v = s.stat(method, "backing=MEMORY_SEGMENT", "size=64");
            lines.add(new Line("1", method + " 8 B, segment", ns(v), "rawPutLong 8 B", ns(base),
                    ratio(base.median() / v.median()), "", ""));
        }
    }

    /**
     * Row 1b: ns per 64-byte record, one span per chunk; the ratio is raw time / mkwrite time. The row's
     * measure is the README's loop ({@code ...Loop}, a batch of records per call, against the same loop
     * over the raw mapping); one record per call is shown beside it, without a target.
     */
    private void append() throws RunnerException {
        Scores s = rounds(
                new Call("row1b-segment", "AppendBenchmark\\.appendSegment(Loop)?$", false,
                        Map.of("backing", "MEMORY_SEGMENT")),
                new Call("row1b-buffer", "AppendBenchmark\\.appendBuffer(Loop)?$", false,
                        Map.of("backing", "MAPPED_BYTE_BUFFER")),
                new Call("row1b-raw", "AppendBenchmark\\.(rawSegment|rawBuffer)(Loop)?$", false,
                        Map.of("backing", "MEMORY_SEGMENT", "chunk", "4096")));
        for (String shape : List.of("Loop", "")) {
            for (String chunk : List.of("4096", "65536")) {
                String span = chunk.equals("4096") ? "4 KiB span" : "64 KiB span";
                for (String backing : List.of("MEMORY_SEGMENT", "MAPPED_BYTE_BUFFER")) {
                    boolean segment = backing.equals("MEMORY_SEGMENT");
                    String raw = (segment ? "rawSegment" : "rawBuffer") + shape;
                    Stat v = s.stat((segment ? "appendSegment" : "appendBuffer") + shape, "backing=" + backing,
                            "chunk=" + chunk);
                    Stat base = s.stat(raw, "backing=MEMORY_SEGMENT", "chunk=4096");
                    double r = base.median() / v.median();
                    boolean loop = !shape.isEmpty();
                    lines.add(new Line("1b", "append 64 B" + (loop ? " in a loop" : ", one a call") + ", " + span
                            + ", " + shortBacking(backing), ns(v), raw + " 64 B", ns(base), ratio(r),
                            loop ? ">= 0.95" : "", loop ? yes(r >= 0.95) : ""));
                }
            }
        }
    }

    /** Row 2: ms per 16 MiB of first writes; the ratio is variant time / raw time. */
    private void firstWrite() throws RunnerException {
        Scores s = rounds(new Call("row2", "FirstWriteBenchmark", true, Map.of()));
        Stat raw = s.stat("firstWrite", "variant=RAW");
        for (String variant : List.of("NOOP", "NOOP_64K", "POPULATE_64K", "FALLOCATE_64K", "PREPARE_AHEAD")) {
            Stat v = s.stat("firstWrite", "variant=" + variant);
            double r = v.median() / raw.median();
            String target = variant.equals("NOOP") ? "<= 1.3" : variant.equals("POPULATE_64K") ? "< 1.0"
                    : variant.equals("PREPARE_AHEAD") ? "<= 0.77" : "";
            String met = variant.equals("NOOP") ? yes(r <= 1.3) : variant.equals("POPULATE_64K") ? yes(r < 1.0)
                    : variant.equals("PREPARE_AHEAD") ? yes(r <= 0.77) : "";
            lines.add(new Line("2", variant + " (time)", ms(v), "RAW first touch", ms(raw), ratio(r), target, met));
            byMode("2", variant + " (time)", "RAW first touch", s, "firstWrite", "variant=" + variant, "variant=RAW");
        }
    }

    /**
     * Row 4: records per second; the ratio is mkwrite / baseline. With one thread against the raw fallocated
     * mapping, the target's line is measured in pairs ({@link LogPairs}): each sink and the baseline in one
     * JVM, in alternating blocks; the JMH forks, minutes apart, are shown beside it.
     */
    private void log() throws RunnerException, IOException, InterruptedException {
        Scores s = rounds(new Call("row4", "LogBenchmark", false, Map.of()));
        Path props = results.resolve("row4pairs.properties");
        harness("row4pairs", LogPairs.class, "--seconds", profile.logPairSeconds(), "--rounds",
                profile.logPairRounds(), "--out", props.toString());
        Properties pairs = load(props);
        for (LogBenchmark.Sink sink : LogPairs.SINKS) {
            String key = sink.name().toLowerCase(Locale.ROOT) + ".";
            ToDoubleFunction<String> pair = name -> Double.parseDouble(pairs.getProperty(key + name));
            double pr = pair.applyAsDouble("ratio");
            lines.add(new Line("4", sink + ", 1 thread, in pairs (" + pairs.getProperty(key + "pairs") + " pairs of "
                    + LogPairs.BLOCK + "-record blocks, one JVM)",
                    String.format(Locale.ROOT, "%.2f M rec/s", pair.applyAsDouble("mkwrite.rate") / 1e6),
                    "RAW_FALLOCATED, the blocks between",
                    String.format(Locale.ROOT, "%.2f M rec/s", pair.applyAsDouble("raw.rate") / 1e6),
                    ratio(pr) + " (quartiles " + ratio(pair.applyAsDouble("ratio.q1")) + "-"
                            + ratio(pair.applyAsDouble("ratio.q3")) + ")", ">= 0.8", yes(pr >= 0.8)));
        }
        for (String method : List.of("append1", "append2")) {
            String threads = method.equals("append1") ? "1 thread" : "2 threads";
            Stat channel = s.stat(method, "sink=FILE_CHANNEL");
            Stat raw = s.stat(method, "sink=RAW_FALLOCATED");
            Stat zeroed = s.stat(method, "sink=RAW_ZEROED");
            for (String sink : List.of("MKWRITE", "MKWRITE_AHEAD", "MKWRITE_AROUND", "MKWRITE_SPAN", "MKWRITE_WRITER")) {
                Stat mk = s.stat(method, "sink=" + sink);
                double toChannel = mk.median() / channel.median();
                double toRaw = mk.median() / raw.median();
                boolean oneThread = method.equals("append1");
                lines.add(new Line("4", sink + ", " + threads, rate(mk), "FILE_CHANNEL", rate(channel),
                        ratio(toChannel), oneThread ? ">= 10" : ">= 5", yes(toChannel >= (oneThread ? 10 : 5))));
                lines.add(new Line("4", sink + ", " + threads, rate(mk), "RAW_FALLOCATED", rate(raw),
                        ratio(toRaw), ">= 0.8", yes(toRaw >= 0.8)));
                byMode("4", sink + ", " + threads, "RAW_FALLOCATED", s, method, "sink=" + sink,
                        "sink=RAW_FALLOCATED");
                lines.add(new Line("4", sink + ", " + threads, rate(mk), "RAW_ZEROED", rate(zeroed),
                        ratio(mk.median() / zeroed.median()), "", ""));
            }
        }
    }

    /**
     * Adds the by-mode line of {@code variant} against {@code baseline}: the ratio of their medians over the
     * forks of each cross-CPU mode, variant / baseline as the row's own ratio is (row 2's times, row 4's
     * rates); a mode with no fork of either shows a dash.
     */
    private void byMode(String row, String variant, String baseline, Scores s, String method, String variantParam,
                        String baselineParam) {
        modeLines.add(new ModeLine(row, variant, baseline,
                modeCell(s.stat(Probed.FAST, method, variantParam), s.stat(Probed.FAST, method, baselineParam)),
                modeCell(s.stat(Probed.SLOW, method, variantParam), s.stat(Probed.SLOW, method, baselineParam))));
    }

    /** One mode's cell: variant / baseline over that mode's forks, and how many each had; a dash if either had none. */
    private static String modeCell(Stat v, Stat b) {
        if (v == null || b == null) {
            return "- (" + (v == null ? 0 : v.forks()) + " / " + (b == null ? 0 : b.forks()) + " forks)";
        }
        return String.format(Locale.ROOT, "%s (%d / %d forks)", ratio(v.median() / b.median()), v.forks(), b.forks());
    }

    /** Row 6: ns per read; the ratio is raw time / mkwrite time. */
    private void reads() throws RunnerException {
        Scores s = rounds(
                new Call("row6-segment", "ReadBenchmark\\.(get|getSegment|rawSegment|rawSegmentToSegment)$",
                        false, Map.of("backing", "MEMORY_SEGMENT")),
                new Call("row6-buffer", "ReadBenchmark\\.(get|rawBuffer)$", false,
                        Map.of("backing", "MAPPED_BYTE_BUFFER")));
        for (String pattern : List.of("RANDOM_64", "SEQUENTIAL_4K")) {
            String what = pattern.equals("RANDOM_64") ? "random 64 B" : "sequential 4 KiB";
            String[][] pairs = {
                    {"get", "MEMORY_SEGMENT", "rawSegment", "to byte[]"},
                    {"getSegment", "MEMORY_SEGMENT", "rawSegmentToSegment", "to segment"},
                    {"get", "MAPPED_BYTE_BUFFER", "rawBuffer", "to byte[]"}};
            for (String[] pair : pairs) {
                Stat v = s.stat(pair[0], "backing=" + pair[1], "pattern=" + pattern);
                // The baseline from the same backing's forks: their set-up allocates alike, so the destination
                // array sits alike in the heap. Across backings the same raw 4 KiB copy measured 72-75 ns
                // against 113-129 ns, and mkwrite's read moved with it (see ReadBenchmark).
                Stat base = s.stat(pair[2], "backing=" + pair[1], "pattern=" + pattern);
                double r = base.median() / v.median();
                lines.add(new Line("6", pair[0] + " " + what + " " + pair[3] + ", " + shortBacking(pair[1]), ns(v),
                        pair[2] + " " + what, ns(base), ratio(r), ">= 0.9", yes(r >= 0.9)));
            }
        }
    }

    /**
     * Row 7: us per durable 128-byte write; the ratio is raw time / mkwrite time. The target is on
     * {@code java.io.tmpdir}, measured in pairs of blocks in one JVM ({@link DurableAckPairs}), where both
     * sinks meet the device in the same second; the JMH forks, minutes apart, are shown beside it, and
     * {@code /dev/shm}, where no device waits, shows the protocol's own cost.
     */
    private void durableAck() throws RunnerException, IOException, InterruptedException {
        Scores s = rounds(new Call("row7", "DurableAckBenchmark", false, Map.of()));
        Path props = results.resolve("row7pairs.properties");
        harness("row7pairs", DurableAckPairs.class, "--seconds", profile.pairSeconds(), "--out", props.toString());
        Properties pairs = load(props);
        for (String fs : List.of("TMPDIR", "SHM")) {
            boolean onDisk = fs.equals("TMPDIR");
            String where = onDisk ? "tmpdir" : "/dev/shm";
            for (String backing : List.of("MEMORY_SEGMENT", "MAPPED_BYTE_BUFFER")) {
                Stat v = s.stat("writeAndForce", "sink=MKWRITE", "backing=" + backing, "fs=" + fs);
                Stat base = s.stat("writeAndForce", "sink=RAW", "backing=" + backing, "fs=" + fs);
                double r = base.median() / v.median();
                String raw = backing.equals("MEMORY_SEGMENT") ? "raw slice force()" : "raw force(index, 128)";
                if (onDisk) { // the target's line: both sinks in one JVM, in alternating blocks (DurableAckPairs)
                    String key = backing.toLowerCase(Locale.ROOT) + ".";
                    ToDoubleFunction<String> pair = name -> Double.parseDouble(pairs.getProperty(key + name));
                    double pr = pair.applyAsDouble("ratio");
                    lines.add(new Line("7", "put + flush(offset, 128), " + shortBacking(backing) + ", tmpdir, in pairs ("
                            + pairs.getProperty(key + "pairs") + " pairs of " + DurableAckPairs.BLOCK
                            + "-record blocks, one JVM)", micros(pair.applyAsDouble("mkwrite.block.us")),
                            raw + ", the blocks between", micros(pair.applyAsDouble("raw.block.us")),
                            ratio(pr) + " (quartiles " + ratio(pair.applyAsDouble("ratio.q1")) + "-"
                                    + ratio(pair.applyAsDouble("ratio.q3")) + ")",
                            ">= 0.9", yes(pr >= 0.9)));
                }
                lines.add(new Line("7", "put + flush(offset, 128), " + shortBacking(backing) + ", " + where
                        + (onDisk ? ", forks apart" : ""), micros(v), raw, micros(base), ratio(r), "", ""));
                Stat o = s.stat("writeAndForce", "sink=MKWRITE_OTHER_WRITER", "backing=" + backing, "fs=" + fs);
                lines.add(new Line("7", "the same, another thread that wrote once alive, " + shortBacking(backing)
                        + ", " + where, micros(o), raw, micros(base), ratio(base.median() / o.median()), "", ""));
            }
        }
    }

    /** Row 3: p99 of grow() with the lock held against dropped; the ratio is hold / drop. */
    private void lockDrop() throws IOException, InterruptedException {
        Path props = results.resolve("row3.properties");
        harness("row3", LockDropHarness.class, "--seconds", profile.lockDropSeconds(), "--rounds",
                profile.lockDropRounds(), "--out", props.toString());
        Properties p = load(props);
        for (String stat : List.of("p50", "p99", "max")) {
            double alone = Double.parseDouble(p.getProperty("alone.grow." + stat + ".us"));
            lines.add(new Line("3", "grow " + stat + ", no faults running (the floor)", us(alone), "", "", "", "", ""));
        }
        for (String stat : List.of("p50", "p99", "max")) {
            for (String op : List.of("grow", "fault")) {
                double hold = Double.parseDouble(p.getProperty("hold." + op + "." + stat + ".us"));
                double drop = Double.parseDouble(p.getProperty("drop." + op + "." + stat + ".us"));
                boolean headline = op.equals("grow") && stat.equals("p99");
                lines.add(new Line("3", op + " " + stat + ", dropLock", us(drop), op + " " + stat + ", lock held",
                        us(hold), ratio(hold / drop) + " lower", headline ? ">= 10" : "",
                        headline ? yes(hold / drop >= 10) : ""));
            }
        }
    }

    /** Row 3b: p99 of the fast thread's faults beside a slow handler, lock held against dropped. */
    private void convoy() throws IOException, InterruptedException {
        Path props = results.resolve("row3b.properties");
        harness("row3b", ConvoyHarness.class, "--seconds", profile.lockDropSeconds(), "--rounds",
                profile.lockDropRounds(), "--out", props.toString());
        Properties p = load(props);
        for (String stat : List.of("p50", "p99", "max")) {
            double alone = Double.parseDouble(p.getProperty("alone.fast." + stat + ".us"));
            lines.add(new Line("3b", "fast fault " + stat + ", alone (the floor)", us(alone), "", "", "", "", ""));
        }
        for (String stat : List.of("p50", "p99", "max")) {
            double hold = Double.parseDouble(p.getProperty("hold.fast." + stat + ".us"));
            double drop = Double.parseDouble(p.getProperty("drop.fast." + stat + ".us"));
            boolean headline = stat.equals("p99");
            lines.add(new Line("3b", "fast fault " + stat + ", dropLock", us(drop), "fast fault " + stat + ", lock held",
                    us(hold), ratio(hold / drop) + " lower", headline ? ">= 10" : "",
                    headline ? yes(hold / drop >= 10) : ""));
        }
        double hold = Double.parseDouble(p.getProperty("hold.grow.p99.us"));
        double drop = Double.parseDouble(p.getProperty("drop.grow.p99.us"));
        lines.add(new Line("3b", "grow p99, dropLock", us(drop), "grow p99, lock held", us(hold),
                ratio(hold / drop) + " lower", "", ""));
    }

    /** Row 5: absolute figures. */
    private void scale() throws IOException, InterruptedException {
        Path props = results.resolve("row5.properties");
        harness("row5", ScaleHarness.class, "--out", props.toString());
        Properties p = load(props);
        lines.add(new Line("5", "open 1 TiB sparse region (median of 7)",
                String.format(Locale.ROOT, "%.2f ms", Double.parseDouble(p.getProperty("open.median.ms"))),
                "", "", "", "report", ""));
        lines.add(new Line("5", "page-state metadata, empty", bytes(p.getProperty("metadata.empty.bytes")), "", "", "",
                "report", ""));
        lines.add(new Line("5", "page-state metadata, 1 GiB written", bytes(p.getProperty("metadata.dirty.bytes")), "",
                "", "", "report", ""));
        double write = Double.parseDouble(p.getProperty("write.ms"));
        double raw = Double.parseDouble(p.getProperty("raw.ms"));
        lines.add(new Line("5", "write 1 GiB sequentially (time)", String.format(Locale.ROOT, "%.0f ms", write),
                "raw first touch", String.format(Locale.ROOT, "%.0f ms", raw), ratio(write / raw), "<= 1.2", met(write / raw <= 1.2, 1.2)));
        double cold = Double.parseDouble(p.getProperty("write.cold.ms"));
        lines.add(new Line("5", "write 1 GiB, mkwrite's first pass in the JVM (time)",
                String.format(Locale.ROOT, "%.0f ms", cold), "raw first touch", String.format(Locale.ROOT, "%.0f ms", raw),
                ratio(cold / raw), "report", ""));
    }

    /** Row 8: a fresh JVM to its first write, mkwrite against raw; the ratio column is the difference. */
    private void coldStart() throws IOException, InterruptedException {
        Path props = results.resolve("row8.properties");
        harness("row8", ColdStartHarness.class, "--runs", profile.coldStartRuns(), "--out", props.toString());
        Properties p = load(props);
        String runs = " (median of " + profile.coldStartRuns() + ")";
        coldLine(p, "main", "main to first 4 KiB write, fallocate handler" + runs, "raw map and write", "<= +50 ms", 50);
        coldLine(p, "spawn", "spawn to first 4 KiB write (parent's clock)" + runs, "raw map and write", "", Double.NaN);
        for (String what : List.of("", ".jdk.jfr", ".dev.mkwrite", ".jdk.internal.foreign", ".org.slf4j")) {
            long m = Long.parseLong(p.getProperty("mkwrite.classes" + what));
            long r = Long.parseLong(p.getProperty("raw.classes" + what));
            String label = what.isEmpty() ? "classes loaded to the first write" : what.substring(1) + ".* classes loaded";
            lines.add(new Line("8", label, Long.toString(m), "raw", Long.toString(r),
                    String.format(Locale.ROOT, "%+d", m - r), "report", ""));
        }
        // Shown beside: both JVMs with an AOT cache of their own (JDK 25), as a start-up-minded application ships.
        Path aot = results.resolve("row8aot.properties");
        harness("row8aot", ColdStartHarness.class, "--runs", profile.coldStartRuns(), "--aot", "--out", aot.toString());
        coldLine(load(aot), "main", "main to first 4 KiB write, each JVM with its own AOT cache" + runs,
                "raw, with its own", "report", Double.NaN);
    }

    /**
     * One row 8 line from a harness's properties: the {@code which} ("main" or "spawn") medians of mkwrite
     * and raw, their difference in the ratio column, and whether it is at most {@code limitMs} (NaN: no
     * target, the Met column left empty).
     */
    private void coldLine(Properties p, String which, String label, String baseline, String target, double limitMs) {
        double mk = Double.parseDouble(p.getProperty("mkwrite." + which + ".median.ms"));
        double raw = Double.parseDouble(p.getProperty("raw." + which + ".median.ms"));
        lines.add(new Line("8", label, millis(mk), baseline, millis(raw), String.format(Locale.ROOT, "%+.1f ms", mk - raw),
                target, Double.isNaN(limitMs) ? "" : yes(mk - raw <= limitMs)));
    }

    // ---------------------------------------------------------------------------------------------
    // Running

    /** A statistic over forks: their median, lowest and highest score, and how many there were. */
    private record Stat(double median, double min, double max, int forks) {
    }

    /**
     * Which forks a statistic takes: all of them, or those both of whose cross-CPU probes found the
     * vCPUs close ({@code FAST}) or apart ({@code SLOW}); see {@link CrossCpuProfiler}.
     */
    private enum Probed {
        ALL, FAST, SLOW;

        boolean takes(BenchmarkResult fork) {
            if (this == ALL) {
                return true;
            }
            double before = probe(fork, CrossCpuProfiler.BEFORE);
            double after = probe(fork, CrossCpuProfiler.AFTER);
            return this == FAST ? CrossCpuProfiler.fast(before, after) : CrossCpuProfiler.slow(before, after);
        }

        private static double probe(BenchmarkResult fork, String label) {
            org.openjdk.jmh.results.Result<?> r = fork.getSecondaryResults().get(label);
            return r == null ? Double.NaN : r.getScore();
        }
    }

    /** Each benchmark's per-fork scores, keyed by method and parameters. */
    private static final class Scores {
        private final List<RunResult> runs = new ArrayList<>();

        /**
         * The median, lowest and highest over the forks of {@code method} whose parameters include
         * {@code params}: one fork per round (see {@link #rounds}).
         */
        Stat stat(String method, String... params) {
            Stat all = stat(Probed.ALL, method, params);
            if (all == null) {
                throw new IllegalStateException("no result for " + method + " " + List.of(params));
            }
            return all;
        }

        /** As {@link #stat(String, String...)}, over the forks {@code probed} takes; null if none. */
        Stat stat(Probed probed, String method, String... params) {
            List<Double> scores = new ArrayList<>();
            for (RunResult r : runs) {
                String name = r.getParams().getBenchmark();
                if (!name.substring(name.lastIndexOf('.') + 1).equals(method)) {
                    continue;
                }
                boolean match = true;
                for (String kv : params) {
                    String[] p = kv.split("=", 2);
                    if (!p[1].equals(r.getParams().getParam(p[0]))) {
                        match = false;
                    }
                }
                if (match) {
                    for (BenchmarkResult fork : r.getBenchmarkResults()) {
                        if (probed.takes(fork)) {
                            scores.add(fork.getPrimaryResult().getScore());
                        }
                    }
                }
            }
            if (scores.isEmpty()) {
                return null;
            }
            double[] sorted = scores.stream().mapToDouble(Double::doubleValue).sorted().toArray();
            return new Stat(LockDropHarness.median(sorted), sorted[0], sorted[sorted.length - 1], sorted.length);
        }
    }

    /** One JMH run of a row's: the benchmarks it includes, with which parameters. */
    private record Call(String name, String include, boolean singleShot, Map<String, String> params) {
    }

    /**
     * Runs a row's calls in rounds of one fork each: every call's first fork, then every call's second,
     * and so on. A variant and its baseline are then measured minutes apart, in every round, rather than
     * a row apart: on these hosts the raw baselines drifted by up to 2x between forks minutes apart (row
     * 1b's raw 64 B write measured 6.5 ns in one run and 12-16 ns an hour later, with mkwrite's beside it
     * moving the same way).
     */
    private Scores rounds(Call... calls) throws RunnerException {
        Scores s = new Scores();
        int rounds = calls[0].singleShot() ? profile.shotForks() : profile.forks();
        for (int round = 1; round <= rounds; round++) {
            for (Call call : calls) {
                s.runs.addAll(jmh(call, rounds == 1 ? call.name() : call.name() + "-round" + round));
            }
        }
        return s;
    }

    /** One fork of every benchmark of {@code call}, its JSON in {@code file}.json. */
    private Collection<RunResult> jmh(Call call, String file) throws RunnerException {
        ChainedOptionsBuilder b = new OptionsBuilder().include(PKG + call.include()).forks(1)
                .resultFormat(ResultFormatType.JSON).result(results.resolve(file + ".json").toString())
                .shouldFailOnError(true).addProfiler(CrossCpuProfiler.class);
        if (call.singleShot()) {
            b.warmupIterations(profile.shotWarmups()).measurementIterations(profile.shots());
        } else if (call.include().startsWith("LogBenchmark")) {
            b.warmupIterations(profile.warmups()).warmupTime(profile.warmup())
                    .measurementIterations(profile.logIterations()).measurementTime(profile.logMeasurement());
        } else {
            b.warmupIterations(profile.warmups()).warmupTime(profile.warmup())
                    .measurementIterations(profile.iterations()).measurementTime(profile.measurement());
        }
        call.params().forEach(b::param);
        return new Runner(b.build()).run();
    }

    /** Runs a harness's main in its own JVM, echoing and keeping its output. */
    private void harness(String name, Class<?> main, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                "--enable-native-access=ALL-UNNAMED", "-Xmx2g",
                "-Djava.io.tmpdir=" + System.getProperty("java.io.tmpdir"), // the JMH forks inherit it too
                "-cp", System.getProperty("java.class.path"), main.getName()));
        command.addAll(List.of(args));
        Path log = results.resolve(name + ".txt");
        System.out.println("# " + name + ": " + main.getSimpleName() + " " + String.join(" ", args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        int rc = p.waitFor();
        System.out.print(Files.readString(log));
        if (rc != 0) {
            throw new IllegalStateException(main.getSimpleName() + " exited with " + rc + "; see " + log);
        }
    }

    private static Properties load(Path file) throws IOException {
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(file)) {
            p.load(in);
        }
        return p;
    }

    // ---------------------------------------------------------------------------------------------
    // Formatting

    private String table(boolean quick, double seconds) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "Ratio table%s; total run time %.1f min. Medians over forks (JMH rows;"
                + " one fork per round, each round runs a row's variants and baselines in turn) or rounds (rows 3,"
                + " 3b) or runs (row 8), with the lowest and highest fork in brackets.%n%n", quick ? " (QUICK RUN: the numbers mean nothing)" : "", seconds / 60));
        sb.append("| Row | Variant | Median | Baseline | Baseline median | Ratio | Target | Met? |\n");
        sb.append("|---|---|---|---|---|---|---|---|\n");
        List<Line> ordered = new ArrayList<>(lines);
        ordered.sort(Comparator.comparing(RunAll::rowKey)); // stable: each row keeps its own order
        for (Line l : ordered) {
            sb.append("| ").append(String.join(" | ", l.row(), l.variant(), l.median(), l.baseline(),
                    l.baselineMedian(), l.ratio(), l.target(), l.met())).append(" |\n");
        }
        sb.append("""

                Ratios: rows 1, 1b, 6 and 7 raw time / mkwrite time (fraction of raw speed); row 2 variant time / \
                raw time; rows 3 and 3b lock-held latency / dropLock latency; row 4 mkwrite records/s / baseline \
                records/s; row 5 mkwrite time / raw time; row 8 mkwrite minus raw (medians over runs).
                """);
        if (!modeLines.isEmpty()) {
            sb.append(String.format(Locale.ROOT, """

                    Rows 2 and 4 by cross-CPU mode: the same ratios over the forks whose cross-CPU round trip, \
                    probed just before and just after the fork, was below %.0f ns both times (vCPUs close) or at \
                    or above it both times (vCPUs apart); forks in between count in neither. Two threads that \
                    share lines run at different speeds in the two modes (CrossCpuProbe), so a ratio over a mix \
                    of them says more about the host than about mkwrite. Forks in brackets: variant / baseline.

                    | Row | Variant | Baseline | Ratio, vCPUs close | Ratio, vCPUs apart |
                    |---|---|---|---|---|
                    """, CrossCpuProfiler.SLOW_NANOS));
            for (ModeLine l : modeLines) {
                sb.append("| ").append(String.join(" | ", l.row(), l.variant(), l.baseline(), l.fast(), l.slow()))
                        .append(" |\n");
            }
        }
        return sb.toString();
    }

    /** Orders rows 1, 1b, 2, 3, 3b, 4...: the number, then the letter. */
    private static String rowKey(Line l) {
        String row = l.row();
        int digits = 0;
        while (digits < row.length() && Character.isDigit(row.charAt(digits))) {
            digits++;
        }
        return String.format(Locale.ROOT, "%04d%s", Integer.parseInt(row.substring(0, digits)), row.substring(digits));
    }

    private static String shortBacking(String backing) {
        return backing.equals("MEMORY_SEGMENT") ? "segment" : "buffer";
    }

    private static String ns(Stat v) {
        return String.format(Locale.ROOT, "%.1f ns (%.1f-%.1f)", v.median(), v.min(), v.max());
    }

    private static String ms(Stat v) {
        return String.format(Locale.ROOT, "%.2f ms (%.2f-%.2f)", v.median(), v.min(), v.max());
    }

    private static String micros(Stat v) {
        return String.format(Locale.ROOT, "%.2f us (%.2f-%.2f)", v.median(), v.min(), v.max());
    }

    private static String micros(double v) {
        return String.format(Locale.ROOT, "%.2f us", v);
    }

    private static String millis(double v) {
        return String.format(Locale.ROOT, "%.1f ms", v);
    }

    private static String us(double v) {
        return String.format(Locale.ROOT, "%.1f us", v);
    }

    private static String rate(Stat v) {
        return String.format(Locale.ROOT, "%.2f M rec/s (%.2f-%.2f)", v.median() / 1e6, v.min() / 1e6, v.max() / 1e6);
    }

    private static String bytes(String v) {
        return String.format(Locale.ROOT, "%,d B", Long.parseLong(v));
    }

    private static String ratio(double r) {
        return String.format(Locale.ROOT, "%.2fx", r);
    }

    private static String met(boolean ok, double want) {
        return Double.isNaN(want) ? "" : yes(ok);
    }

    private static String yes(boolean ok) {
        return ok ? "yes" : "**no**";
    }
}
