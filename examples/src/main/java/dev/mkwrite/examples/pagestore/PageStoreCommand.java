package dev.mkwrite.examples.pagestore;

import dev.mkwrite.RegionStats;
import dev.mkwrite.examples.Command;
import dev.mkwrite.examples.Fmt;
import dev.mkwrite.examples.Options;
import dev.mkwrite.examples.UsageException;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code page-store}: updater threads write into random pages while a checkpoint loop flushes; each
 * page is checksummed at writeback, while stable. At the end every page is reread and checked.
 */
public final class PageStoreCommand implements Command {

    private static final long PROGRESS_NANOS = TimeUnit.MILLISECONDS.toNanos(500);

    /** Creates the command. */
    public PageStoreCommand() {
    }

    @Override
    public String name() {
        return "page-store";
    }

    @Override
    public String summary() {
        return "fixed-size pages checksummed at writeback (stable pages), updated by several threads, then verified";
    }

    @Override
    public Options options() {
        return new Options(name())
                .path("dir", "DIR", "directory for pages.dat and checksums.dat (must not hold them yet)")
                .flag("verify", "only reread and check the store in --dir; exit 1 on a checksum mismatch")
                .count("pages", "N", 2048L, 1, 1L << 28, "pages in the store")
                .count("threads", "T", 2L, 1, 64, "updater threads")
                .count("updates", "N", 200_000L, 1, Long.MAX_VALUE / 2, "updates per thread")
                .count("checkpoint-ms", "MS", 50L, 1, 60_000, "checkpoint (flush) period in milliseconds")
                .size("granule", "B", "64k", 1 << 12, 1 << 30, "storage prepared at a time (power of two)");
    }

