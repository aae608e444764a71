package dev.mkwrite.benchmarks;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * What the lock-drop harnesses (rows 3 and 3b) share: their command line, and rounds of every mode in
 * turn after half a second of warm-up of the lock-holding and the lock-dropping mode, in a temporary
 * directory of their own.
 */
final class Rounds {

    /** {@code --seconds S --rounds R --out file.properties}. */
    record Options(double seconds, int rounds, Path out) {
    }

    /**
     * The ratios of pairs of block times measured in turn ({@link DurableAckPairs}, {@link LogPairs}): their
     * number, median and quartiles.
     */
    record PairRatios(int pairs, double median, double q1, double q3) {

        /** The ratios {@code numerator[i] / denominator[i]}. */
        static PairRatios of(org.agrona.collections.LongArrayList numerator,
                             org.agrona.collections.LongArrayList denominator) {
            int pairs = numerator.size();
            double[] ratios = new double[pairs];
            for (int i = 0; i < pairs; i++) {
                ratios[i] = (double) numerator.getLong(i) / denominator.getLong(i);
            }
            java.util.Arrays.sort(ratios);
            return new PairRatios(pairs, LockDropHarness.median(ratios), ratios[pairs / 4], ratios[(3 * pairs) / 4]);
        }

        /** Stores them as {@code key}pairs, {@code key}ratio, {@code key}ratio.q1 and {@code key}ratio.q3. */
        void store(java.util.Properties props, String key) {
            props.setProperty(key + "pairs", Integer.toString(pairs));
            props.setProperty(key + "ratio", Double.toString(median));
            props.setProperty(key + "ratio.q1", Double.toString(q1));
            props.setProperty(key + "ratio.q3", Double.toString(q3));
        }
    }

    /** One measured run of one mode. */
    @FunctionalInterface
    interface ModeRun<M, R> {
        R run(Path dir, M mode, long nanos) throws Exception;
    }

    private Rounds() {
    }

    /**
     * Sets the deadline {@code nanos} from now and releases {@code threads}, which wait on {@code start}
     * and run until {@code deadline[0]}; joins them and rethrows the first failure one recorded.
     */
    static void race(CountDownLatch start, long[] deadline, long nanos, List<Thread> threads, Throwable[] failures,
                     String label) throws InterruptedException {
        deadline[0] = System.nanoTime() + nanos;
        start.countDown(); // publishes deadline[0] to the threads
        for (Thread t : threads) {
            t.join();
        }
        for (Throwable f : failures) {
            if (f != null) {
                throw new IllegalStateException(label + " run failed", f);
            }
        }
    }

    static Options parse(String[] args) {
        double seconds = 5;
        int rounds = 3;
        Path out = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--seconds" -> seconds = Double.parseDouble(args[++i]);
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--out" -> out = Path.of(args[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]
                        + "; usage: [--seconds S] [--rounds R] [--out file.properties]");
            }
        }
        return new Options(seconds, rounds, out);
    }

    /** The runs of each mode, indexed by the mode's ordinal, in round order. */
    static <M extends Enum<M>, R> List<List<R>> measure(String prefix, M[] modes, M hold, M drop, Options options,
                                                       ModeRun<M, R> run) throws Exception {
        Path dir = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")), prefix);
        try {
            long warm = TimeUnit.MILLISECONDS.toNanos(500);
            run.run(dir, hold, warm); // warm-up of both modes, not recorded
            run.run(dir, drop, warm);
            List<List<R>> byMode = new ArrayList<>();
            for (int m = 0; m < modes.length; m++) {
                byMode.add(new ArrayList<>());
            }
            long nanos = (long) (options.seconds() * 1e9);
            for (int r = 0; r < options.rounds(); r++) {
                for (M mode : modes) {
                    byMode.get(mode.ordinal()).add(run.run(dir, mode, nanos));
                }
            }
            return byMode;
        } finally {
            Files.delete(dir);
        }
    }
}
