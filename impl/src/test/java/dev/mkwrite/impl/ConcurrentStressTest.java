package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.FaultResult;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.NoSpaceException;
import dev.mkwrite.OutOfRegionException;
import dev.mkwrite.WriteSpan;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Several writers, a flusher and a thread that grows and truncates, against one region, for a bounded
 * time, with a handler that sometimes drops the lock and sometimes finds no space. Afterwards: no
 * acknowledged write is lost (before and after close and reopen), no reservation leaked or ended twice,
 * and no writer saw anything but the documented exceptions.
 *
 * <p>Writers own interleaved 8-byte slots in a stable prefix that is never truncated, and also write
 * spans into a tail that the resizer keeps truncating and growing, where {@link OutOfRegionException}
 * is expected.
 */
class ConcurrentStressTest {

    private static final int PAGE = 4096;
    private static final int STABLE_PAGES = 32;
    private static final int MAX_PAGES = 96;
    private static final int WRITERS = 3;
    private static final int SLOTS = STABLE_PAGES * PAGE / Long.BYTES;
    private static final long DURATION_NANOS = TimeUnit.SECONDS.toNanos(4);

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldLoseNoAcknowledgedWriteAndLeakNoReservationUnderConcurrentFlushGrowAndTruncate(Backing backing)
            throws Exception {
        AtomicLong noSpace = new AtomicLong();
        TrackingHandler handler = new TrackingHandler((fault, h) -> {
            ThreadLocalRandom rnd = ThreadLocalRandom.current();
            int dice = rnd.nextInt(100);
            if (dice < 3) {
                noSpace.incrementAndGet();
                throw new NoSpaceException("stress: simulated full disk", fault.path(), fault.offset(), fault.page());
            }
            if (dice < 40 && fault.mayDropLock()) {
                fault.dropLock();
                LockSupport.parkNanos(rnd.nextInt(50_000));
                if (rnd.nextBoolean()) {
                    fault.cacheReservation(h.reserve(fault));
                }
                return FaultResult.RETRY;
            }
            return h.reserve(fault);
        });
        Path file = dir.resolve("stress.dat");
        MappedRegion region = MappedRegion.builder(file).size((long) MAX_PAGES * PAGE).pageSize(PAGE).backing(backing)
                .handler(handler).open();
        long[] acknowledged = new long[SLOTS];
        AtomicBoolean stop = new AtomicBoolean();
        ConcurrentLinkedQueue<Throwable> unexpected = new ConcurrentLinkedQueue<>();
        AtomicLong writes = new AtomicLong();
        AtomicLong tailWrites = new AtomicLong();
        AtomicLong flushes = new AtomicLong();
        AtomicLong resizes = new AtomicLong();
        List<Thread> threads = new ArrayList<>();

        for (int w = 0; w < WRITERS; w++) {
            int writer = w;
            threads.add(Thread.ofPlatform().name("writer-" + w).unstarted(() -> {
                ThreadLocalRandom rnd = ThreadLocalRandom.current();
                long sequence = 0;
                try {
                    while (!stop.get()) {
                        int slot = rnd.nextInt(SLOTS / WRITERS) * WRITERS + writer;
                        long value = ((long) writer << 56) | ++sequence;
                        try {
                            if (rnd.nextBoolean()) {
                                region.putLong((long) slot * Long.BYTES, value);
                            } else {
                                try (WriteSpan span = region.write((long) slot * Long.BYTES, Long.BYTES)) {
                                    span.segment().set(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(
                                            java.nio.ByteOrder.LITTLE_ENDIAN), 0, value);
                                }
                            }
                            acknowledged[slot] = value; // only this writer touches this slot
                            writes.incrementAndGet();
                        } catch (NoSpaceException expected) {
                            // nothing landed; the slot keeps its acknowledged value
                        }
                        long tail = (long) STABLE_PAGES * PAGE + rnd.nextLong((long) (MAX_PAGES - STABLE_PAGES) * PAGE);
                        int length = 1 + rnd.nextInt(3 * PAGE);
                        try {
                            region.put(tail, TailBytes.of(length));
                            tailWrites.incrementAndGet();
                        } catch (OutOfRegionException | NoSpaceException expected) {
                            // the tail moves under the writer
                        }
                    }
                } catch (Throwable t) {
                    unexpected.add(t);
                }
            }));
        }
        threads.add(Thread.ofPlatform().name("flusher").unstarted(() -> {
            ThreadLocalRandom rnd = ThreadLocalRandom.current();
            try {
                while (!stop.get()) {
                    if (rnd.nextBoolean()) {
                        region.flush();
                    } else {
                        region.flush(rnd.nextLong((long) MAX_PAGES * PAGE), rnd.nextLong(8L * PAGE));
                    }
                    flushes.incrementAndGet();
                }
            } catch (Throwable t) {
                unexpected.add(t);
            }
        }));
        threads.add(Thread.ofPlatform().name("resizer").unstarted(() -> {
            ThreadLocalRandom rnd = ThreadLocalRandom.current();
            try {
                while (!stop.get()) {
                    long size = (long) STABLE_PAGES * PAGE + rnd.nextLong((long) (MAX_PAGES - STABLE_PAGES) * PAGE);
                    if (rnd.nextBoolean() || size < region.size()) {
                        region.truncate(size);
                    } else {
                        region.grow(size);
                    }
                    resizes.incrementAndGet();
                    LockSupport.parkNanos(rnd.nextInt(200_000));
                }
            } catch (Throwable t) {
                unexpected.add(t);
            }
        }));

        threads.forEach(Thread::start);
        long start = System.nanoTime();
        long deadline = start + DURATION_NANOS;
        long cap = start + TimeUnit.SECONDS.toNanos(30); // a loaded machine: run on until the workload has run
        while ((System.nanoTime() < deadline || !ranEnough(writes, tailWrites, flushes, resizes))
                && System.nanoTime() < cap && unexpected.isEmpty()) {
            Thread.sleep(50);
        }
        stop.set(true);
        for (Thread t : threads) {
            t.join(TimeUnit.SECONDS.toMillis(30));
            assertTrue(!t.isAlive(), t.getName() + " did not stop: deadlock?");
        }
        if (!unexpected.isEmpty()) {
            AssertionError e = new AssertionError("unexpected exceptions: " + unexpected.size());
            unexpected.forEach(e::addSuppressed);
            throw e;
        }

        verify(region, acknowledged);
        assertEquals(0, region.stats().pins(), "pins left after every writer stopped");
        region.close();
        assertEquals(0, region.stats().reservationsOutstanding());
        assertEquals(0, handler.endedTwice(), "reservations ended twice");
        assertEquals(0, handler.live(), "reservations leaked");
        try (MappedRegion reopened = MappedRegion.builder(file).pageSize(PAGE).backing(backing)
                .handler(handler).open()) {
            verify(reopened, acknowledged);
        }
        assertTrue(ranEnough(writes, tailWrites, flushes, resizes),
                "the workload ran: writes=" + writes + " tail=" + tailWrites + " flushes=" + flushes
                        + " resizes=" + resizes + " noSpace=" + noSpace);
        System.out.printf("%s: %d writes, %d tail writes, %d flushes, %d resizes, %d no-space, %d handler calls%n",
                backing, writes.get(), tailWrites.get(), flushes.get(), resizes.get(), noSpace.get(), handler.calls());
    }

    /** Whether the workload did what the test's last check asks of it. */
    private static boolean ranEnough(AtomicLong writes, AtomicLong tailWrites, AtomicLong flushes, AtomicLong resizes) {
        return writes.get() > 1000 && flushes.get() > 10 && resizes.get() > 10 && tailWrites.get() > 100;
    }

    private static void verify(MappedRegion region, long[] acknowledged) {
        for (int slot = 0; slot < SLOTS; slot++) {
            long expected = acknowledged[slot];
            long actual = region.getLong((long) slot * Long.BYTES);
            if (actual != expected) {
                throw new AssertionError("slot " + slot + " (offset " + slot * Long.BYTES + ", page "
                        + slot * Long.BYTES / PAGE + "): acknowledged " + Long.toHexString(expected) + ", read "
                        + Long.toHexString(actual));
            }
        }
    }

    /** Reusable tail payloads, so the writers do not measure the allocator. */
    private static final class TailBytes {
        private static final byte[] BYTES = new byte[3 * PAGE + 1];

        static {
            for (int i = 0; i < BYTES.length; i++) {
                BYTES[i] = (byte) (i * 13 + 7);
            }
        }

        static byte[] of(int length) {
            return java.util.Arrays.copyOf(BYTES, length);
        }
    }
}
