package dev.mkwrite.benchmarks;

import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.profile.ExternalProfiler;
import org.openjdk.jmh.results.AggregationPolicy;
import org.openjdk.jmh.results.BenchmarkResult;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.ScalarResult;

import java.io.File;
import java.util.Collection;
import java.util.List;

/**
 * Probes the cross-CPU round trip ({@link CrossCpuProbe}) just before and just after each fork, from the
 * JMH host JVM, which idles while the fork runs. Each fork's result then carries its two probes as the
 * secondary results {@value #BEFORE} and {@value #AFTER}, so that {@link RunAll} can tell the forks that
 * ran while the host kept the two vCPUs close ({@link #fast}) from those that ran while it kept them
 * apart, and report rows 2 and 4 in each mode. A probe costs 25-200 ms.
 */
public final class CrossCpuProfiler implements ExternalProfiler {

    static final String BEFORE = "crosscpu.before";
    static final String AFTER = "crosscpu.after";
    /**
     * Round trips at or above this are the slow mode: the probe reads about 65 ns in the fast one and
     * 400-550 ns in the slow one on these hosts, with nothing measured between.
     */
    static final double SLOW_NANOS = 200;

    private double before = Double.NaN;

    @Override
    public Collection<String> addJVMInvokeOptions(BenchmarkParams params) {
        return List.of();
    }

    @Override
    public Collection<String> addJVMOptions(BenchmarkParams params) {
        return List.of();
    }

    @Override
    public void beforeTrial(BenchmarkParams params) {
        before = probe();
    }

    @Override
    @SuppressWarnings("rawtypes") // the interface's own signature
    public Collection<? extends Result> afterTrial(BenchmarkResult result, long pid, File stdOut, File stdErr) {
        double after = probe();
        return List.of(new ScalarResult(BEFORE, before, "ns", AggregationPolicy.AVG),
                new ScalarResult(AFTER, after, "ns", AggregationPolicy.AVG));
    }

    @Override
    public boolean allowPrintOut() {
        return true;
    }

    @Override
    public boolean allowPrintErr() {
        return true;
    }

    @Override
    public String getDescription() {
        return "cross-CPU round trip before and after each fork";
    }

    /** Whether both probes around a fork found the vCPUs close: false if either was slow or missing. */
    static boolean fast(double before, double after) {
        return before < SLOW_NANOS && after < SLOW_NANOS;
    }

    /** Whether both probes around a fork found the vCPUs apart. */
    static boolean slow(double before, double after) {
        return before >= SLOW_NANOS && after >= SLOW_NANOS;
    }

    /** The median of three batches of 100,000 round trips, in nanoseconds; NaN if it failed. */
    private static double probe() {
        try {
            return CrossCpuProbe.roundTrips(50_000, 3, 100_000)[1];
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Double.NaN;
        }
    }
}
