package dev.mkwrite.impl.reliability;

import dev.mkwrite.Backing;
import dev.mkwrite.FaultResult;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.RegionClosedException;
import dev.mkwrite.RegionStats;
import dev.mkwrite.Reservation;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.WriteSpan;
import dev.mkwrite.impl.ReliabilityProbe;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Several threads write, through spans and every kind of put, while another thread closes the region,
 * round after round for a bounded time, on both backings. The handler drops the lock on some faults, so
 * close also meets faults in flight.
 *
 * <p>Each round checks that no JVM crash or {@link InternalError} happened and that every writer ended
 * with success or {@link RegionClosedException}, nothing else; that afterwards the region holds no pin
 * and no reservation; and that every write acknowledged before close is in the file, read with a
 * {@link java.nio.channels.FileChannel} (each writer owns its 8-byte slots and remembers the last stamp it stored in each).
 * {@link LeakCheck} then checks every reservation's balance.
 */
class CloseWhileWritingTest {

    private static final int PAGE = 4096;
    private static final int PAGES = 16;
    private static final int SLOTS = PAGES * PAGE / Long.BYTES;
    private static final int WRITERS = 3;
    private static final long MILLIS = 1500;
    private static final int MIN_ROUNDS = 20;

    @RegisterExtension
    final LeakCheck leaks = new LeakCheck();

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldEndEveryWriterWithSuccessOrRegionClosedWhenClosedUnderWrites(Backing backing) throws Exception {
        WriteFaultHandler handler = leaks.counting(fault -> {
            ThreadLocalRandom rnd = ThreadLocalRandom.current();
            if (fault.mayDropLock() && rnd.nextInt(4) == 0) {
                fault.dropLock(); // a fault in flight when close comes
                LockSupport.parkNanos(rnd.nextInt(20_000));
                if (rnd.nextBoolean()) {
                    fault.cacheReservation(Reservation.none());
                }
                return FaultResult.RETRY;
            }
            return Reservation.none();
        });
        Path file = dir.resolve("close-" + backing + ".dat");
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(MILLIS);
        int rounds = 0;
        long writes = 0;
        long closedWrites = 0;
        while (rounds < MIN_ROUNDS || System.nanoTime() < deadline) {
            Round round = new Round(leaks.open(MappedRegion.builder(file).size((long) PAGES * PAGE).pageSize(PAGE)
                    .backing(backing).handler(handler)));
            round.run();
            round.verify(file);
            rounds++;
            writes += round.writes();
            closedWrites += WRITERS;
        }
        System.out.printf("close while writing on %s (broken rule %s): %d rounds, %d acknowledged writes, %d writers"
                + " stopped by RegionClosedException%n", backing, ReliabilityProbe.brokenRule(), rounds, writes, closedWrites);
    }

    /** One region, its writers and its closer. */
    private static final class Round {
        final MappedRegion region;
        final long[][] acknowledged = new long[WRITERS][SLOTS];
        final long[] counts = new long[WRITERS];
        final ConcurrentLinkedQueue<Throwable> unexpected = new ConcurrentLinkedQueue<>();
        final CountDownLatch warmedUp = new CountDownLatch(WRITERS);

        Round(MappedRegion region) {
            this.region = region;
        }

        long writes() {
            long n = 0;
            for (long c : counts) {
                n += c;
            }
            return n;
        }

        void run() throws InterruptedException {
            List<Thread> threads = new ArrayList<>();
            int warmUp = ThreadLocalRandom.current().nextInt(1, 400);
            for (int w = 0; w < WRITERS; w++) {
                int writer = w;
                threads.add(Thread.ofPlatform().daemon(true).name("writer-" + w).unstarted(() -> write(writer, warmUp)));
            }
            threads.add(Thread.ofPlatform().daemon(true).name("closer").unstarted(() -> {
                try {
                    if (!warmedUp.await(20, TimeUnit.SECONDS)) {
                        throw new AssertionError("the writers did not start writing");
                    }
                    region.close();
                } catch (Throwable t) {
                    unexpected.add(t);
                }
            }));
            threads.forEach(Thread::start);
            List<String> stuck = TruncateRaceTest.joinAll(threads, 30);
            if (!unexpected.isEmpty()) {
                AssertionError e = new AssertionError("close while writing on " + region.backing() + " (broken rule "
                        + ReliabilityProbe.brokenRule() + "): " + unexpected.size()
                        + " writers or closers ended with something other than success or RegionClosedException,"
                        + " the first: " + unexpected.peek());
                unexpected.forEach(e::addSuppressed);
                throw e;
            }
            assertEquals(List.of(), stuck, "threads that did not stop within 30 s: deadlock?");
        }

        /** Writes until the region is closed; anything but RegionClosedException is a failure. */
        private void write(int writer, int warmUp) {
            ThreadLocalRandom rnd = ThreadLocalRandom.current();
            ByteBuffer eight = ByteBuffer.allocate(Long.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            long[] mine = acknowledged[writer];
            long seq = 0;
            try {
                for (;;) {
                    int first = rnd.nextInt(SLOTS / WRITERS) * WRITERS + writer;
                    long stamp = ((long) (writer + 1) << 40) | ++seq;
                    long offset = (long) first * Long.BYTES;
                    int kind = rnd.nextInt(5);
                    int slots = 1;
                    switch (kind) {
                        case 0 -> region.putLong(offset, stamp);
                        case 1 -> region.put(offset, eight.putLong(0, stamp).array());
                        case 2 -> region.put(offset, MemorySegment.ofArray(new long[] {stamp}));
                        case 3 -> region.put(offset, eight.clear().putLong(0, stamp));
                        default -> {
                            slots = Math.min(SLOTS - first, 1 + rnd.nextInt(2 * PAGE / Long.BYTES));
                            try (WriteSpan span = region.write(offset, (long) slots * Long.BYTES)) {
                                MemorySegment m = span.segment();
                                for (int k = 0; k < slots; k += WRITERS) {
                                    m.set(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN),
                                            (long) k * Long.BYTES, stamp);
                                }
                            }
                        }
                    }
                    for (int k = 0; k < slots; k += WRITERS) {
                        mine[first + k] = stamp; // acknowledged: close must write it back
                    }
                    if (++counts[writer] == warmUp) {
                        warmedUp.countDown();
                    }
                }
            } catch (RegionClosedException expected) {
                // the documented end of a write racing close
            } catch (Throwable t) {
                unexpected.add(t);
            } finally {
                if (counts[writer] < warmUp) {
                    warmedUp.countDown();
                }
            }
        }

        void verify(Path file) throws IOException {
            assertTrue(region.isClosed(), "closed");
            RegionStats s = region.stats();
            assertEquals(0, s.pins(), "pins after close");
            assertEquals(0, s.reservationsOutstanding(), "reservations after close");
            ByteBuffer all = ByteBuffer.wrap(FileBytes.read(file)).order(ByteOrder.LITTLE_ENDIAN);
            for (int x = 0; x < SLOTS; x++) {
                long want = acknowledged[x % WRITERS][x];
                long got = all.getLong(x * Long.BYTES);
                if (want != 0 && got != want) {
                    throw new AssertionError("slot at offset " + x * Long.BYTES + ": acknowledged "
                            + Long.toHexString(want) + " before close, the file holds " + Long.toHexString(got));
                }
            }
        }
    }
}
