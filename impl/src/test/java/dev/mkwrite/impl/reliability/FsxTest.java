package dev.mkwrite.impl.reliability;

import dev.mkwrite.Backing;
import dev.mkwrite.FaultResult;
import dev.mkwrite.HandlerFailedException;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.RegionWriter;
import dev.mkwrite.NoSpaceException;
import dev.mkwrite.OutOfRegionException;
import dev.mkwrite.RegionClosedException;
import dev.mkwrite.RegionStats;
import dev.mkwrite.Reservation;
import dev.mkwrite.WriteFault;
import dev.mkwrite.WriteFaultException;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.WriteSpan;
import dev.mkwrite.impl.ReliabilityProbe;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Random operations against a model, in the manner of xfstests' fsx: a long seeded sequence of writes
 * (spans and every put), reads, flushes (whole and ranged), grows, truncates down and up, hole punches,
 * and close-then-reopen, each checked against a shadow byte array and a shadow page-state table.
 *
 * <p>The handler fails on purpose now and then (no space, or a handler bug), and drops the region lock
 * and retries; while the lock is dropped it sometimes has another thread truncate, extend, punch,
 * flush, write another page or close the region, synchronously, so the retry meets a changed region
 * (rules K4-K7) in a replayable way. One interference truncates the faulting page away and back and has
 * the other thread claim it at its new generation and hold it PREPARING while this fault retries: the
 * retry must not adopt that claim (it fails under {@code SKIP_GENERATION_CHECK}). What is checked:
 * <ul>
 *   <li>after every operation, the bytes it touched equal the shadow, and every 256 operations and at
 *   the end the whole region does (and, after each close, the file as read with a
 *   {@link java.nio.channels.FileChannel}); bytes that a truncate removed read as zero when the region is
 *   extended again;</li>
 *   <li>a write that threw changed nothing (K7), and it threw exactly when the handler failed, or with
 *   {@link OutOfRegionException} when the range reached past the end (reads too);</li>
 *   <li>the handler ran for exactly the CLEAN pages a write covered, in order, up to a failing page (K1);
 *   each flush wrote back exactly the dirty pages of its range (K8), and saw, in
 *   {@code beforeWriteback}, exactly the shadow's bytes;</li>
 *   <li>after every operation no pin is held and nothing is PREPARING or under writeback, every page is
 *   in the state the model says (CLEAN, WRITABLE, or kept PREPARED), every WRITABLE and every kept page
 *   holds one reservation, and the handler-side count of live reservations agrees, page by page
 *   ({@link LeakCheck} checks the balance of every reservation after the test).</li>
 * </ul>
 *
 * <p>With {@code keep}, the handler answers {@link WriteFaultHandler#preparesOverwrites} with false: a
 * flush leaves the pages it wrote back PREPARED ("kept") instead of CLEAN, and the next write makes a
 * kept page WRITABLE again without calling the handler (K1 counts it as not CLEAN), holding mkwrite's
 * {@link Reservation#none()}. The model follows the real code: a write over several pages that fails
 * leaves the kept pages before the failing one CLEAN (it claimed them, and gives its claims back), a
 * truncate that shrinks the region makes every kept page CLEAN (its quiesce takes them all, not only
 * those it removes), and so do a hole over the page, a grow over a partly covered last page, and close.
 * A shrink also marks the dirty pages of the folio unit its new end cuts (every shrink here: the files are
 * under 2 MiB) as prepared in part, and their next flush ends them CLEAN, not kept; the model tracks the
 * mark per page and checks it against the page's reservation.
 *
 * <p>CI runs six fixed seeds, 25,000 operations each: one per backing and page size (4 KiB and
 * 16 KiB), and with {@code keep} one per backing at 4 KiB. To run another seed, or to replay a failure
 * (the failure message prints the seed, the index of the failing operation and the last 50 operations),
 * give any of the properties:
 * <pre>
 * ./dev mvn -o -pl impl -am verify -Dtest=FsxTest -Dsurefire.failIfNoSpecifiedTests=false \
 *     -Dfsx.seed=12345 -Dfsx.ops=100000 -Dfsx.backing=MAPPED_BYTE_BUFFER -Dfsx.pageSize=16384 -Dfsx.keep=true
 * </pre>
 * {@code fsx.backing} and {@code fsx.pageSize} default to every combination, {@code fsx.ops} to 25,000;
 * {@code fsx.keep} to both, with {@code keep} only at 4 KiB unless {@code fsx.pageSize} is given.
 * The file lives in {@code /dev/shm} when there is one ({@link ShmTempDir}): there the ~7,000 flushes of
 * a CI run cost nothing, and 100,000 operations take about 20 s; on ext4 they took 35 to 85 s, waiting
 * for the disk. {@code -Dfsx.dir=/some/dir} runs it on another file system.
 * A run is a pure function of its seed: operations come from one {@link Random}, and the handler's
 * choices from a {@code Random} seeded by (seed, operation index). {@code -Dfsx.brokenModel=true} runs
 * a deliberately wrong model (it forgets that truncate discards bytes), to see the test fail.
 */
class FsxTest {

    static final String SEED = "fsx.seed";
    static final String OPS = "fsx.ops";
    static final String BACKING = "fsx.backing";
    static final String PAGE_SIZE = "fsx.pageSize";
    static final String BROKEN_MODEL = "fsx.brokenModel";
    static final String DIR = "fsx.dir";
    static final String KEEP = "fsx.keep";

    private static final int DEFAULT_OPS = 25_000;
    private static final int MAX_PAGES = 40;
    private static final int FULL_CHECK_EVERY = 256;
    private static final int LOG_TAIL = 50;

    @RegisterExtension
    final LeakCheck leaks = new LeakCheck();

    @TempDir(factory = ShmTempDir.class)
    Path dir;

    static Stream<Arguments> runs() {
        String seed = property(SEED);
        String ops = property(OPS);
        String backing = property(BACKING);
        String pageSize = property(PAGE_SIZE);
        String keep = property(KEEP);
        List<Backing> backings = backing == null ? List.of(Backing.values()) : List.of(Backing.valueOf(backing));
        List<Integer> pageSizes = pageSize == null ? List.of(4096, 16384) : List.of(Integer.parseInt(pageSize));
        int count = ops == null ? DEFAULT_OPS : Integer.parseInt(ops);
        List<Boolean> keeps = keep == null ? List.of(false, true) : List.of(Boolean.parseBoolean(keep));
        List<Arguments> runs = new ArrayList<>();
        long fixed = 0x6d6b7772L; // "mkwr": the CI seeds are this plus 0..5, those without keep first
        for (boolean k : keeps) {
            for (Backing b : backings) {
                for (int p : pageSizes) {
                    if (k && keep == null && pageSize == null && p != 4096) {
                        continue; // by default, kept pages at 4 KiB only: the page size changes little for them
                    }
                    long s = seed == null ? fixed + runs.size() : Long.parseLong(seed);
                    runs.add(Arguments.of(s, b, p, count, k));
                }
            }
        }
        return runs.stream();
    }

    /** A system property, or null if unset or blank (surefire passes the pom's empty defaults as ""). */
    static String property(String name) {
        String v = System.getProperty(name);
        return v == null || v.isBlank() ? null : v.trim();
    }

    @ParameterizedTest(name = "seed {0}, {1}, page {2}, {3} ops, keep {4}")
    @MethodSource("runs")
    void shouldMatchTheShadowModelAfterEveryOperation(long seed, Backing backing, int pageSize, int ops, boolean keep)
            throws Exception {
        long start = System.nanoTime();
        Run run = new Run(seed, backing, pageSize, keep, dir.resolve("fsx-" + seed + ".dat"),
                Boolean.parseBoolean(property(BROKEN_MODEL)));
        try {
            run.run(ops);
        } finally {
            run.shutdown();
        }
        System.out.printf("fsx seed %d on %s, page %d, keep %b, in %s: %d ops in %d ms (broken rule %s); %s%n", seed,
                backing, pageSize, keep, dir.getParent(), ops, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start),
                ReliabilityProbe.brokenRule(), run.tally());
    }

    /** What the handler did during one operation. */
    private enum Injected { NO_SPACE, HANDLER_FAILED, WOULD_BLOCK, OUT_OF_REGION, CLOSED }

    // The model's page states, one bit each: a page's entry is the set of states it may be in, one state
    // once an operation's outcome is known, more while interference leaves it open (checkStats adopts the
    // real one from those). DIRTY and DIRTY_KEPT are both WRITABLE; they differ in the reservation held.

    /** Not prepared: the next write calls the handler. */
    private static final int CLEAN = 1;
    /** WRITABLE, holding the reservation the handler gave for it. */
    private static final int DIRTY = 2;
    /** PREPARED after its writeback (keep only), holding {@link Reservation#none()}: no handler call for it. */
    private static final int KEPT = 4;
    /** WRITABLE again after it was kept, with the kept page's {@link Reservation#none()}, no handler's. */
    private static final int DIRTY_KEPT = 8;
    private static final int WRITTEN = DIRTY | DIRTY_KEPT;

    /** The states of {@code mask} after a write over the page: a CLEAN page is prepared, a kept one entered. */
    private static int written(int mask) {
        return (mask & WRITTEN) | ((mask & CLEAN) != 0 ? DIRTY : 0) | ((mask & KEPT) != 0 ? DIRTY_KEPT : 0);
    }

    /**
     * The states of {@code mask} after a flush over the page: a dirty page is written back, kept if
     * {@code keep}, but for one whose reservation is prepared in part ({@code inPart}: {@link #YES} or
     * {@link #MAYBE}), which ends CLEAN.
     */
    private static int flushed(int mask, boolean keep, int inPart) {
        int dirtyEnd = inPart == YES ? CLEAN : inPart == MAYBE ? CLEAN | KEPT : KEPT;
        return (mask & (CLEAN | KEPT)) | ((mask & DIRTY) != 0 ? (keep ? dirtyEnd : CLEAN) : 0)
                | ((mask & DIRTY_KEPT) != 0 ? dirtyEnd : 0);
    }

    // Whether a dirty page's reservation is prepared in part: a shrink whose new end cuts the page's folio
    // unit (2 MiB aligned, so every shrink here) marks those of the dirty pages below the end (keep only),
    // and their next flush ends them CLEAN, not kept (Resizing.markCutUnit).
    private static final int NO = 0;
    private static final int YES = 1;
    private static final int MAYBE = 2;

    /** Whether a page in {@code before} states, {@code inPart} as given, is prepared in part after a write. */
    private static int inPartAfterWrite(int before, int inPart) {
        if ((before & WRITTEN) == 0) {
            return NO; // prepared by the handler, or a kept page entered: a reservation of its own
        }
        return (before & ~WRITTEN) == 0 ? inPart : inPart == NO ? NO : MAYBE;
    }

    /** The states of {@code mask} after the page's kept status is taken: a kept page is CLEAN again. */
    private static int unkept(int mask) {
        return (mask & ~KEPT) | ((mask & KEPT) != 0 ? CLEAN : 0);
    }

    /** {@code mask} described, for failure messages. */
    private static String describeModel(int mask) {
        List<String> names = new ArrayList<>();
        for (int bit = CLEAN; bit <= DIRTY_KEPT; bit <<= 1) {
            if ((mask & bit) != 0) {
                names.add(switch (bit) {
                    case CLEAN -> "CLEAN";
                    case DIRTY -> "WRITABLE";
                    case KEPT -> "PREPARED (kept)";
                    default -> "WRITABLE (written again after it was kept, holding Reservation.none())";
                });
            }
        }
        return names.size() == 1 ? names.getFirst() : "one of " + names;
    }

    /** One seeded run: the region, its shadow, the handler, and the log. */
    private final class Run {
        final long seed;
        final Backing backing;
        final int pageSize;
        /** Whether the handler says overwrites need no preparing, so flushed pages are kept PREPARED. */
        final boolean keep;
        final Path file;
        final boolean brokenModel;
        final long maxSize;
        final Random rnd;
        final Thread main = Thread.currentThread();
        final ExecutorService helper = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "fsx-interferer");
            t.setDaemon(true);
            return t;
        });

        final byte[] shadow;
        /**
         * Model page states, for pages below {@link #pages()}: the set of states ({@link #CLEAN},
         * {@link #DIRTY}, {@link #KEPT}, {@link #DIRTY_KEPT}) each may be in. One state, except while an
         * interfered write leaves a page open; {@link #checkStats} then adopts the real one of those.
         */
        final int[] states;
        /** Per page: {@link #NO}, {@link #YES} or {@link #MAYBE} its reservation is prepared in part. */
        final int[] inPart;
        long size;

        final CountingHandler handler;
        MappedRegion region;
        /** The model thread's RegionWriter over {@link #region}, made at its first use: some puts go through it. */
        private RegionWriter writer;

        // Per operation
        int opIndex;
        Random hrnd;
        final List<Long> faulted = new ArrayList<>();
        final List<Injected> injected = new ArrayList<>();
        boolean interfered;
        Future<?> pendingClose;
        /** A write by the interfering thread that claims this fault's page while the fault waits to retry. */
        Future<?> pendingWrite;
        volatile Competitor competitor;
        /** The operation's write: its first page, and its end to know whether an interfering truncate cuts it. */
        long writeFirstPage;
        long writeStart;
        long writeLastPage;
        long writeEnd;

        final ArrayDeque<String> log = new ArrayDeque<>();
        final int[] counts = new int[Op.values().length];
        int interferences;
        /** Shrinks made with the file's truncate failing ({@link #resizeBoth}). */
        int failedTruncates;
        /**
         * Whether the last shrink's file truncate failed, so the file is longer than the region until a grow
         * or a close truncates it. Volatile: the interferer resizes too, while the main thread waits for it.
         */
        volatile boolean fileLonger;
        /**
         * Whether a shrink's file truncate fails: apart from {@link #rnd}, so that every seed's operations stay
         * what they were; thread-safe, as the interferer shrinks too (while the main thread waits for it).
         */
        final Random truncateFailures;
        int competitions;
        int failures;
        /** Kept pages a write entered without the handler, and that a failed write gave back CLEAN (keep only). */
        int keptEntered;
        int keptGivenBack;
        /** The most pages kept PREPARED at once, as checkStats found them. */
        long mostKept;

        Run(long seed, Backing backing, int pageSize, boolean keep, Path file, boolean brokenModel) throws IOException {
            this.seed = seed;
            this.backing = backing;
            this.pageSize = pageSize;
            this.keep = keep;
            this.file = file;
            this.brokenModel = brokenModel;
            this.maxSize = (long) MAX_PAGES * pageSize;
            this.rnd = new Random(seed);
            this.truncateFailures = new Random(seed * 31 + 7);
            this.shadow = new byte[(int) maxSize];
            this.states = new int[MAX_PAGES + 1];
            Arrays.fill(states, CLEAN);
            this.inPart = new int[MAX_PAGES + 1];
            this.handler = leaks.counting(new FsxHandler());
            this.size = 1 + rnd.nextLong(maxSize);
            this.region = leaks.open(MappedRegion.builder(file).size(size).pageSize(pageSize).backing(backing)
                    .handler(handler));
        }

        void shutdown() {
            helper.shutdownNow();
        }

        String tally() {
            StringBuilder b = new StringBuilder();
            for (Op op : Op.values()) {
                b.append(op.name().toLowerCase()).append('=').append(counts[op.ordinal()]).append(' ');
            }
            return b.append("interferences=").append(interferences).append(" failedTruncates=").append(failedTruncates)
                    .append(" (competing claims ").append(competitions).append(") failedWrites=").append(failures)
                    .append(" reservations=").append(handler.issued()).append(" keptEntered=").append(keptEntered)
                    .append(" keptGivenBack=").append(keptGivenBack).append(" mostKept=").append(mostKept).toString();
        }

        void run(int ops) throws Exception {
            for (opIndex = 0; opIndex < ops; opIndex++) {
                try {
                    step();
                    if ((opIndex + 1) % FULL_CHECK_EVERY == 0) {
                        checkAll("full check");
                    }
                } catch (Throwable t) {
                    throw failed(t);
                }
            }
            try {
                checkAll("final check");
                closeAndCheckFile();
                reopen();
                checkAll("after the final reopen");
                log("final close");
                closeAndCheckFile();
            } catch (Throwable t) {
                throw failed(t);
            }
        }

        private AssertionError failed(Throwable t) {
            StringBuilder b = new StringBuilder();
            b.append("fsx failed at operation #").append(opIndex).append(" of seed ").append(seed).append(" on ")
                    .append(backing).append(", page size ").append(pageSize).append(", keep ").append(keep)
                    .append(", broken rule ")
                    .append(ReliabilityProbe.brokenRule()).append(brokenModel ? ", BROKEN MODEL" : "").append(": ")
                    .append(t).append("\nreplay: ./dev mvn -o -pl impl -am verify -Dtest=FsxTest")
                    .append(" -Dsurefire.failIfNoSpecifiedTests=false -Dfsx.seed=").append(seed)
                    .append(" -Dfsx.ops=").append(opIndex + 1).append(" -Dfsx.backing=").append(backing)
                    .append(" -Dfsx.pageSize=").append(pageSize).append(" -Dfsx.keep=").append(keep)
                    .append("\nlast ").append(log.size())
                    .append(" operations (index: operation -> outcome):\n");
            for (String line : log) {
                b.append("  ").append(line).append('\n');
            }
            System.err.println(b);
            return new AssertionError(b.toString(), t);
        }

        private void log(String line) {
            if (log.size() == LOG_TAIL) {
                log.removeFirst();
            }
            log.addLast(opIndex + ": " + line);
        }

        private void appendLog(String outcome) {
            String last = log.removeLast();
            log.addLast(last + " -> " + outcome);
        }

        long pages() {
            return (size + pageSize - 1) / pageSize;
        }

        // -----------------------------------------------------------------------------------------
        // Operations

        private void step() throws Exception {
            faulted.clear();
            injected.clear();
            interfered = false;
            hrnd = new Random(seed * 0x9E3779B97F4A7C15L + opIndex);
            Op op = Op.pick(rnd);
            counts[op.ordinal()]++;
            switch (op) {
                case SPAN_WRITE -> {
                    long[] r = writeRange(3 * pageSize);
                    byte[] data = data((int) r[1]);
                    int how = rnd.nextInt(2);
                    write(op, r[0], data, how);
                }
                case PUT -> {
                    long[] r = writeRange(2 * pageSize);
                    write(op, r[0], data((int) r[1]), rnd.nextInt(5)); // 3, 4: through the writer
                }
                case PUT_SMALL -> {
                    int kind = rnd.nextInt(4); // 3: putLong through the writer
                    int length = kind == 0 ? 1 : kind == 1 ? Integer.BYTES : Long.BYTES;
                    if (size < length) {
                        writePastEnd(); // the region is too small for this put
                    } else {
                        write(op, Math.min(anyOffset(), size - length), data(length), kind);
                    }
                }
                case TRY_WRITE -> {
                    long[] r = writeRange(2 * pageSize);
                    write(op, r[0], data((int) r[1]), 0);
                }
                case WRITE_PAST_END -> writePastEnd();
                case READ -> read();
                case FLUSH -> flush(0, Long.MAX_VALUE, true);
                case FLUSH_RANGE -> {
                    long off = rnd.nextInt(8) == 0 ? size + rnd.nextInt(pageSize) : anyOffset();
                    long len = rnd.nextInt(4) == 0 ? Long.MAX_VALUE - off : rnd.nextLong(4L * pageSize);
                    flush(off, len, true);
                }
                case GROW -> resize(size + rnd.nextLong(maxSize - size + 1), true);
                case TRUNCATE_DOWN -> resize(rnd.nextInt(6) == 0 ? 0 : rnd.nextLong(size + 1), false);
                case TRUNCATE_UP -> resize(size + rnd.nextLong(maxSize - size + 1), false);
                case PUNCH -> punch();
                case INTERRUPTED -> {
                    // The operations that reach the region's FileChannel on the caller's thread, called with
                    // the thread interrupted: each completes as usual and keeps the interrupt for the caller;
                    // the channel, and with it the file lock, survive (an interrupt closes a FileChannel).
                    int which = rnd.nextInt(4);
                    log("INTERRUPTED: the next operation runs on an interrupted thread");
                    Thread.currentThread().interrupt();
                    switch (which) {
                        case 0 -> resize(size + rnd.nextLong(maxSize - size + 1), true);
                        case 1 -> resize(rnd.nextLong(size + 1), false);
                        case 2 -> flush(0, Long.MAX_VALUE, true);
                        default -> punch();
                    }
                    assertTrue(Thread.interrupted(), "the interrupt is kept for the caller");
                    assertTrue(dev.mkwrite.impl.FileLocks.held(region.path()), "an interrupt dropped the file lock");
                }
                case REOPEN -> {
                    log("close and reopen");
                    closeAndCheckFile();
                    reopen();
                    checkAll("after reopen");
                    appendLog("ok");
                }
            }
            checkStats();
        }

        /** The model thread's writer over the current region: a new one after a reopen, the old one closed. */
        private RegionWriter writer() {
            if (writer == null || writer.region() != region) {
                if (writer != null) {
                    writer.close();
                }
                writer = region.writer();
            }
            return writer;
        }

        /** {offset, length} of a write inside the region, biased to page boundaries and the end. */
        private long[] writeRange(int maxLength) {
            if (size == 0) {
                return new long[] {0, 0};
            }
            long off = anyOffset();
            long len = 1 + rnd.nextInt(maxLength);
            if (rnd.nextInt(8) == 0) {
                len = size - off; // up to the end, often a partial last page
            }
            len = Math.min(len, size - off);
            return new long[] {off, len};
        }

        private long anyOffset() {
            if (size == 0) {
                return 0;
            }
            return switch (rnd.nextInt(5)) {
                case 0 -> Math.min(size - 1, rnd.nextLong(pages()) * pageSize); // a page start
                case 1 -> Math.max(0, Math.min(size - 1, rnd.nextLong(pages()) * pageSize - 1 - rnd.nextInt(8)));
                case 2 -> Math.max(0, size - 1 - rnd.nextInt(2 * pageSize)); // near the end
                default -> rnd.nextLong(size);
            };
        }

        private byte[] data(int length) {
            byte[] b = new byte[length];
            int base = rnd.nextInt(255) + 1;
            int step = rnd.nextInt(7) * 2 + 1;
            for (int i = 0; i < length; i++) {
                int v = (base + i * step) & 0xff;
                b[i] = (byte) (v == 0 ? opIndex | 1 : v);
            }
            return b;
        }

        private void write(Op op, long off, byte[] data, int how) throws Exception {
            int len = data.length;
            long first = off / pageSize;
            long last = len == 0 ? first - 1 : (off + len - 1) / pageSize;
            writeFirstPage = first;
            writeStart = off;
            writeLastPage = last;
            writeEnd = off + len;
            int[] before = states.clone(); // every state known: checkStats resolved them after the last operation
            log(op + "(" + off + ", " + len + ", how " + how + ") pages " + first + ".." + last + " size " + size);
            Throwable thrown = null;
            boolean wouldBlock = false;
            try {
                switch (op) {
                    case SPAN_WRITE -> {
                        try (WriteSpan span = region.write(off, len)) {
                            if (how == 0) {
                                MemorySegment.copy(data, 0, span.segment(), ValueLayout.JAVA_BYTE, 0, len);
                            } else {
                                span.buffer().put(data);
                            }
                        }
                    }
                    case PUT -> {
                        switch (how) {
                            case 0 -> region.put(off, data);
                            case 1 -> region.put(off, MemorySegment.ofArray(data));
                            case 3 -> writer().put(off, data);
                            case 4 -> writer().put(off, MemorySegment.ofArray(data));
                            default -> {
                                ByteBuffer b = ByteBuffer.allocate(len + 3).position(3);
                                b.put(data).position(3);
                                region.put(off, b);
                                assertEquals(len + 3, b.position(), "put(ByteBuffer) advances the position");
                            }
                        }
                    }
                    case PUT_SMALL -> {
                        ByteBuffer le = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
                        switch (how) {
                            case 0 -> region.putByte(off, data[0]);
                            case 1 -> region.putInt(off, le.getInt(0));
                            case 3 -> writer().putLong(off, le.getLong(0));
                            default -> region.putLong(off, le.getLong(0));
                        }
                    }
                    case TRY_WRITE -> {
                        try (WriteSpan span = region.tryWrite(off, len)) {
                            if (span == null) {
                                wouldBlock = true;
                            } else {
                                MemorySegment.copy(data, 0, span.segment(), ValueLayout.JAVA_BYTE, 0, len);
                            }
                        }
                    }
                    default -> throw new IllegalArgumentException(op.toString());
                }
            } catch (WriteFaultException e) {
                thrown = e;
            }
            awaitPending();
            boolean ok = thrown == null && !wouldBlock;
            appendLog(ok ? "ok" : wouldBlock ? "would block" : thrown.getClass().getSimpleName()
                    + (thrown instanceof WriteFaultException w ? " at page " + w.page() : ""));
            if (ok) {
                System.arraycopy(data, 0, shadow, (int) off, len);
            } else {
                failures++;
            }
            // The exception, if any, must be one that the handler or an interference explains.
            if (thrown != null) {
                Injected cause = thrown instanceof NoSpaceException ? Injected.NO_SPACE
                        : thrown instanceof HandlerFailedException ? Injected.HANDLER_FAILED
                        : thrown instanceof OutOfRegionException ? Injected.OUT_OF_REGION
                        : thrown instanceof RegionClosedException ? Injected.CLOSED : null;
                if (cause == null || !injected.contains(cause)) {
                    throw new AssertionError("the write threw " + thrown + " but the handler and interference did "
                            + injected, thrown);
                }
            } else if (wouldBlock) {
                assertTrue(injected.contains(Injected.WOULD_BLOCK), "tryWrite returned null with nothing blocking");
            } else if (!interfered && !injected.isEmpty()) {
                throw new AssertionError("the write succeeded although the handler did " + injected);
            }
            if (region.isClosed()) { // closed by interference while the lock was dropped
                closedModel();
                assertEquals(0, handler.live(), "handler-side reservations live after close");
                checkFile();
                reopen();
                checkAll("after a close during a fault");
                return;
            }
            if (!interfered) {
                // K1: the handler ran (first attempts) for exactly the CLEAN pages up to the failing one,
                // in order; not for dirty pages, nor for kept ones, which a write enters without it. K7: a
                // write that failed leaves nothing behind, so the pages it prepared before the failing one
                // are CLEAN again; a write that succeeded made them all dirty.
                long failedPage = ok ? last + 1 : thrown instanceof WriteFaultException w ? w.page()
                        : faulted.isEmpty() ? first : faulted.getLast();
                List<Long> expected = new ArrayList<>();
                for (long p = first; p <= Math.min(last, failedPage); p++) {
                    if (before[(int) p] == CLEAN) {
                        expected.add(p);
                    }
                }
                assertEquals(expected, faulted, "pages faulted by " + op + "(" + off + ", " + len + ")");
                for (long p = first; p <= last; p++) {
                    keptEntered += ok && before[(int) p] == KEPT ? 1 : 0;
                    keptGivenBack += !ok && p < failedPage && before[(int) p] == KEPT ? 1 : 0;
                    if (ok) {
                        inPart[(int) p] = inPartAfterWrite(before[(int) p], inPart[(int) p]);
                        states[(int) p] = written(before[(int) p]);
                    } else if (p < failedPage) {
                        // A write over several pages claims a kept page rather than entering it, so that
                        // the failure can give it back; given back, a claim is CLEAN, kept or not.
                        states[(int) p] = unkept(before[(int) p]);
                    }
                }
            } else {
                // A page may have been flushed, removed or written by the interference and faulted in
                // again; it is dirty if the write succeeded, and anything (kept only with keep) if not.
                int any = keep ? CLEAN | DIRTY | KEPT | DIRTY_KEPT : CLEAN | DIRTY;
                for (long p = first; p <= last && p < pages(); p++) {
                    states[(int) p] = ok ? any & WRITTEN : any;
                    inPart[(int) p] = keep ? MAYBE : NO;
                }
            }
            check(off - 8, len + 16);
        }

        private void writePastEnd() throws Exception {
            long off = size == 0 ? rnd.nextInt(3) : Math.max(0, size - rnd.nextInt(pageSize));
            int len = (int) (size - off) + 1 + rnd.nextInt(pageSize);
            log("WRITE_PAST_END(" + off + ", " + len + ") size " + size);
            byte[] data = data(len);
            expectOutOfRegion("write past the end", () -> {
                switch (rnd.nextInt(4)) {
                    case 0 -> region.write(off, len).close();
                    case 1 -> region.put(off, data);
                    case 2 -> region.putLong(size - Math.min(size, 7), 1L); // 8 bytes where at most 7 remain
                    default -> region.tryWrite(off, len);
                }
            });
            assertEquals(List.of(), faulted, "a write past the end faulted");
            appendLog("OutOfRegionException");
            check(off - 8, len);
        }

        private void read() {
            boolean past = rnd.nextInt(6) == 0;
            long off;
            int len;
            if (past || size == 0) {
                off = size == 0 ? rnd.nextInt(3) : Math.max(0, size - rnd.nextInt(pageSize));
                len = (int) Math.max(1, size - off + 1 + rnd.nextInt(16));
            } else {
                off = anyOffset();
                len = (int) Math.min(size - off, 1 + rnd.nextInt(2 * pageSize));
            }
            int kind = rnd.nextInt(5);
            log("READ(" + off + ", " + len + ", kind " + kind + ") size " + size);
            boolean outside = off + (kind == 2 ? 1 : kind == 3 ? 4 : kind == 4 ? 8 : len) > size;
            if (outside) {
                expectOutOfRegion("read past the end", () -> readKind(kind, off, len));
                appendLog("OutOfRegionException");
            } else {
                byte[] got = readKind(kind, off, len);
                byte[] want = Arrays.copyOfRange(shadow, (int) off, (int) off + got.length);
                if (!Arrays.equals(want, got)) {
                    throw mismatch("read", off, want, got);
                }
                appendLog("ok");
            }
        }

        private byte[] readKind(int kind, long off, int len) {
            ByteBuffer le = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            return switch (kind) {
                case 0 -> {
                    byte[] b = new byte[len + 2];
                    region.get(off, b, 1, len);
                    yield Arrays.copyOfRange(b, 1, len + 1);
                }
                case 1 -> {
                    MemorySegment s = MemorySegment.ofArray(new byte[len]);
                    region.get(off, s);
                    yield s.toArray(ValueLayout.JAVA_BYTE);
                }
                case 2 -> new byte[] {region.getByte(off)};
                case 3 -> Arrays.copyOf(le.putInt(0, region.getInt(off)).array(), 4);
                default -> le.putLong(0, region.getLong(off)).array();
            };
        }

        private void flush(long off, long len, boolean logIt) throws IOException {
            if (logIt) {
                log("FLUSH(" + off + ", " + (len == Long.MAX_VALUE ? "all" : len) + ") size " + size);
            }
            long min = 0;
            long max = 0;
            long first = off / pageSize;
            long last = off >= size || len == 0 ? first - 1 : (Math.min(size, off + len) - 1) / pageSize;
            for (long p = first; p <= last; p++) {
                int m = states[(int) p];
                min += (m & ~WRITTEN) == 0 ? 1 : 0;
                max += (m & WRITTEN) != 0 ? 1 : 0;
            }
            long done = len == Long.MAX_VALUE && off == 0 ? region.flush() : region.flush(off, len);
            if (done < min || done > max) {
                throw new AssertionError("flush(" + off + ", " + len + ") wrote back " + done
                        + " pages; the model says " + (min == max ? min : "between " + min + " and " + max));
            }
            for (long p = first; p <= last; p++) {
                int m = states[(int) p];
                // The count settles the open pages when it is at either bound: all of them were dirty, or none.
                if (done == max && (m & WRITTEN) != 0) {
                    m &= WRITTEN;
                } else if (done == min && (m & ~WRITTEN) != 0) {
                    m &= ~WRITTEN;
                }
                states[(int) p] = flushed(m, keep, inPart[(int) p]);
                inPart[(int) p] = NO; // written back: no longer dirty
            }
            if (logIt) {
                appendLog(done + " pages");
            }
        }

        /** Truncate or grow to {@code newSize}, and check what it discarded and what it re-extended. */
        private void resize(long newSize, boolean grow) throws IOException {
            long old = size;
            log((grow ? "GROW(" : "TRUNCATE(") + newSize + ") from " + old);
            resizeBoth(newSize, grow);
            appendLog("ok");
            assertEquals(newSize, region.size(), "size after the resize");
            if (newSize < old) {
                check(newSize - pageSize, 2L * pageSize);
                expectOutOfRegion("read at the new end", () -> region.getByte(newSize));
            } else {
                check(old - pageSize, newSize - old + pageSize); // re-extended bytes read as zero
            }
        }

        /**
         * Grows ({@code grow}) or truncates the region to {@code newSize}, and the model with it; interference
         * does it too, from the other thread.
         */
        private void resizeBoth(long newSize, boolean grow) throws IOException {
            boolean quiescesAll = ReliabilityProbe.growMayQuiesceAll(region); // asked before: the grow may reap
            boolean longer = fileLonger;
            boolean failed = false;
            if (grow) {
                region.grow(newSize);
            } else if (newSize < size && truncateFailures.nextInt(4) == 0) {
                // The file's truncate fails (as an ftruncate's EIO would): the region shrinks all the same and
                // stays open, and the file's tail is truncated again before a grow maps it, or at close. So the
                // model is a shrink's: the next grow must read the tail as zeros, a reopen must find the size.
                ReliabilityProbe.failNextTruncate(region, new IOException("fsx: ftruncate failed"));
                try {
                    region.truncate(newSize);
                    throw new AssertionError("truncate(" + newSize + ") returned with the file's truncate failing");
                } catch (IOException expected) {
                    failedTruncates++;
                    failed = true;
                } finally {
                    ReliabilityProbe.failNextTruncate(region, null);
                }
            } else {
                region.truncate(newSize);
            }
            if (newSize != size) {
                fileLonger = failed; // a shrink that truncated, or a grow, which truncates the file first
            }
            resizeModel(newSize, quiescesAll, longer);
        }

        /**
         * The model of truncate and grow. {@code growMayQuiesceAll}: a grow to {@code newSize} may have had
         * to quiesce every page ({@link ReliabilityProbe#growMayQuiesceAll}), taking every kept page.
         * {@code fileWasLonger}: a shrink's truncate had failed, so a grow truncates the file first, and where
         * that cuts the folio unit of the last pages, takes them back as a shrink takes those of the unit it cuts.
         */
        private void resizeModel(long newSize, boolean growMayQuiesceAll, boolean fileWasLonger) {
            long old = size;
            long oldPages = pages();
            if (newSize < old) {
                if (!brokenModel) {
                    Arrays.fill(shadow, (int) newSize, (int) old, (byte) 0);
                }
                size = newSize;
                for (long p = pages(); p < oldPages; p++) {
                    states[(int) p] = CLEAN;
                }
                // A shrink quiesces the whole region, and quiesce takes every PREPARED page back to CLEAN
                // (a writer could enter one without the lock): kept pages below the new end go as well.
                for (long p = 0; p < pages(); p++) {
                    states[(int) p] = unkept(states[(int) p]);
                }
                for (long p = pages(); p < oldPages; p++) {
                    inPart[(int) p] = NO;
                }
                markCutUnit(newSize);
            } else if (newSize > old) {
                if (fileWasLonger) { // the grow's trim cuts the unit of the old last pages: quiesced and marked
                    for (long p = (old & -(2L << 20)) / pageSize; keep && p < oldPages; p++) {
                        states[(int) p] = unkept(states[(int) p]);
                    }
                    markCutUnit(old);
                }
                if (old % pageSize != 0) {
                    // The old partial last page is quiesced, which takes it if kept, and written back if
                    // dirty; an exclusive operation's writeback leaves it CLEAN, kept or not.
                    states[(int) (oldPages - 1)] = CLEAN;
                    inPart[(int) (oldPages - 1)] = NO;
                }
                if (growMayQuiesceAll) {
                    for (long p = 0; p < oldPages; p++) {
                        states[(int) p] |= unkept(states[(int) p]); // kept, or taken by that quiesce
                    }
                }
                size = newSize;
            }
        }

        /**
         * Where {@code end}, the region's size, cuts a folio unit in a region that keeps pages prepared: the
         * dirty pages of that unit are marked prepared in part (for a page written since, maybe).
         */
        private void markCutUnit(long end) {
            if (keep && end % (2L << 20) != 0) {
                for (long p = (end & -(2L << 20)) / pageSize; p < (end + pageSize - 1) / pageSize; p++) {
                    int m = states[(int) p];
                    if ((m & WRITTEN) != 0) {
                        inPart[(int) p] = (m & ~WRITTEN) == 0 ? YES : MAYBE;
                    }
                }
            }
        }

        private void punch() throws IOException {
            if (size == 0) {
                log("PUNCH(0, 0) size 0");
                region.punchHole(0, 0);
                appendLog("ok");
                return;
            }
            long firstPage = rnd.nextLong(pages());
            long endPage = Math.min(pages(), firstPage + 1 + rnd.nextInt(4));
            long off = firstPage * pageSize;
            long len = Math.min(size, endPage * pageSize) - off;
            int misuse = rnd.nextInt(12);
            if (misuse == 0 && len > 1) {
                long badLen = len - 1 - rnd.nextInt((int) Math.min(len - 1, pageSize - 1));
                log("PUNCH(" + off + ", " + badLen + ") size " + size + ", not whole pages");
                boolean pageEnd = (off + badLen) % pageSize == 0;
                try {
                    region.punchHole(off, badLen);
                    if (!pageEnd) {
                        throw new AssertionError("punchHole(" + off + ", " + badLen + ") accepted a partial page");
                    }
                    punchModel(off, badLen);
                } catch (IllegalArgumentException expected) {
                    if (pageEnd) {
                        throw expected;
                    }
                }
                appendLog("ok");
                check(off, len);
                return;
            }
            if (misuse == 1) {
                log("PUNCH(" + off + ", " + (size - off + 1) + ") size " + size + ", past the end");
                long l = size - off + 1;
                expectOutOfRegion("punch past the end", () -> region.punchHole(off, l));
                appendLog("OutOfRegionException");
                return;
            }
            log("PUNCH(" + off + ", " + len + ") size " + size);
            region.punchHole(off, len);
            punchModel(off, len);
            appendLog("ok");
            check(off - pageSize, len + 2L * pageSize);
        }

        /** The model of punchHole: the bytes read as zero, and the pages are CLEAN, dirty, kept or not. */
        private void punchModel(long off, long len) {
            Arrays.fill(shadow, (int) off, (int) (off + len), (byte) 0);
            for (long p = off / pageSize; p < (off + len + pageSize - 1) / pageSize; p++) {
                states[(int) p] = CLEAN;
                inPart[(int) p] = NO;
            }
        }

        /** Close writes back every dirty page and drops every kept one: the region reopens all CLEAN. */
        private void closedModel() {
            Arrays.fill(states, CLEAN);
            Arrays.fill(inPart, NO);
            fileLonger = false; // the close truncates it
        }

        private void closeAndCheckFile() throws IOException {
            List<String> problems = LeakCheck.quiescentProblems(region);
            assertEquals(List.of(), problems, "before close");
            region.close();
            closedModel();
            RegionStats s = region.stats();
            assertEquals(0, s.reservationsOutstanding(), "reservations outstanding after close");
            assertEquals(0, s.pins(), "pins after close");
            assertEquals(0, handler.live(), "handler-side reservations live after close");
            checkFile();
        }

        /** The file, read with a FileChannel after close: exactly the model's size and bytes. */
        private void checkFile() throws IOException {
            byte[] got = FileBytes.read(file);
            assertEquals(size, got.length, "file size after close");
            byte[] want = Arrays.copyOf(shadow, (int) size);
            if (!Arrays.equals(want, got)) {
                throw mismatch("the file after close", 0, want, got);
            }
        }

        private void reopen() throws IOException {
            region = leaks.open(MappedRegion.builder(file).pageSize(pageSize).backing(backing).handler(handler));
            assertEquals(size, region.size(), "size after reopen");
        }

        private void awaitPending() throws Exception {
            if (pendingWrite != null) {
                try {
                    pendingWrite.get(30, TimeUnit.SECONDS);
                } catch (ExecutionException e) {
                    throw new AssertionError("the competing write failed", e.getCause());
                } finally {
                    pendingWrite = null;
                    competitor = null;
                }
            }
            if (pendingClose != null) {
                try {
                    pendingClose.get(30, TimeUnit.SECONDS);
                } finally {
                    pendingClose = null;
                }
            }
        }

        // -----------------------------------------------------------------------------------------
        // Checks

        private void check(long from, long length) {
            long lo = Math.max(0, from);
            long hi = Math.min(size, Math.max(lo, from + length));
            if (hi <= lo) {
                return;
            }
            byte[] got = new byte[(int) (hi - lo)];
            region.get(lo, got, 0, got.length);
            byte[] want = Arrays.copyOfRange(shadow, (int) lo, (int) hi);
            if (!Arrays.equals(want, got)) {
                throw mismatch("check", lo, want, got);
            }
        }

        private void checkAll(String what) {
            check(0, size);
            for (int i = (int) size; i < shadow.length; i++) {
                if (shadow[i] != 0) {
                    throw new AssertionError(what + ": the model holds a non-zero byte past the end at " + i);
                }
            }
            expectOutOfRegion(what + ": read one byte past the end", () -> region.getByte(size));
        }

        private void checkStats() {
            if (region.isClosed()) {
                return;
            }
            RegionStats s = region.stats();
            List<String> problems = LeakCheck.quiescentProblems(region);
            if (!problems.isEmpty()) {
                throw new AssertionError("after the operation: " + problems);
            }
            assertEquals(pages(), s.pages(), "pages");
            // Which WRITABLE page holds the handler's reservation, and which the kept page's none(): each
            // live reservation the handler issued is held by the page it was issued for.
            List<Long> handlerPages = handler.livePages();
            long writable = 0;
            long kept = 0;
            long dirtyKept = 0;
            for (long p = 0; p < pages(); p++) {
                String name = ReliabilityProbe.state(region, p);
                int actual = switch (name) {
                    case "CLEAN" -> CLEAN;
                    case "WRITABLE" -> handlerPages.contains(p) ? DIRTY : DIRTY_KEPT;
                    case "PREPARED" -> KEPT;
                    default -> 0; // PREPARING or under writeback: the quiescent check above failed first
                };
                if ((states[(int) p] & actual) == 0) {
                    throw new AssertionError("page " + p + " is " + ReliabilityProbe.describe(region, p)
                            + (name.equals("WRITABLE") ? ", " + describeModel(actual) : "") + ", but the model says "
                            + describeModel(states[(int) p]));
                }
                states[(int) p] = actual; // one of the model's, as an interfered write may leave it
                boolean realInPart = name.equals("WRITABLE") && ReliabilityProbe.preparedInPart(region, p);
                if ((inPart[(int) p] == YES && !realInPart && name.equals("WRITABLE"))
                        || (inPart[(int) p] == NO && realInPart)) {
                    throw new AssertionError("page " + p + " is " + ReliabilityProbe.describe(region, p)
                            + (realInPart ? ", prepared in part" : ", not prepared in part") + ", but the model says "
                            + (inPart[(int) p] == YES ? "in part" : "not in part"));
                }
                inPart[(int) p] = realInPart ? YES : NO;
                writable += actual == DIRTY || actual == DIRTY_KEPT ? 1 : 0;
                kept += actual == KEPT ? 1 : 0;
                dirtyKept += actual == DIRTY_KEPT ? 1 : 0;
            }
            for (long p : handlerPages) {
                if (p >= pages() || states[(int) p] != DIRTY
                        || handlerPages.indexOf(p) != handlerPages.lastIndexOf(p)) {
                    throw new AssertionError("a live reservation of the handler's for page " + p + ", which is "
                            + (p < pages() ? ReliabilityProbe.describe(region, p) : "past the end")
                            + "; live ones are for pages " + handlerPages);
                }
            }
            assertEquals(writable, s.writablePages(), "writable pages in the stats");
            assertEquals(kept, s.preparedPages(), "kept (PREPARED) pages in the stats");
            mostKept = Math.max(mostKept, kept);
            // Every WRITABLE and every kept page holds one reservation (the quiescent check), but a kept
            // page's is Reservation.none(), which mkwrite made and CountingHandler never saw, and a page
            // written again after it was kept still holds that one: the handler counts the others.
            long expected = s.reservationsOutstanding() - s.preparedPages() - dirtyKept;
            if (handler.live() != expected) {
                throw new AssertionError("the handler counts " + handler.live() + " live reservations, the region "
                        + s.reservationsOutstanding() + " outstanding for " + s.preparedPages() + " kept pages and "
                        + dirtyKept + " written again after they were kept, which hold none()");
            }
        }

        private void expectOutOfRegion(String what, ThrowingRunnable r) {
            try {
                r.run();
            } catch (OutOfRegionException expected) {
                return;
            } catch (Exception e) {
                throw new AssertionError(what + ": expected OutOfRegionException, got " + e, e);
            }
            throw new AssertionError(what + ": expected OutOfRegionException at size " + size);
        }

        private AssertionError mismatch(String what, long base, byte[] want, byte[] got) {
            int n = Math.min(want.length, got.length);
            int i = 0;
            while (i < n && want[i] == got[i]) {
                i++;
            }
            int j = i;
            while (j < n && want[j] != got[j]) {
                j++;
            }
            long at = base + i;
            return new AssertionError(what + ": byte " + at + " (page " + at / pageSize + ") is "
                    + (i < n ? got[i] : -1) + ", the model says " + (i < n ? want[i] : -1) + "; " + (j - i)
                    + " bytes differ from there (size " + size + ", lengths " + want.length + "/" + got.length + ")");
        }

        // -----------------------------------------------------------------------------------------
        // The handler, and interference while it has dropped the lock

        /** Fails now and then, drops the lock and retries now and then; decisions from {@code hrnd}. */
        private final class FsxHandler implements WriteFaultHandler {
            @Override
            public FaultResult prepare(WriteFault fault) throws IOException {
                if (Thread.currentThread() != main) {
                    Competitor c = competitor;
                    if (c != null && c.page == fault.page() && !c.claimed) {
                        c.claimed = true;
                        c.preparing.countDown();
                        c.awaitMainParkedAfterItsHandler();
                    }
                    return new Bytes(fault.length()); // a write by the interfering thread
                }
                if (!fault.isRetry()) {
                    faulted.add(fault.page());
                }
                int d = hrnd.nextInt(100);
                if (fault.isNoWait() && d >= 85) {
                    injected.add(Injected.WOULD_BLOCK);
                    return FaultResult.RETRY; // it would have to block
                }
                if (d < 3) {
                    injected.add(Injected.NO_SPACE);
                    throw new NoSpaceException("fsx: simulated full disk", fault.path(), fault.offset(), fault.page());
                }
                if (d < 5) {
                    injected.add(Injected.NO_SPACE);
                    throw new IOException("No space left on device (fsx)");
                }
                if (d < 6) {
                    injected.add(Injected.HANDLER_FAILED);
                    throw new IllegalStateException("fsx: a handler bug");
                }
                if (d < 18 && fault.mayDropLock()) {
                    fault.dropLock();
                    if (hrnd.nextInt(3) != 0) {
                        interfere(fault);
                    }
                    int how = hrnd.nextInt(10);
                    if (how < 4) {
                        fault.cacheReservation(new Bytes(fault.length()));
                        return FaultResult.RETRY;
                    }
                    if (how < 7) {
                        return FaultResult.RETRY; // the retry calls the handler again
                    }
                    if (how < 9) {
                        return new Bytes(fault.length()); // ready after the drop: adopted like a cached one
                    }
                    injected.add(Injected.NO_SPACE);
                    throw new NoSpaceException("fsx: full after waiting", fault.path(), fault.offset(), fault.page());
                }
                return new Bytes(fault.length());
            }

            @Override
            public boolean preparesOverwrites(Path path) {
                return !keep; // asked once as the region opens, and again at each reopen
            }

            @Override
            public void beforeWriteback(long page, MemorySegment contents) {
                // K8: the stable contents are exactly what the model holds (mkwrite's own threads only).
                long off = page * pageSize;
                byte[] want = Arrays.copyOfRange(shadow, (int) off, (int) (off + contents.byteSize()));
                byte[] got = contents.toArray(ValueLayout.JAVA_BYTE);
                if (!Arrays.equals(want, got)) {
                    throw mismatch("beforeWriteback of page " + page, off, want, got);
                }
            }
        }

        /**
         * K6 with a competitor: the page is truncated away and extended again, then the interfering thread
         * writes to a part of it this write does not touch, and is still preparing it, at the new
         * generation, when this fault retries. The retry must not adopt that claim (nor call the handler
         * for it); it waits, and then finds the page WRITABLE.
         */
        private String competeForStaleClaim(long page) {
            long pageStart = page * pageSize;
            long pageEnd = Math.min(size, pageStart + pageSize);
            long mineFrom = Math.max(writeStart, pageStart);
            long mineTo = Math.min(writeEnd, pageEnd);
            long off;
            long len;
            if (mineFrom > pageStart) {
                off = pageStart;
                len = mineFrom - pageStart;
            } else if (pageEnd > mineTo) {
                off = mineTo;
                len = pageEnd - mineTo;
            } else {
                return "nothing (the write covers the whole page)";
            }
            long low = page == 0 ? 0 : pageStart - hrnd.nextInt(pageSize);
            long high = size;
            try {
                helper.submit(() -> {
                    resizeBoth(low, false);
                    resizeBoth(high, false);
                    return null;
                }).get(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                throw new AssertionError("truncate and extend failed", e);
            }
            byte[] data = new byte[(int) Math.min(len, 512)];
            Arrays.fill(data, (byte) ((opIndex | 1) ^ 0x5a));
            Competitor c = new Competitor(page, main);
            competitions++;
            competitor = c;
            pendingWrite = helper.submit(() -> {
                region.put(off, data);
                System.arraycopy(data, 0, shadow, (int) off, data.length);
                states[(int) page] = DIRTY; // truncated away and back, the page was CLEAN: the handler prepared it
                inPart[(int) page] = NO;
                return null;
            });
            try {
                if (!c.preparing.await(30, TimeUnit.SECONDS)) {
                    throw new AssertionError("the competing write never faulted on page " + page);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
            c.mainReturned = true; // from here this thread returns from its handler without parking
            return "truncate(" + low + ") then truncate(" + high + "), and another thread's put(" + off + ", "
                    + data.length + ") claims the page and prepares it while this fault retries";
        }

        /** With the lock dropped: another thread changes the region, and the model follows. */
        private void interfere(WriteFault fault) {
            boolean again = interfered; // an earlier interference of this write may have cleaned its pages
            interfered = true;
            interferences++;
            long page = fault.page();
            for (long p = writeFirstPage; p < page; p++) {
                if (again) {
                    // A write faults in its range in one pass and pins it after; pages an earlier
                    // interference flushed or removed are faulted again only after this one.
                    states[(int) p] |= written(states[(int) p]);
                    inPart[(int) p] = keep ? MAYBE : NO;
                }
                // Else the write prepared the CLEAN ones of these before this page, in order, and claimed
                // the kept ones, and holds them PREPARING until its last page is prepared (K7): a flush
                // does not see them, and they become dirty only when the write succeeds. Dirty ones stay
                // dirty. Their states are known: the model's, as before the write.
            }
            for (long p = page + 1; p < Math.min(pages(), writeLastPage + 1); p++) {
                states[(int) p] |= written(states[(int) p]); // faulted in by this write before an earlier refault?
                inPart[(int) p] = keep && inPart[(int) p] != NO ? MAYBE : inPart[(int) p];
            }
            int what = hrnd.nextInt(9);
            String line = "  while page " + page + " dropped the lock: ";
            Future<?> f;
            switch (what) {
                case 0, 1 -> { // truncate down, maybe removing the faulting page
                    long newSize = hrnd.nextLong(size + 1);
                    line += "truncate(" + newSize + ")";
                    f = helper.submit(() -> {
                        resizeBoth(newSize, false);
                        return null;
                    });
                    if (newSize < writeEnd) {
                        injected.add(Injected.OUT_OF_REGION);
                    }
                }
                case 2 -> { // truncate below the page, then extend again: the retry must see a stale claim
                    long low = page * pageSize - (page == 0 ? 0 : hrnd.nextInt(pageSize));
                    long high = size;
                    line += "truncate(" + low + ") then truncate(" + high + ")";
                    f = helper.submit(() -> {
                        resizeBoth(low, false);
                        resizeBoth(high, false);
                        return null;
                    });
                }
                case 3 -> { // punch the faulting page out
                    long off = page * pageSize;
                    long len = Math.min(size, off + pageSize) - off;
                    line += "punchHole(" + off + ", " + len + ")";
                    f = helper.submit(() -> {
                        region.punchHole(off, len);
                        punchModel(off, len);
                        return null;
                    });
                }
                case 4 -> {
                    long newSize = size + hrnd.nextLong(maxSize - size + 1);
                    line += "grow(" + newSize + ")";
                    f = helper.submit(() -> {
                        resizeBoth(newSize, true);
                        return null;
                    });
                }
                case 5 -> {
                    line += "flush()";
                    f = helper.submit(() -> {
                        flush(0, Long.MAX_VALUE, false);
                        return null;
                    });
                }
                case 6 -> { // a write to another page; faults there proceed while this one waits (G7)
                    long other = hrnd.nextLong(Math.max(1, pages()));
                    // Not a page of this write: those it prepared wait for it to end, so a put there
                    // would wait for this very handler.
                    if ((other >= writeFirstPage && other <= writeLastPage) || size == 0) {
                        line += "nothing";
                        f = null;
                    } else {
                        long off = other * pageSize;
                        int len = (int) Math.min(size - off, 1 + hrnd.nextInt(pageSize));
                        byte[] data = new byte[len];
                        Arrays.fill(data, (byte) (opIndex | 1));
                        line += "put(" + off + ", " + len + ")";
                        f = helper.submit(() -> {
                            region.put(off, data);
                            System.arraycopy(data, 0, shadow, (int) off, len);
                            states[(int) other] = written(states[(int) other]); // a kept page is entered
                            return null;
                        });
                    }
                }
                case 7 -> {
                    line += competeForStaleClaim(page); // the competitor runs asynchronously
                    f = null;
                }
                default -> { // close: the retry must find the region closed and release what it cached
                    line += "close()";
                    injected.add(Injected.CLOSED);
                    pendingClose = helper.submit(() -> {
                        region.close();
                        return null;
                    });
                    while (!region.isClosed() && !pendingClose.isDone()) {
                        LockSupport.parkNanos(10_000); // close sets the flag first thing under the lock
                    }
                    f = null;
                }
            }
            log.addLast(log.removeLast() + "\n" + " ".repeat(String.valueOf(opIndex).length() + 2) + line);
            if (f != null) {
                try {
                    f.get(30, TimeUnit.SECONDS);
                } catch (ExecutionException e) {
                    throw new AssertionError("interference failed: " + line, e.getCause());
                } catch (Exception e) {
                    throw new AssertionError("interference did not finish: " + line, e);
                }
            }
        }
    }

    /**
     * The interfering thread's claim on the page of a fault that dropped the lock: it is PREPARING at a
     * newer generation, with the region lock held shared, until the fault's thread has returned from its
     * handler and parked (waiting for this page in its retry, or for this write after its own).
     */
    private static final class Competitor {
        final long page;
        final Thread main;
        final java.util.concurrent.CountDownLatch preparing = new java.util.concurrent.CountDownLatch(1);
        volatile boolean claimed;
        volatile boolean mainReturned;

        Competitor(long page, Thread main) {
            this.page = page;
            this.main = main;
        }

        void awaitMainParkedAfterItsHandler() {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!mainReturned || !(main.getState() == Thread.State.WAITING
                    || main.getState() == Thread.State.TIMED_WAITING)) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("the faulting thread never waited for the competing claim");
                }
                LockSupport.parkNanos(10_000); // a condition on another thread's state; no latch can say it
            }
        }
    }

    /** A reservation of some bytes that holds nothing; {@link CountingHandler} counts how it ends. */
    private record Bytes(long bytes) implements Reservation {
    }

    /** The operations, with fsx-like weights. */
    private enum Op {
        SPAN_WRITE(18), PUT(12), PUT_SMALL(12), TRY_WRITE(3), WRITE_PAST_END(3), READ(14), FLUSH(4), FLUSH_RANGE(6),
        GROW(4), TRUNCATE_DOWN(6), TRUNCATE_UP(4), PUNCH(5), INTERRUPTED(3), REOPEN(2);

        private static final Op[] TABLE = table();

        final int weight;

        Op(int weight) {
            this.weight = weight;
        }

        static Op pick(Random rnd) {
            return TABLE[rnd.nextInt(TABLE.length)];
        }

        private static Op[] table() {
            List<Op> t = new ArrayList<>();
            for (Op op : values()) {
                for (int i = 0; i < op.weight; i++) {
                    t.add(op);
                }
            }
            return t.toArray(new Op[0]);
        }
    }
}
