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
 * Row 3b: the convoy. A slow fault must not make a fast fault on another page wait. Three threads on one
 * region:
 * <ul>
 *   <li>{@code fast} writes 8 bytes into ever new CLEAN pages of the region's first half, pausing
 *   {@value #FAST_PAUSE_MICROS} us between writes; the handler returns {@link Reservation#none()} at once
 *   for these pages. Its fault latency is the measured quantity.</li>
 *   <li>{@code slow} writes 8 bytes into ever new CLEAN pages of the second half, back to back; the
 *   handler sleeps 1 ms for these pages.</li>
 *   <li>{@code grow} calls {@link MappedRegion#grow} in a loop, one page at a time, 0.2 ms apart, as in
 *   row 3.</li>
 * </ul>
 * With the lock held ({@code hold}), the slow handler sleeps holding the region lock shared; a
 * {@code grow} queued for it exclusive then holds back every new shared acquisition, so the fast thread's
 * fault waits for the rest of the slow sleep and the grow: a convoy. With {@code drop} the slow handler
 * calls {@link dev.mkwrite.WriteFault#dropLock()}, sleeps, caches a reservation and returns
 * {@link FaultResult#RETRY}; a fast fault then waits at most for one {@code grow}. {@code alone} runs the
 * fast thread by itself: the floor, what its fault costs with nothing else running. The modes alternate
 * for several rounds on fresh regions; reported are p50, p99 and max of the fast thread's fault latency
 * (HdrHistogram), the median over rounds. Target: the fast p99 at least 10x lower with the drop.
 *
 * <p>Run: {@code ./dev java --enable-native-access=ALL-UNNAMED -cp benchmarks/target/benchmarks.jar
 * dev.mkwrite.benchmarks.ConvoyHarness [--seconds S] [--rounds R] [--out file.properties]}
 */
public final class ConvoyHarness {

    private static final int PAGE = 4096;
    private static final long START_SIZE = 1L << 30;
    /** Pages below this index are the fast thread's, the rest up to the start size the slow thread's. */
    private static final long FAST_PAGES = START_SIZE / PAGE / 2;
    private static final long HIGHEST = TimeUnit.SECONDS.toNanos(60);
    private static final long FAST_PAUSE_MICROS = 100;
    private static final long GROW_PAUSE = TimeUnit.MICROSECONDS.toNanos(200);

    /** How the slow handler behaves; ALONE runs the fast thread with neither the slow thread nor grow. */
    enum Mode {
        HOLD, DROP, ALONE;

        String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** The histograms of one measured run of one mode. */
    record Run(Histogram fast, Histogram slow, Histogram grow, RegionStats stats) {
    }

    private ConvoyHarness() {
    }

    public static void main(String[] args) throws Exception {
        Rounds.Options o = Rounds.parse(args);
        List<List<Run>> byMode = Rounds.measure("mkwrite-convoy", Mode.values(), Mode.HOLD, Mode.DROP, o, ConvoyHarness::run);
        report(byMode, o.seconds(), o.rounds(), o.out());
    }

    private static void report(List<List<Run>> byMode, double seconds, int rounds, Path out) throws IOException {
        Properties props = new Properties();
        System.out.printf(Locale.ROOT, "Row 3b: a fast fault (handler returns at once, %d us apart) beside a slow one"
                + " (handler sleeps 1 ms) and grow() in a loop (0.2 ms apart); %d rounds of %.1f s per mode,"
                + " median over rounds%n", FAST_PAUSE_MICROS, rounds, seconds);
        System.out.printf(Locale.ROOT, "%-5s %-6s %10s %10s %10s %10s%n", "mode", "op", "count", "p50 us", "p99 us",
                "max us");
        for (Mode mode : Mode.values()) {
            List<Run> runs = byMode.get(mode.ordinal());
            for (String op : mode == Mode.ALONE ? List.of("fast") : List.of("fast", "slow", "grow")) {
                long count = 0;
                double[] p50 = new double[runs.size()];
                double[] p99 = new double[runs.size()];
                double[] max = new double[runs.size()];
                for (int i = 0; i < runs.size(); i++) {
                    Run run = runs.get(i);
                    Histogram h = switch (op) {
                        case "fast" -> run.fast();
                        case "slow" -> run.slow();
                        default -> run.grow();
                    };
                    count += h.getTotalCount();
                    p50[i] = h.getValueAtPercentile(50) / 1e3;
                    p99[i] = h.getValueAtPercentile(99) / 1e3;
                    max[i] = h.getMaxValue() / 1e3;
                }
                String key = mode.label() + "." + op;
                props.setProperty(key + ".count", Long.toString(count));
                props.setProperty(key + ".p50.us", Double.toString(LockDropHarness.median(p50)));
                props.setProperty(key + ".p99.us", Double.toString(LockDropHarness.median(p99)));
                props.setProperty(key + ".max.us", Double.toString(LockDropHarness.median(max)));
                props.setProperty(key + ".p99.rounds.us", Arrays.toString(p99));
                System.out.printf(Locale.ROOT, "%-5s %-6s %10d %10.1f %10.1f %10.1f   (p99 per round %s)%n",
                        mode.label(), op, count, LockDropHarness.median(p50), LockDropHarness.median(p99),
                        LockDropHarness.median(max), Arrays.toString(p99));
            }
            RegionStats s = runs.getLast().stats();
            System.out.printf(Locale.ROOT, "%-5s last round: faults %d, retries %d, lock drops %d%n", mode.label(),
                    s.faults(), s.retries(), s.lockDrops());
        }
        double ratio = Double.parseDouble(props.getProperty("hold.fast.p99.us"))
                / Double.parseDouble(props.getProperty("drop.fast.p99.us"));
        System.out.printf(Locale.ROOT, "fast fault p99 hold/drop %.1fx (target >= 10x)%n", ratio);
        if (out != null) {
            try (OutputStream o = Files.newOutputStream(out)) {
                props.store(o, "ConvoyHarness");
            }
        }
    }

    /** Returns at once for the fast thread's pages; sleeps 1 ms, dropping the lock or not, for the rest. */
    private static WriteFaultHandler handler(Mode mode) {
        return fault -> {
            if (fault.page() < FAST_PAGES) {
                return Reservation.none();
            }
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

    /** One run of {@code nanos} on a fresh region. */
    private static Run run(Path dir, Mode mode, long nanos) throws Exception {
        Path file = dir.resolve("convoy-" + mode.label() + ".dat");
        Files.deleteIfExists(file);
        Histogram fast = new Histogram(HIGHEST, 3);
        Histogram slow = new Histogram(HIGHEST, 3);
        Histogram grow = new Histogram(HIGHEST, 3);
        Throwable[] failures = new Throwable[3];
        RegionStats stats;
        try (MappedRegion region = MappedRegion.builder(file).size(START_SIZE).pageSize(PAGE)
                .backing(Backing.MEMORY_SEGMENT).handler(handler(mode)).open()) {
            CountDownLatch start = new CountDownLatch(1);
            long[] deadline = new long[1];
            List<Thread> threads = new ArrayList<>();
            threads.add(Thread.ofPlatform().name("fast").start(() -> {
                try {
                    start.await();
                    long pause = TimeUnit.MICROSECONDS.toNanos(FAST_PAUSE_MICROS);
                    for (long page = 0; System.nanoTime() < deadline[0]; page++) {
                        if (page == FAST_PAGES) {
                            throw new IllegalStateException("the fast thread ran out of pages");
                        }
                        long begin = System.nanoTime();
                        region.putLong(page * PAGE, page); // a CLEAN page: faults, the handler returns at once
                        fast.recordValue(Math.min(HIGHEST, System.nanoTime() - begin));
                        LockSupport.parkNanos(pause);
                    }
                } catch (Throwable e) {
                    failures[0] = e;
                }
            }));
            if (mode != Mode.ALONE) {
                threads.add(Thread.ofPlatform().name("slow").start(() -> {
                    try {
                        start.await();
                        for (long page = FAST_PAGES; System.nanoTime() < deadline[0]; page++) {
                            long begin = System.nanoTime();
                            region.putLong(page * PAGE, page); // a CLEAN page: faults, the handler sleeps
                            slow.recordValue(Math.min(HIGHEST, System.nanoTime() - begin));
                        }
                    } catch (Throwable e) {
                        failures[1] = e;
                    }
                }));
                threads.add(Thread.ofPlatform().name("grow").start(() -> {
                    try {
                        start.await();
                        while (System.nanoTime() < deadline[0]) {
                            long begin = System.nanoTime();
                            region.grow(region.size() + PAGE);
                            grow.recordValue(Math.min(HIGHEST, System.nanoTime() - begin));
                            LockSupport.parkNanos(GROW_PAUSE);
                        }
                    } catch (Throwable e) {
                        failures[2] = e;
                    }
                }));
            }
            Rounds.race(start, deadline, nanos, threads, failures, mode.label());
            stats = region.stats();
            region.truncate(0); // drops the dirty pages: no writeback
        } finally {
            Files.deleteIfExists(file);
        }
        return new Run(fast, slow, grow, stats);
    }
}
