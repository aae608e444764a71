package dev.mkwrite.examples.slowhandler;

import dev.mkwrite.FaultResult;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.RegionStats;
import dev.mkwrite.Reservation;
import dev.mkwrite.WriteFault;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.examples.Command;
import dev.mkwrite.examples.Fmt;
import dev.mkwrite.examples.Handlers;
import dev.mkwrite.examples.Options;
import dev.mkwrite.examples.UsageException;
import dev.mkwrite.impl.storage.StorageHandler;
import dev.mkwrite.impl.storage.StorageHandlers;
import org.HdrHistogram.Histogram;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * {@code slow-handler}: why a handler that blocks should drop the region lock (rule K4, guarantee G7).
 *
 * <p>A handler takes 1 to 5 ms to prepare each page of a small "slow" zone, like one that waits for I/O.
 * One thread keeps faulting on that zone; other threads write distinct pages elsewhere (whose
 * preparation is instant) and one thread calls {@link MappedRegion#grow} in a loop. The run is done
 * twice:
 * <ul>
 *   <li><b>holding the lock</b>: the handler sleeps with the region lock held shared. {@code grow}
 *   needs it exclusive, so it waits for the sleeping fault; and because the lock prefers writers, every
 *   fault queued behind that {@code grow}, on any page, waits too. This is the {@code mmap_lock}
 *   convoy.</li>
 *   <li><b>dropping the lock</b>: the handler calls {@link WriteFault#dropLock()}, sleeps, caches its
 *   reservation and returns {@link FaultResult#RETRY}; the retry adopts the reservation without calling
 *   the handler again. {@code grow} and the other faults no longer wait for the sleep.</li>
 * </ul>
 * Both runs print the p50, p99 and max latency of {@code grow()} and of the faulting writes on the other
 * pages (HdrHistogram). The numbers depend on the machine; nothing here asserts them.
 */
public final class SlowHandlerCommand implements Command {

    /** The built-in storage handler's granule: small, as the region is. */
    private static final int STORAGE_GRANULE = 64 << 10;

    /** Creates the command. */
    public SlowHandlerCommand() {
    }

    @Override
    public String name() {
        return "slow-handler";
    }

    @Override
    public String summary() {
        return "a 1-5 ms handler, holding vs dropping the region lock: latency of grow() and of faults on other pages";
    }

    @Override
    public Options options() {
        return new Options(name())
                .path("dir", "DIR", "directory for the two region files")
                .count("writers", "W", 2L, 1, 64, "threads writing distinct fast pages")
                .count("grows", "N", 200L, 1, 1_000_000, "grow() calls per run")
                .count("min-ms", "MS", 1L, 0, 1000, "shortest slow preparation")
                .count("max-ms", "MS", 5L, 0, 1000, "longest slow preparation")
                .count("slow-pages", "N", 16L, 1, 1 << 20, "pages whose preparation is slow")
                .count("stripe-pages", "N", 256L, 1, 1 << 20, "fast pages per writer, flushed and rewritten in turn");
    }

    @Override
    public int run(Options.Values values, PrintStream out) throws Exception {
        Path dir = values.path("dir");
        Settings s = new Settings(values.intNumber("writers"), values.intNumber("grows"), values.number("min-ms"),
                values.number("max-ms"), values.intNumber("slow-pages"), values.intNumber("stripe-pages"));
        if (s.minMs > s.maxMs) {
            throw new UsageException(name() + ": --min-ms " + s.minMs + " is above --max-ms " + s.maxMs);
        }
        Files.createDirectories(dir);
        out.printf(Locale.ROOT, "mkwrite slow-handler: preparing a slow page takes %d-%d ms; %d writer(s) fault on"
                        + " other pages while one thread calls grow() %d times%n", s.minMs, s.maxMs, s.writers,
                s.grows);
        Outcome hold = runOnce(dir.resolve("slow-hold.dat"), s, false);
        out.println("  run 1, holding the region lock while sleeping: done");
        Outcome drop = runOnce(dir.resolve("slow-drop.dat"), s, true);
        out.println("  run 2, dropping the region lock while sleeping: done");

        String format = "  %-30s %-22s %s%n";
        out.println();
        out.printf(Locale.ROOT, format, "", "holding the lock", "dropping the lock");
        for (double p : new double[] {50, 99, 100}) {
            String label = p >= 100 ? "max" : String.format(Locale.ROOT, "p%.0f", p);
            out.printf(Locale.ROOT, format, "grow() " + label, Fmt.percentile(hold.grow, p), Fmt.percentile(drop.grow, p));
        }
        for (double p : new double[] {50, 99, 100}) {
            String label = p >= 100 ? "max" : String.format(Locale.ROOT, "p%.0f", p);
            out.printf(Locale.ROOT, format, "fault on another page " + label, Fmt.percentile(hold.fastFaults, p),
                    Fmt.percentile(drop.fastFaults, p));
        }
        out.printf(Locale.ROOT, format, "faults on other pages", Fmt.count(hold.fastFaults.getTotalCount()),
                Fmt.count(drop.fastFaults.getTotalCount()));
        out.printf(Locale.ROOT, format, "slow preparations", Fmt.count(hold.slowPreparations),
                Fmt.count(drop.slowPreparations));
        out.printf(Locale.ROOT, format, "lock drops", Fmt.count(hold.stats.lockDrops()), Fmt.count(drop.stats.lockDrops()));
        out.printf(Locale.ROOT, format, "retries", Fmt.count(hold.stats.retries()), Fmt.count(drop.stats.retries()));
        out.printf(Locale.ROOT, format, "reservations left", Fmt.count(hold.stats.reservationsOutstanding()),
                Fmt.count(drop.stats.reservationsOutstanding()));
        out.println();
        out.println("  fault latency: a write on a fast page that faulted, measured in the writing thread;"
                + " grow(): each call, measured in the growing thread.");
        out.println("  the writers flush their pages so that they fault again; grow() does not wait for those"
                + " flushes (the region's size is whole pages, so it freezes no page).");
        return 0;
    }

    private record Settings(int writers, int grows, long minMs, long maxMs, int slowPages, int stripePages) {
    }

    private static final class Outcome {
        final Histogram grow = new Histogram(3);
        final Histogram fastFaults = new Histogram(3);
        long slowPreparations;
        RegionStats stats;
    }

    private static Outcome runOnce(Path file, Settings s, boolean dropLock) throws Exception {
        Files.deleteIfExists(file);
        Outcome outcome = new Outcome();
        SlowHandler handler = new SlowHandler(s.slowPages, s.minMs, s.maxMs, dropLock);
        long pages = s.slowPages + (long) s.writers * s.stripePages;
        // The built-in storage handler reserves each page's space first, holding the lock; the slow
        // handler comes last in the chain because it may drop the lock.
        try (StorageHandler storage = Handlers.storage(STORAGE_GRANULE);
             MappedRegion region = MappedRegion.builder(file).size(pages * 4096)
                     .handler(StorageHandlers.chain(storage, handler)).open()) {
            int pageSize = region.pageSize();
            if (region.size() < pages * pageSize) {
                region.grow(pages * pageSize);
            }
            Volatile stop = new Volatile();
            List<Worker> workers = new ArrayList<>();
            workers.add(new Worker("slow-writer", stop, () -> {
                for (int k = 0; k < s.slowPages && !stop.value; k++) {
                    region.putLong((long) k * pageSize, k);
                }
                region.flush(0, (long) s.slowPages * pageSize); // CLEAN again: the next cycle faults again
            }));
            for (int w = 0; w < s.writers; w++) {
                long first = s.slowPages + (long) w * s.stripePages;
                FastWriter fw = new FastWriter("fast-writer-" + w, stop, region, first, s.stripePages, pageSize);
                workers.add(fw);
            }
            Worker grower = new Worker("grower", stop, null);
            Thread growThread = Thread.ofPlatform().name("grower").unstarted(() -> {
                try {
                    for (int g = 0; g < s.grows; g++) {
                        long t0 = System.nanoTime();
                        region.grow(region.size() + 16L * pageSize);
                        outcome.grow.recordValue(System.nanoTime() - t0);
                        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(2));
                    }
                } catch (IOException | RuntimeException e) {
                    grower.error = e;
                } finally {
                    stop.value = true;
                }
            });
            workers.forEach(Thread::start);
            growThread.start();
            growThread.join();
            for (Worker w : workers) {
                w.join();
            }
            for (Worker w : workers) {
                if (w.error != null) {
                    throw new IOException(w.getName() + " failed", w.error);
                }
                if (w instanceof FastWriter fw) {
                    outcome.fastFaults.add(fw.faults);
                }
            }
            if (grower.error != null) {
                throw new IOException("grow() failed", grower.error);
            }
            region.flush();
            outcome.stats = region.stats();
        }
        outcome.slowPreparations = handler.slowCalls;
        Files.deleteIfExists(file);
        return outcome;
    }

    /** A stop flag shared by one run's threads. */
    private static final class Volatile {
        volatile boolean value;
    }

    /** A body run in a loop until stopped. */
    @FunctionalInterface
    private interface Body {
        void run() throws IOException;
    }

    private static class Worker extends Thread {
        protected final Volatile stop;
        private final Body body;
        volatile Throwable error;

        Worker(String name, Volatile stop, Body body) {
            super(name);
            this.stop = stop;
            this.body = body;
        }

        @Override
        public void run() {
            try {
                while (!stop.value) {
                    body.run();
                }
            } catch (IOException | RuntimeException e) {
                error = e;
            }
        }
    }

    /** Writes its stripe of fast pages, timing each write whose page faulted, then flushes the stripe. */
    private static final class FastWriter extends Worker {
        private final MappedRegion region;
        private final long first;
        private final int stripe;
        private final int pageSize;
        final Histogram faults = new Histogram(3);
        /** Set by the handler when it runs on this thread; read by this thread only. */
        boolean faulted;

        FastWriter(String name, Volatile stop, MappedRegion region, long first, int stripe, int pageSize) {
            super(name, stop, null);
            this.region = region;
            this.first = first;
            this.stripe = stripe;
            this.pageSize = pageSize;
        }

        @Override
        public void run() {
            try {
                while (!stop.value) {
                    for (int k = 0; k < stripe && !stop.value; k++) {
                        long offset = (first + k) * pageSize;
                        faulted = false;
                        long t0 = System.nanoTime();
                        region.putLong(offset, k);
                        long t1 = System.nanoTime();
                        if (faulted) {
                            faults.recordValue(t1 - t0);
                        }
                        LockSupport.parkNanos(50_000); // a paced writer, not a CPU hog
                    }
                    region.flush(first * pageSize, (long) stripe * pageSize); // CLEAN again: faults again
                }
            } catch (IOException | RuntimeException e) {
                error = e;
            }
        }
    }

    /**
     * Sleeps 1-5 ms to prepare a page of the slow zone, either holding the region lock or dropping it
     * first; pages outside the zone need nothing more than the storage handler before it did.
     */
    private static final class SlowHandler implements WriteFaultHandler {
        private final long slowPages;
        private final long minMs;
        private final long maxMs;
        private final boolean dropLock;
        /** Written by the one slow thread, read after it ended. */
        volatile long slowCalls;

        SlowHandler(long slowPages, long minMs, long maxMs, boolean dropLock) {
            this.slowPages = slowPages;
            this.minMs = minMs;
            this.maxMs = maxMs;
            this.dropLock = dropLock;
        }

        @Override
        public FaultResult prepare(WriteFault fault) throws IOException, InterruptedException {
            if (Thread.currentThread() instanceof FastWriter w) {
                w.faulted = true;
            }
            if (fault.page() >= slowPages) {
                return Reservation.none();
            }
            slowCalls++; // one slow thread
            long sleepNanos = TimeUnit.MILLISECONDS.toNanos(minMs)
                    + ThreadLocalRandom.current().nextLong(TimeUnit.MILLISECONDS.toNanos(maxMs - minMs) + 1);
            if (dropLock && fault.mayDropLock()) {
                fault.dropLock();
                TimeUnit.NANOSECONDS.sleep(sleepNanos);  // the slow work, with no region lock held
                fault.cacheReservation(Reservation.none());
                return FaultResult.RETRY; // the retry adopts the cached reservation
            }
            TimeUnit.NANOSECONDS.sleep(sleepNanos); // the slow work, holding the region lock shared
            return Reservation.none();
        }
    }
}
