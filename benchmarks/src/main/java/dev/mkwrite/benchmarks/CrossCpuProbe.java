package dev.mkwrite.benchmarks;

import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;

/**
 * How long a cache line takes to go from one CPU to the other and back, right now: two threads pass a
 * counter back and forth. {@code run-all} prints it into {@code machine.txt} before and after a run.
 *
 * <p>On the two-vCPU hosts the benchmarks run on, it is about 65 ns most of the time and 400-550 ns for
 * stretches of seconds to minutes (the host places the two vCPUs far apart). Every row where two threads
 * share lines moves with it: row 2's prepare-ahead ran 5.7-6.6 ms a shot in forks beside a 65 ns probe and
 * 7.6-8.2 ms beside a slow one; row 4's raw log with 2 threads ran 21-24 M rec/s against 11 (docs/BENCHMARKS.md,
 * "Row 2's prepare-ahead: two modes a fork"). A run whose probes differ may mix both modes.
 */
public final class CrossCpuProbe {

    private static final int WARM_UP = 200_000;
    private static final int BATCH = 200_000;
    private static final int BATCHES = 5;

    private CrossCpuProbe() {
    }

    /** Prints the median round trip over {@value #BATCHES} batches of {@value #BATCH}, in nanoseconds. */
    public static void main(String[] args) throws InterruptedException {
        if (Runtime.getRuntime().availableProcessors() < 2) {
            System.out.println("one CPU: no cross-CPU round trip");
            return;
        }
        double[] ns = roundTrips(WARM_UP, BATCHES, BATCH);
        System.out.printf("%.0f ns a round trip between two threads (median of %d batches of %d; %.0f-%.0f)%n",
                ns[BATCHES / 2], BATCHES, BATCH, ns[0], ns[BATCHES - 1]);
    }

    /**
     * The round trip of {@code batches} batches of {@code batch} trips each, after {@code warmUp} trips, in
     * nanoseconds, sorted; NaN each with fewer than two CPUs.
     */
    static double[] roundTrips(int warmUp, int batches, int batch) throws InterruptedException {
        double[] ns = new double[batches];
        if (Runtime.getRuntime().availableProcessors() < 2) {
            Arrays.fill(ns, Double.NaN);
            return ns;
        }
        pingPong(warmUp);
        for (int b = 0; b < batches; b++) {
            ns[b] = (double) pingPong(batch) / batch;
        }
        Arrays.sort(ns);
        return ns;
    }

    /** {@code trips} round trips of a counter between this thread and another; returns the nanoseconds. */
    private static long pingPong(int trips) throws InterruptedException {
        AtomicLong ball = new AtomicLong();
        long end = 2L * trips;
        Thread other = new Thread(() -> {
            for (long odd = 1; odd < end; odd += 2) {
                while (ball.get() != odd) {
                    Thread.onSpinWait();
                }
                ball.set(odd + 1);
            }
        }, "cross-cpu-probe");
        other.setDaemon(true);
        other.start();
        long start = System.nanoTime();
        for (long even = 0; even < end; even += 2) {
            while (ball.get() != even) {
                Thread.onSpinWait();
            }
            ball.set(even + 1);
        }
        while (ball.get() != end) {
            Thread.onSpinWait();
        }
        long nanos = System.nanoTime() - start;
        other.join();
        return nanos;
    }
}
