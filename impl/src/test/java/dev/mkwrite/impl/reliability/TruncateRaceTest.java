package dev.mkwrite.impl.reliability;

import dev.mkwrite.Backing;
import dev.mkwrite.FaultResult;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.OutOfRegionException;
import dev.mkwrite.Reservation;
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
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Writers through the mapping race truncate down, truncate up and hole punching: the mkwrite analogues of
 * xfstests generic/029 and generic/030 (mapped writes into the partial last page while the size moves
 * inside it and out again, and the bytes past EOF must read as zero when the file is extended) and
 * generic/340, 344, 345 and 346 (mapped writers racing truncate, hole punch and each other over many
 * pages). The handler drops the lock for a moment on a third of the faults, so retries meet truncates
 * (rule K6).
 *
 * <p>Every write stores a unique 8-byte stamp into 8-byte slots its writer owns, and every write and
 * every truncate or punch records its interval on one logical clock. Afterwards, for each slot of the
 * region, the value read must be explainable:
 * <ul>
 *   <li>a non-zero value is the stamp of a write that succeeded (a write that threw left nothing, K7);
 *   no truncate or punch of that slot began after that write had returned (else the write landed past
 *   the end, or survived its removal); and no later write of the slot began after it had returned;</li>
 *   <li>zero is legal unless some write of the slot began after every truncate or punch of it had
 *   returned.</li>
 * </ul>
 * Then the region is extended to its largest size: every byte past the size the race ended with reads
 * as zero, through the region and in the file read with a {@link java.nio.channels.FileChannel}. Writers may see
 * {@link OutOfRegionException} and nothing else: no {@link InternalError}, no {@link IllegalStateException}.
 * Each case runs for {@value #MILLIS} ms.
 */
class TruncateRaceTest {

    private static final int PAGE = 4096;
    private static final int MAX_PAGES = 24;
    private static final long MAX_SIZE = (long) MAX_PAGES * PAGE;
    private static final int SLOTS = (int) (MAX_SIZE / Long.BYTES);
    private static final int WRITERS = 3;
    private static final int MAX_WRITES = 1 << 21;
    static final long MILLIS = 1500;

    @RegisterExtension
    final LeakCheck leaks = new LeakCheck();

    @TempDir
    Path dir;

    /** What the truncating thread does, after the xfstests it follows. */
    enum Scenario {
        /** generic/029, 030: the size moves inside and around one page boundary; writers hit EOF. */
        PARTIAL_LAST_PAGE,
        /** generic/340, 344-346: truncate down and up anywhere, and punch holes, under writers everywhere. */
        TRUNCATE_AND_PUNCH
    }

    static Stream<Arguments> cases() {
        List<Arguments> cases = new ArrayList<>();
        for (Scenario s : Scenario.values()) {
            for (Backing b : Backing.values()) {
                cases.add(Arguments.of(s, b));
            }
        }
        return cases.stream();
    }

    /**
     * Joins {@code threads} within one deadline of {@code seconds} in all.
     *
     * @return the names of those still alive; they are daemons, so a wedged one does not hang the JVM
     */
    static List<String> joinAll(List<Thread> threads, long seconds) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        List<String> stuck = new ArrayList<>();
        for (Thread t : threads) {
            long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            if (left > 0) {
                t.join(left);
            }
            if (t.isAlive()) {
                stuck.add(t.getName());
            }
        }
        return stuck;
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("cases")
    void shouldWriteNothingPastTheEndAndReadReExtendedBytesAsZero(Scenario scenario, Backing backing) throws Exception {
        Race race = new Race(scenario, backing);
        race.run();
        race.verify();
    }

    /** One race and its records. */
    private final class Race {
        final Scenario scenario;
        final Backing backing;
        final Path file;
        final MappedRegion region;
        final AtomicLong clock = new AtomicLong();
        final AtomicBoolean stop = new AtomicBoolean();
        final ConcurrentLinkedQueue<Throwable> unexpected = new ConcurrentLinkedQueue<>();

        /** Per slot: the latest start of a successful write, and the latest start and end of a removal. */
        final AtomicLongArray maxWriteStart = new AtomicLongArray(SLOTS);
        final long[] maxRemovalStart = new long[SLOTS];
        final long[] maxRemovalEnd = new long[SLOTS];
        /** Per writer and write sequence: the clock when the write returned, or -1 if it threw. */
        final long[][] ends = new long[WRITERS][];
        final int[] issued = new int[WRITERS];
        final AtomicLong outOfRegion = new AtomicLong();
        final AtomicLong removals = new AtomicLong();
        final AtomicLong extensions = new AtomicLong();
        volatile long size;
        final long low;
        final long high;

        Race(Scenario scenario, Backing backing) throws IOException {
            this.scenario = scenario;
            this.backing = backing;
            this.file = dir.resolve("race-" + scenario + "-" + backing + ".dat");
            long base = MAX_SIZE / 2;
            this.low = scenario == Scenario.PARTIAL_LAST_PAGE ? base - PAGE : 2L * PAGE;
            this.high = scenario == Scenario.PARTIAL_LAST_PAGE ? base + PAGE : MAX_SIZE;
            this.size = high;
            WriteFaultHandler handler = leaks.counting(fault -> {
                ThreadLocalRandom rnd = ThreadLocalRandom.current();
                if (fault.mayDropLock() && rnd.nextInt(3) == 0) {
                    fault.dropLock(); // widen the window in which a truncate meets this fault
                    LockSupport.parkNanos(rnd.nextInt(100_000));
                    if (rnd.nextBoolean()) {
                        fault.cacheReservation(Reservation.none());
                    }
                    return FaultResult.RETRY;
                }
                return Reservation.none();
            });
            this.region = leaks.open(MappedRegion.builder(file).size(high).pageSize(PAGE).backing(backing)
                    .handler(handler));
        }

        void run() throws InterruptedException {
            List<Thread> threads = new ArrayList<>();
            for (int w = 0; w < WRITERS; w++) {
                int writer = w;
                threads.add(Thread.ofPlatform().daemon(true).name("writer-" + w)
                        .unstarted(() -> guard(() -> write(writer))));
            }
            threads.add(Thread.ofPlatform().daemon(true).name("truncater").unstarted(() -> guard(this::truncate)));
            threads.add(Thread.ofPlatform().daemon(true).name("flusher").unstarted(() -> guard(() -> {
                while (!stop.get()) {
                    region.flush();
                    LockSupport.parkNanos(200_000);
                }
            })));
            threads.forEach(Thread::start);
            long start = System.nanoTime();
            long deadline = start + TimeUnit.MILLISECONDS.toNanos(MILLIS);
            long cap = start + TimeUnit.SECONDS.toNanos(30); // a loaded machine: run on until the race has run
            while ((System.nanoTime() < deadline || !ranEnough()) && System.nanoTime() < cap && unexpected.isEmpty()) {
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20)); // the test's duration, not a sync
            }
            stop.set(true);
            List<String> stuck = joinAll(threads, 30);
            if (!unexpected.isEmpty()) {
                AssertionError e = new AssertionError(scenario + " on " + backing + " (broken rule "
                        + ReliabilityProbe.brokenRule() + "): " + unexpected.size()
                        + " undocumented exceptions, the first: " + unexpected.peek());
                unexpected.forEach(e::addSuppressed);
                throw e;
            }
            assertEquals(List.of(), stuck, "threads that did not stop within 30 s: deadlock?");
        }

        /**
         * Whether the race has done what verify's last check asks of it (a racy look at the writers' counts:
         * it only decides how long to run on).
         */
        private boolean ranEnough() {
            long writes = 0;
            for (int w = 0; w < WRITERS; w++) {
                writes += issued[w];
            }
            return writes > 1000 && removals.get() > 5 && outOfRegion.get() > 0;
        }

        private void guard(ThrowingRunnable r) {
            try {
                r.run();
            } catch (Throwable t) {
                unexpected.add(t);
                stop.set(true);
            }
        }

        /** Writes unique stamps into this writer's slots (x % WRITERS == writer), near the end mostly. */
        private void write(int writer) {
            ThreadLocalRandom rnd = ThreadLocalRandom.current();
            long[] mine = new long[1024];
            ByteBuffer eight = ByteBuffer.allocate(Long.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            int seq = 0;
            while (!stop.get() && seq < MAX_WRITES) {
                long s = size;
                long around = scenario == Scenario.PARTIAL_LAST_PAGE || rnd.nextBoolean()
                        ? s - 1 - rnd.nextLong(PAGE) + rnd.nextInt(128) : rnd.nextLong(high); // at EOF, or anywhere
                int firstSlot = Math.clamp(around / Long.BYTES, 0, SLOTS - 1);
                firstSlot -= Math.floorMod(firstSlot - writer, WRITERS); // one of ours
                if (firstSlot < 0) {
                    firstSlot += WRITERS;
                }
                int kind = rnd.nextInt(3);
                int slots = kind == 2 ? 1 + rnd.nextInt(3 * PAGE / Long.BYTES) : 1;
                slots = Math.min(slots, SLOTS - firstSlot);
                long stamp = ((long) (writer + 1) << 40) | seq;
                if (seq == mine.length) {
                    mine = Arrays.copyOf(mine, mine.length * 2);
                }
                long offset = (long) firstSlot * Long.BYTES;
                long start = clock.incrementAndGet();
                try {
                    switch (kind) {
                        case 0 -> region.putLong(offset, stamp);
                        case 1 -> region.put(offset, eight.putLong(0, stamp).array());
                        default -> {
                            try (WriteSpan span = region.write(offset, (long) slots * Long.BYTES)) {
                                MemorySegment m = span.segment();
                                for (int k = 0; k < slots; k += WRITERS) {
                                    m.set(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN),
                                            (long) k * Long.BYTES, stamp);
                                }
                            }
                        }
                    }
                    mine[seq] = clock.incrementAndGet();
                    for (int k = 0; k < slots; k += WRITERS) {
                        maxWriteStart.accumulateAndGet(firstSlot + k, start, Math::max);
                    }
                } catch (OutOfRegionException expected) {
                    mine[seq] = -1;
                    outOfRegion.incrementAndGet();
                }
                seq++;
                ends[writer] = mine; // published to verify() by Thread.join
                issued[writer] = seq;
            }
        }

        /** Truncates down and up (and punches holes), recording each removal's interval per slot. */
        private void truncate() throws IOException {
            ThreadLocalRandom rnd = ThreadLocalRandom.current();
            while (!stop.get()) {
                long s = size;
                if (scenario == Scenario.TRUNCATE_AND_PUNCH && rnd.nextInt(3) == 0 && s >= PAGE) {
                    long first = rnd.nextLong(s / PAGE);
                    long pages = 1 + rnd.nextLong(Math.min(4, s / PAGE - first));
                    long start = clock.incrementAndGet();
                    region.punchHole(first * PAGE, pages * PAGE);
                    long end = clock.incrementAndGet();
                    removed(first * PAGE, (first + pages) * PAGE, start, end);
                    continue;
                }
                long target = low + rnd.nextLong((high - low) / Long.BYTES + 1) * Long.BYTES;
                long start = clock.incrementAndGet();
                region.truncate(target);
                long end = clock.incrementAndGet();
                size = target;
                if (target < s) {
                    removed(target, s, start, end);
                } else {
                    extensions.incrementAndGet();
                }
                LockSupport.parkNanos(rnd.nextInt(50_000)); // let the writers run between resizes
            }
        }

        private void removed(long from, long to, long start, long end) {
            removals.incrementAndGet();
            for (int x = (int) (from / Long.BYTES); x < to / Long.BYTES; x++) {
                maxRemovalStart[x] = start;
                maxRemovalEnd[x] = end;
            }
        }

        void verify() throws IOException {
            long finalSize = size;
            assertEquals(finalSize, region.size(), "the region's size after the race");
            List<String> problems = new ArrayList<>();
            long writes = 0;
            for (int w = 0; w < WRITERS; w++) {
                writes += issued[w];
            }
            for (int x = 0; x < finalSize / Long.BYTES && problems.size() < 10; x++) {
                long v = region.getLong((long) x * Long.BYTES);
                String where = "slot at offset " + (long) x * Long.BYTES + " (page " + (long) x * Long.BYTES / PAGE + ")";
                if (v == 0) {
                    if (maxWriteStart.get(x) > maxRemovalEnd[x]) {
                        problems.add(where + " reads zero, but a write began at " + maxWriteStart.get(x)
                                + " after its last removal ended at " + maxRemovalEnd[x]);
                    }
                    continue;
                }
                int writer = (int) (v >>> 40) - 1;
                long seq = v & ((1L << 40) - 1);
                if (writer < 0 || writer >= WRITERS || writer != x % WRITERS || seq >= issued[writer]
                        || ends[writer][(int) seq] <= 0) {
                    problems.add(where + " holds " + Long.toHexString(v) + ", which no successful write of it stored"
                            + (writer >= 0 && writer < WRITERS && seq < issued[writer] ? " (that write threw)" : ""));
                    continue;
                }
                long end = ends[writer][(int) seq];
                if (maxRemovalStart[x] > end) {
                    problems.add(where + " holds the stamp of a write that returned at " + end
                            + ", but a truncate or punch of it began later, at " + maxRemovalStart[x]
                            + ": a write landed past the end or survived its removal");
                } else if (maxWriteStart.get(x) > end) {
                    problems.add(where + " holds the stamp of a write that returned at " + end
                            + ", but a later write began at " + maxWriteStart.get(x) + ": that write was lost");
                }
            }
            // Nothing past the end: extend, and the re-extended bytes read as zero, in the region and the file.
            region.flush();
            byte[] before = new byte[(int) finalSize];
            region.get(0, before, 0, before.length);
            assertEquals(finalSize, FileBytes.read(file).length, "the file's size after the race");
            region.grow(MAX_SIZE);
            byte[] tail = new byte[(int) (MAX_SIZE - finalSize)];
            region.get(finalSize, tail, 0, tail.length);
            firstNonZero("the region past the race's final size " + finalSize, finalSize, tail, problems);
            region.flush();
            byte[] bytes = FileBytes.read(file);
            assertEquals(MAX_SIZE, bytes.length, "file size after the extension");
            firstNonZero("the file past the race's final size " + finalSize, finalSize,
                    Arrays.copyOfRange(bytes, (int) finalSize, bytes.length), problems);
            if (!Arrays.equals(before, Arrays.copyOf(bytes, (int) finalSize))) {
                problems.add("the file differs from the region inside the final size");
            }
            String summary = String.format("%s on %s (broken rule %s): %d writes, %d out of region, %d removals,"
                            + " %d extensions", scenario, backing, ReliabilityProbe.brokenRule(), writes,
                    outOfRegion.get(), removals.get(), extensions.get());
            System.out.println(summary);
            assertEquals(List.of(), problems, summary);
            assertTrue(writes > 1000 && removals.get() > 5 && outOfRegion.get() > 0, "the race ran: " + summary);
        }

        private static void firstNonZero(String what, long base, byte[] bytes, List<String> problems) {
            for (int i = 0; i < bytes.length; i++) {
                if (bytes[i] != 0) {
                    problems.add(what + ": byte " + (base + i) + " (page " + (base + i) / PAGE + ") is " + bytes[i]);
                    return;
                }
            }
        }
    }

}