    @Override
    public int run(Options.Values values, PrintStream out) throws Exception {
        Path dir = values.path("dir");
        if (values.flag("verify")) {
            if (!Files.exists(dir.resolve(PageStore.PAGES)) || !Files.exists(dir.resolve(PageStore.CHECKSUMS))) {
                throw new UsageException(name() + ": no page store in " + dir);
            }
            return verify(dir, out);
        }
        long pageCount = values.number("pages");
        int threads = values.intNumber("threads");
        long updates = values.number("updates");
        long checkpointMs = values.number("checkpoint-ms");
        int granule = values.intNumber("granule");
        if (Integer.bitCount(granule) != 1) {
            throw new UsageException(name() + ": --granule " + granule + " is not a power of two");
        }
        Files.createDirectories(dir);
        if (Files.exists(dir.resolve(PageStore.PAGES)) || Files.exists(dir.resolve(PageStore.CHECKSUMS))) {
            throw new UsageException(name() + ": " + dir + " already holds a page store; give an empty directory");
        }

        long start;
        long elapsed;
        long checkpoints;
        long writtenBack;
        RegionStats stats;
        long prepared;
        int pageSize;
        try (PageStore store = PageStore.create(dir, pageCount, granule)) {
            pageSize = store.pageSize();
            out.printf(Locale.ROOT, "mkwrite page-store: %s pages of %s (%s) in %s, %d updater thread(s) x %s"
                            + " updates, checkpoint every %d ms%n", Fmt.count(pageCount), Fmt.bytes(pageSize),
                    Fmt.bytes(pageCount * pageSize), dir, threads, Fmt.count(updates), checkpointMs);
            out.println("  each page's CRC32C is computed in WriteFaultHandler.beforeWriteback, while the page is"
                    + " stable, into " + PageStore.CHECKSUMS);
            AtomicLong done = new AtomicLong();
            List<Thread> updaters = new ArrayList<>();
            Throwable[] failure = new Throwable[1];
            for (int t = 0; t < threads; t++) {
                long seed = 0x9E3779B97F4A7C15L * (t + 1);
                updaters.add(Thread.ofPlatform().name("updater-" + t).unstarted(() -> {
                    try {
                        update(store, new SplittableRandom(seed), updates, done);
                    } catch (RuntimeException | Error e) {
                        synchronized (failure) {
                            failure[0] = e;
                        }
                    }
                }));
            }
            start = System.nanoTime();
            updaters.forEach(Thread::start);
            checkpoints = 0;
            writtenBack = 0;
            long nextProgress = start + PROGRESS_NANOS;
            while (anyAlive(updaters)) {
                Thread.sleep(checkpointMs);
                writtenBack += store.checkpoint();
                checkpoints++;
                long now = System.nanoTime();
                if (now >= nextProgress) {
                    RegionStats s = store.stats();
                    out.printf(Locale.ROOT, "  %5.1f s  updates %11s  checkpoints %6s  written back %9s  writeback"
                                    + " waits %7s%n", (now - start) / 1e9, Fmt.count(done.get()), Fmt.count(checkpoints),
                            Fmt.count(writtenBack), Fmt.count(s.writebackWaits()));
                    nextProgress = now + PROGRESS_NANOS;
                }
            }
            for (Thread u : updaters) {
                u.join();
            }
            synchronized (failure) {
                if (failure[0] != null) {
                    throw new IOException("an updater failed", failure[0]);
                }
            }
            writtenBack += store.checkpoint();
            checkpoints++;
            elapsed = System.nanoTime() - start;
            stats = store.stats();
            prepared = store.preparedBytes();
        }

        long total = updates * threads;
        out.println("summary");
        row(out, "updates", Fmt.count(total) + String.format(Locale.ROOT, " in %.2f s, %s/s", elapsed / 1e9,
                Fmt.count((long) (total / (elapsed / 1e9)))));
        row(out, "checkpoints", Fmt.count(checkpoints) + ", " + Fmt.count(writtenBack)
                + " pages written back, each checksummed at its writeback");
        row(out, "faults", Fmt.count(stats.faults()) + " (first write to a page after each of its writebacks)");
        row(out, "writeback waits", Fmt.count(stats.writebackWaits()) + " updates found their page under writeback"
                + " and waited " + Fmt.nanos(stats.writebackWaitNanos()) + " in all: stable pages");
        row(out, "space", Fmt.bytes(prepared) + " reserved for " + Fmt.bytes(pageCount * pageSize) + " of pages and "
                + Fmt.bytes(pageCount * 8) + " of checksums");
        row(out, "reservations", Fmt.count(stats.reservationsOutstanding()) + " outstanding after close");

        return verify(dir, out);
    }

    private static int verify(Path dir, PrintStream out) throws IOException {
        out.println("rereading every page of " + dir.resolve(PageStore.PAGES));
        PageStore.Verification v = PageStore.verify(dir);
        if (v.mismatches() > 0) {
            out.println("MISMATCH: page " + v.firstMismatch() + " does not match its checksum");
        }
        out.println("verified " + v.pages() + " pages: " + v.checksummed() + " checksummed, " + v.neverWritten()
                + " never written, " + v.mismatches() + " checksum mismatches");
        return v.mismatches() == 0 ? 0 : 1;
    }

    /** Random updates: 8 to 512 bytes at a random 8-byte-aligned offset of a random page. */
    private static void update(PageStore store, SplittableRandom random, long updates, AtomicLong done) {
        int pageSize = store.pageSize();
        byte[] bytes = new byte[512];
        for (long i = 0; i < updates; i++) {
            long page = random.nextLong(store.pageCount());
            int length = 8 * (1 + random.nextInt(64));
            int offset = 8 * random.nextInt((pageSize - length) / 8 + 1);
            random.nextBytes(bytes);
            store.update(page, offset, bytes, length);
            if ((i & 1023) == 1023) {
                done.addAndGet(1024);
            }
        }
        done.addAndGet(updates & 1023);
    }

    private static boolean anyAlive(List<Thread> threads) {
        for (Thread t : threads) {
            if (t.isAlive()) {
                return true;
            }
        }
        return false;
    }

    private static void row(PrintStream out, String label, String value) {
        out.printf(Locale.ROOT, "  %-16s %s%n", label, value);
    }
}
