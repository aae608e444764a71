package dev.mkwrite.benchmarks;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Properties;

/**
 * Row 8: cold start. A fresh JVM opens a region with the fallocate handler and makes its first 4 KiB write,
 * against a fresh JVM that maps the file raw and writes ({@link ColdStartChild}). The two alternate, the
 * order swapped every round, after one unrecorded pair that warms the page cache for the JDK and the jar.
 * Both JVMs get the same flags ({@code --enable-native-access=ALL-UNNAMED}) and the same class path.
 *
 * <p>Two times per child:
 * <ul>
 *   <li><b>main to first write</b>, measured in the child with {@code System.nanoTime()}: from the first
 *   statement of {@code main} to the return of the first write. Everything before {@code main} is the
 *   same for both: same JVM, flags, class path and main class. The target is on this one: the median
 *   with mkwrite at most 50 ms above the raw median.</li>
 *   <li><b>spawn to first write</b>, measured by this parent: from just before
 *   {@link ProcessBuilder#start()} to the moment the child's report line arrives on its stdout, so JVM
 *   start-up is in it and the child's exit is not. Shown for information.</li>
 * </ul>
 * Then one more child of each kind with {@code -Xlog:class+load} (not timed) counts the classes loaded
 * up to the first write: in all (hidden classes such as lambda forms included), {@code jdk.jfr.*},
 * {@code dev.mkwrite.*} (the library's, not this package's), {@code jdk.internal.foreign.*} and
 * {@code org.slf4j.*} (zero when nothing logged: every mkwrite logger is looked up on its first use).
 *
 * <p>Before and after in one sitting: {@code --baseline CLASSPATH} adds a third child, {@code BASELINE}: the
 * {@code MKWRITE} child run on that class path (say, a copy of {@code benchmarks.jar} built at an earlier
 * commit), in the same rounds, the order rotated every round. On a shared, noisy machine two separate runs
 * of the harness can differ by more than the change; the rotation spreads the noise over all three.
 * {@code --jvm-arg ARG} (repeatable) gives every child one more JVM flag.
 *
 * <p>{@code --aot}: every variant with an ahead-of-time cache of its own (JDK 25, JEP 483 and 514), as an
 * application that cares about its start-up would ship. Before the rounds, one training child of each
 * variant runs with {@code -XX:AOTCacheOutput} (the JVM writes the cache at exit: the classes the child
 * loaded and linked, and its method profiles); every later child of that variant, timed or counting, runs
 * with {@code -XX:AOTCache} of it. The raw child gets its own cache too, so the difference is still what
 * mkwrite adds. The caches live in the run's temporary directory and go with it.
 *
 * <p>Run: {@code ./dev java -cp benchmarks/target/benchmarks.jar dev.mkwrite.benchmarks.ColdStartHarness
 * [--runs N] [--out file.properties] [--baseline CLASSPATH] [--aot] [--jvm-arg ARG]...}
 */
public final class ColdStartHarness {

    /**
     * A child to run: its label, the kind {@link ColdStartChild} is given, its class path, and the flags
     * that only this variant's children get (its AOT cache, with {@code --aot}).
     */
    private record Variant(String label, String kind, String classPath, List<String> ownArgs) {
        Variant(String label, String kind, String classPath) {
            this(label, kind, classPath, List.of());
        }

        Variant withArgs(List<String> args) {
            return new Variant(label, kind, classPath, args);
        }
    }
    private static final List<String> PREFIXES = List.of("jdk.jfr.", "dev.mkwrite.", "jdk.internal.foreign.",
            "org.slf4j.");
    /** This package: the child's own classes, not counted as the library's. */
    private static final String OWN = "dev.mkwrite.benchmarks.";

    /** One child's two times, in nanoseconds. */
    private record Times(long mainToWrite, long spawnToWrite) {
    }

    private ColdStartHarness() {
    }

