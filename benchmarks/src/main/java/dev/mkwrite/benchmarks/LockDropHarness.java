package dev.mkwrite.benchmarks;

import dev.mkwrite.Backing;
import dev.mkwrite.FaultResult;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.RegionStats;
import dev.mkwrite.Reservation;
import dev.mkwrite.WriteFaultHandler;
import org.HdrHistogram.Histogram;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Row 3: what dropping the lock buys. Two threads write into distinct CLEAN pages, so every write faults;
 * the handler sleeps 1 ms in each fault. A third thread calls {@link MappedRegion#grow} in a loop, growing
 * the region by one page each time and pausing 0.2 ms between calls (without the pause, its back-to-back
 * exclusive locks starve the faults' retries, and no fault completes). Two modes, in the same run:
 * <ul>
 *   <li>{@code hold}: the handler sleeps while it holds the region lock (shared), so {@code grow}, which
 *   takes it exclusive, waits for the faults in progress, and new faults wait behind {@code grow};</li>
 *   <li>{@code drop}: the handler calls {@link dev.mkwrite.WriteFault#dropLock()}, sleeps, caches a
 *   reservation and returns {@link FaultResult#RETRY}; {@code grow} never waits for a sleep.</li>
 * </ul>
 * Records the latency of every {@code grow} and every faulting write in HdrHistogram, and reports p50,
 * p99 and max per mode; the modes alternate for several rounds and the median over rounds is reported.
 * The target: the p99 of {@code grow} at least 10x lower with the drop. A third mode, {@code alone}, runs
 * the grow loop with no faulting threads: the floor, what a {@code grow} costs by itself (with native
 * access, while the mapping has room to grow, one {@code ftruncate}; past it a new mapping, the old one
 * handed to the unmapper thread).
 *
 * <p>Run: {@code ./dev java -cp benchmarks/target/benchmarks.jar dev.mkwrite.benchmarks.LockDropHarness
 * [--seconds S] [--rounds R] [--out file.properties]}
 */
public final class LockDropHarness {

    private static final int PAGE = 4096;
    private static final long START_SIZE = 1L << 30;
    private static final long HIGHEST = TimeUnit.SECONDS.toNanos(60);
    /** The grow loop's pause between calls: 0.2 ms, a fifth of a handler's sleep. */
    private static final long GROW_PAUSE = TimeUnit.MICROSECONDS.toNanos(200);

    /** Whether the handler drops the lock while it sleeps; ALONE runs the grow loop with no faults at all. */
    enum Mode {
        HOLD, DROP, ALONE;

        String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** The histograms of one measured run of one mode. */
    record Run(Histogram grow, Histogram fault, RegionStats stats) {
    }

    private LockDropHarness() {
    }

    public static void main(String[] args) throws Exception {
        Rounds.Options o = Rounds.parse(args);
        List<List<Run>> byMode = Rounds.measure("mkwrite-lockdrop", Mode.values(), Mode.HOLD, Mode.DROP, o, LockDropHarness::run);
        report(byMode, o.seconds(), o.rounds(), o.out());
    }

    private static void report(List<List<Run>> byMode, double seconds, int rounds, Path out) throws IOException {
        Properties props = new Properties();
        System.out.printf(Locale.ROOT, "Row 3: grow() in a loop (0.2 ms apart) while 2 threads fault, handler sleeps 1 ms;"
                + " %d rounds of %.1f s per mode, median over rounds%n", rounds, seconds);
        System.out.printf(Locale.ROOT, "%-5s %-6s %10s %10s %10s %10s%n", "mode", "op", "count", "p50 us", "p99 us",
                "max us");
        for (Mode mode : Mode.values()) {
            List<Run> runs = byMode.get(mode.ordinal());
            for (String op : mode == Mode.ALONE ? List.of("grow") : List.of("grow", "fault")) {
                long count = 0;
                double[] p50 = new double[runs.size()];
                double[] p99 = new double[runs.size()];
                double[] max = new double[runs.size()];
                for (int i = 0; i < runs.size(); i++) {
                    Histogram h = op.equals("grow") ? runs.get(i).grow() : runs.get(i).fault();
                    count += h.getTotalCount();
                    p50[i] = h.getValueAtPercentile(50) / 1e3;
                    p99[i] = h.getValueAtPercentile(99) / 1e3;
                    max[i] = h.getMaxValue() / 1e3;
                }
                String key = mode.label() + "." + op;
                props.setProperty(key + ".count", Long.toString(count));
                props.setProperty(key + ".p50.us", Double.toString(median(p50)));
                props.setProperty(key + ".p99.us", Double.toString(median(p99)));
                props.setProperty(key + ".max.us", Double.toString(median(max)));
                props.setProperty(key + ".p99.rounds.us", Arrays.toString(p99));
                System.out.printf(Locale.ROOT, "%-5s %-6s %10d %10.1f %10.1f %10.1f   (p99 per round %s)%n",
                        mode.label(), op, count, median(p50), median(p99), median(max), Arrays.toString(p99));
            }
            RegionStats s = runs.getLast().stats();
            System.out.printf(Locale.ROOT, "%-5s last round: faults %d, retries %d, lock drops %d%n", mode.label(),
                    s.faults(), s.retries(), s.lockDrops());
        }
        double ratio = Double.parseDouble(props.getProperty("hold.grow.p99.us"))
                / Double.parseDouble(props.getProperty("drop.grow.p99.us"));
        double faultRatio = Double.parseDouble(props.getProperty("hold.fault.p99.us"))
                / Double.parseDouble(props.getProperty("drop.fault.p99.us"));
        System.out.printf(Locale.ROOT, "grow p99 hold/drop %.1fx (target >= 10x); fault p99 hold/drop %.2fx%n",
                ratio, faultRatio);
        if (out != null) {
            try (OutputStream o = Files.newOutputStream(out)) {
                props.store(o, "LockDropHarness");
            }
        }
    }

    static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        int n = v.length;
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }

    private static WriteFaultHandler sleepingHandler(Mode mode) {
        return fault -> {
            if (mode == Mode.DROP && fault.mayDropLock()) {
                fault.dropLock();
                Thread.sleep(1);
                fault.cacheReservation(Reservation.none());
                return FaultResult.RETRY;
            }
            Thread.sleep(1);
            return Reservation.none();
        };
    }

    /** One run of {@code nanos}: two faulting threads and a growing thread on a fresh region. */
    private static Run run(Path dir, Mode mode, long nanos) throws Exception {
        Path file = dir.resolve("lockdrop-" + mode.label() + ".dat");
        Files.deleteIfExists(file);
        Histogram grow = new Histogram(HIGHEST, 3);
        Histogram fault = new Histogram(HIGHEST, 3);
        Histogram[] faults = {new Histogram(HIGHEST, 3), new Histogram(HIGHEST, 3)};
        Throwable[] failures = new Throwable[3];
        RegionStats stats;
        try (MappedRegion region = MappedRegion.builder(file).size(START_SIZE).pageSize(PAGE)
                .backing(Backing.MEMORY_SEGMENT).handler(sleepingHandler(mode)).open()) {
            CountDownLatch start = new CountDownLatch(1);
            long[] deadline = new long[1];
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < (mode == Mode.ALONE ? 0 : 2); t++) {
                int me = t;
                threads.add(Thread.ofPlatform().name("fault-" + t).start(() -> {
                    try {
                        start.await();
                        for (long page = me; System.nanoTime() < deadline[0]; page += 2) {
                            long begin = System.nanoTime();
                            region.putLong(page * PAGE, page); // a CLEAN page: faults, the handler sleeps
                            faults[me].recordValue(Math.min(HIGHEST, System.nanoTime() - begin));
                        }
                    } catch (Throwable e) {
                        failures[me] = e;
                    }
                }));
            }
            threads.add(Thread.ofPlatform().name("grow").start(() -> {
                try {
                    start.await();
                    while (System.nanoTime() < deadline[0]) {
                        long begin = System.nanoTime();
                        region.grow(region.size() + PAGE);
                        grow.recordValue(Math.min(HIGHEST, System.nanoTime() - begin));
                        LockSupport.parkNanos(GROW_PAUSE); // else back-to-back exclusive locks starve the faults
                    }
                } catch (Throwable e) {
                    failures[2] = e;
                }
            }));
            Rounds.race(start, deadline, nanos, threads, failures, mode.label());
            stats = region.stats();
            region.truncate(0); // drops the dirty pages: no writeback
        } finally {
            Files.deleteIfExists(file);
        }
        fault.add(faults[0]);
        fault.add(faults[1]);
        return new Run(grow, fault, stats);
    }
}