    public static void main(String[] args) throws Exception {
        int runs = 10;
        Path out = null;
        String baseline = null;
        boolean aot = false;
        List<String> jvmArgs = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--runs" -> runs = Integer.parseInt(args[++i]);
                case "--out" -> out = Path.of(args[++i]);
                case "--baseline" -> baseline = args[++i];
                case "--jvm-arg" -> jvmArgs.add(args[++i]);
                case "--aot" -> aot = true;
                default -> throw new IllegalArgumentException("unknown argument " + args[i] + "; usage: [--runs N]"
                        + " [--out file.properties] [--baseline CLASSPATH] [--aot] [--jvm-arg ARG]...");
            }
        }
        String classPath = System.getProperty("java.class.path");
        List<Variant> variants = new ArrayList<>(List.of(new Variant("MKWRITE", "MKWRITE", classPath),
                new Variant("RAW", "RAW", classPath)));
        if (baseline != null) {
            variants.add(new Variant("BASELINE", "MKWRITE", baseline));
        }
        int n = variants.size();
        Path dir = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")), "mkwrite-cold");
        try {
            if (aot) {
                for (int k = 0; k < n; k++) {
                    Variant v = variants.get(k);
                    Path cache = dir.resolve(v.label().toLowerCase(Locale.ROOT) + ".aot");
                    List<String> training = new ArrayList<>(jvmArgs);
                    training.add("-XX:AOTCacheOutput=" + cache);
                    child(dir, v, training); // the training run: the JVM writes the cache as it exits
                    if (!Files.isRegularFile(cache)) {
                        throw new IllegalStateException("the " + v.label() + " training child wrote no AOT cache "
                                + cache);
                    }
                    variants.set(k, v.withArgs(List.of("-XX:AOTCache=" + cache)));
                }
            }
            for (Variant v : variants) {
                child(dir, v, jvmArgs); // warms the page cache for the JDK and the jars
            }
            long[][] main = new long[n][runs];
            long[][] spawn = new long[n][runs];
            for (int r = 0; r < runs; r++) {
                for (int k = 0; k < n; k++) {
                    // Rotated each round, and reversed every other: no child always goes first or follows
                    // the same one (ABBA for two).
                    int i = (r % 2 == 0 ? k : n - 1 - k);
                    int v = (i + r / 2) % n;
                    Times t = child(dir, variants.get(v), jvmArgs);
                    main[v][r] = t.mainToWrite();
                    spawn[v][r] = t.spawnToWrite();
                }
            }
            Properties props = new Properties();
            System.out.printf(Locale.ROOT, "Row 8: a fresh JVM to its first 4 KiB write%s; %d runs of each,"
                    + " alternating, medians%n", aot ? ", each variant with its own AOT cache" : "", runs);
            System.out.printf(Locale.ROOT, "%-8s %22s %22s%n", "", "main to write, ms", "spawn to write, ms");
            for (int k = 0; k < n; k++) {
                String key = variants.get(k).label().toLowerCase(Locale.ROOT);
                double m = medianMillis(main[k]);
                double s = medianMillis(spawn[k]);
                props.setProperty(key + ".main.median.ms", Double.toString(m));
                props.setProperty(key + ".spawn.median.ms", Double.toString(s));
                props.setProperty(key + ".main.runs.ms", millis(main[k]));
                props.setProperty(key + ".spawn.runs.ms", millis(spawn[k]));
                System.out.printf(Locale.ROOT, "%-8s %22.1f %22.1f   (main to write per run %s)%n",
                        variants.get(k).label(), m, s, millis(main[k]));
            }
            double mainDiff = medianMillis(main[0]) - medianMillis(main[1]);
            double spawnDiff = medianMillis(spawn[0]) - medianMillis(spawn[1]);
            System.out.printf(Locale.ROOT, "mkwrite - raw: main to write %+.1f ms (target <= +50 ms), spawn to write"
                    + " %+.1f ms%n", mainDiff, spawnDiff);
            if (baseline != null) {
                System.out.printf(Locale.ROOT, "mkwrite - baseline: main to write %+.1f ms; baseline - raw %+.1f ms%n",
                        medianMillis(main[0]) - medianMillis(main[2]), medianMillis(main[2]) - medianMillis(main[1]));
            }
            for (Variant v : variants) {
                String kind = v.label();
                Path log = dir.resolve("classes-" + kind + ".log");
                List<String> logged = new ArrayList<>(jvmArgs);
                logged.add("-Xlog:class+load=info:file=" + log + ":none");
                child(dir, v, logged);
                List<String> names = Files.readAllLines(log).stream().map(l -> l.split(" ", 2)[0]).toList();
                Files.delete(log);
                String key = kind.toLowerCase(Locale.ROOT);
                props.setProperty(key + ".classes", Integer.toString(names.size()));
                StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "%-8s classes loaded to the first"
                        + " write: %d", kind, names.size()));
                for (String prefix : PREFIXES) {
                    long count = names.stream().filter(c -> c.startsWith(prefix) && !c.startsWith(OWN)).count();
                    props.setProperty(key + ".classes." + prefix.substring(0, prefix.length() - 1),
                            Long.toString(count));
                    line.append(", ").append(prefix).append("* ").append(count);
                }
                System.out.println(line);
            }
            if (out != null) {
                try (OutputStream o = Files.newOutputStream(out)) {
                    props.store(o, "ColdStartHarness");
                }
            }
        } finally {
            try (var files = Files.list(dir)) {
                for (Path p : files.toList()) {
                    Files.delete(p);
                }
            }
            Files.delete(dir);
        }
    }

    /** Starts one child of {@code variant} on a fresh file, waits for it, and returns its times. */
    private static Times child(Path dir, Variant variant, List<String> jvmArgs) throws IOException,
            InterruptedException {
        String kind = variant.label();
        Path file = dir.resolve("cold-" + kind.toLowerCase(Locale.ROOT) + ".dat");
        Files.deleteIfExists(file);
        List<String> command = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                "--enable-native-access=ALL-UNNAMED", "-Xmx256m"));
        command.addAll(jvmArgs);
        command.addAll(variant.ownArgs());
        command.addAll(List.of("-cp", variant.classPath(), ColdStartChild.class.getName(), variant.kind(),
                file.toString()));
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        long begin = System.nanoTime();
        Process p = pb.start();
        long mainToWrite = -1;
        long arrived = -1;
        List<String> other = new ArrayList<>();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null; ) {
                if (line.startsWith("first-write-ns ") && arrived < 0) {
                    arrived = System.nanoTime();
                    mainToWrite = Long.parseLong(line.substring("first-write-ns ".length()).trim());
                } else {
                    other.add(line);
                }
            }
        }
        int rc = p.waitFor();
        Files.deleteIfExists(file);
        if (rc != 0 || arrived < 0) {
            throw new IllegalStateException(kind + " child exited with " + rc + " without reporting its first write: "
                    + String.join("\n", other));
        }
        if (!other.isEmpty()) { // the child prints nothing else; a warning would be part of its start-up
            System.out.println("  [" + kind + " child said: " + String.join(" | ", other) + "]");
        }
        return new Times(mainToWrite, arrived - begin);
    }

    static double medianMillis(long[] nanos) {
        return LockDropHarness.median(Arrays.stream(nanos).asDoubleStream().toArray()) / 1e6;
    }

    static String millis(long[] nanos) {
        return Arrays.toString(Arrays.stream(nanos).mapToObj(n -> String.format(Locale.ROOT, "%.1f", n / 1e6))
                .toArray());
    }
}
