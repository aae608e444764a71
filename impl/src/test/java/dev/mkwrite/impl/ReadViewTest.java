package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.OutOfRegionException;
import dev.mkwrite.RegionClosedException;
import dev.mkwrite.WriteFaultHandler;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ReadOnlyBufferException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Read views and lock-free reads: raw memory, no lock, and a view or read that outlives its mapping (the
 * region closed, or a grow or truncate replaced the mapping) ends with an exception, never a crash
 * ({@code InternalError} from a fault, or a JVM crash).
 */
class ReadViewTest {

    static final int PAGE = 4096;

    @TempDir
    Path dir;

    private MappedRegion open(Backing backing, long size) throws IOException {
        return MappedRegion.builder(dir.resolve("views.dat")).size(size).pageSize(PAGE).backing(backing)
                .handler(WriteFaultHandler.none()).open();
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldSeeWritesThroughAReadOnlyView(Backing backing) throws IOException {
        try (MappedRegion region = open(backing, 4L * PAGE)) {
            region.putLong(PAGE + 8, 0x1122334455667788L);
            MemorySegment view = region.view(PAGE, PAGE);
            assertTrue(view.isReadOnly());
            assertEquals(0x1122334455667788L, view.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 8));
            region.putLong(PAGE + 16, 5);
            assertEquals(5, view.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 16),
                    "a view sees later writes: it maps the same pages");
            assertThrows(IllegalArgumentException.class, () -> view.set(ValueLayout.JAVA_BYTE, 0, (byte) 1), "read-only");
            ByteBuffer buffer = region.viewBuffer(PAGE, PAGE);
            assertTrue(buffer.isReadOnly());
            assertEquals(ByteOrder.LITTLE_ENDIAN, buffer.order());
            assertEquals(0x1122334455667788L, buffer.getLong(8));
            assertThrows(ReadOnlyBufferException.class, () -> buffer.put(0, (byte) 1));
            assertThrows(OutOfRegionException.class, () -> region.view(3L * PAGE, PAGE + 1));
        }
    }

    /**
     * A read into a read-only segment (here a view of the region's own page 2) is refused with the file,
     * offset and page named, nothing read, and the region reads on: on the lock-free path the copy's own
     * refusal is caught and named, with no test of the destination before the copy.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldRefuseToReadIntoAReadOnlySegmentNamingTheFileOffsetAndPage(Backing backing) throws IOException {
        try (MappedRegion region = open(backing, 4L * PAGE)) {
            region.putLong(PAGE + 8, 42);
            MemorySegment view = region.view(2L * PAGE, PAGE);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> region.get(PAGE, view));
            assertTrue(e.getMessage().contains("views.dat") && e.getMessage().contains("offset 4096")
                    && e.getMessage().contains("page 1"), e.getMessage());
            assertEquals(0, region.getLong(2L * PAGE + 8), "page 2 was written through the view");
            assertEquals(42, region.getLong(PAGE + 8));
            MemorySegment into = MemorySegment.ofArray(new byte[PAGE]);
            region.get(PAGE, into);
            assertEquals(42, into.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 8));
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldRefuseABufferViewLargerThanABufferNamingTheFileOffsetAndPage(Backing backing) throws IOException {
        try (MappedRegion region = open(backing, 4L * PAGE)) {
            region.putLong(PAGE + 8, 42);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> region.viewBuffer(PAGE + 8, Integer.MAX_VALUE + 1L));
            assertTrue(e.getMessage().contains("views.dat") && e.getMessage().contains("offset 4104")
                    && e.getMessage().contains("page 1]") && e.getMessage().contains("use view()"), e.getMessage());
            IllegalArgumentException negative = assertThrows(IllegalArgumentException.class,
                    () -> region.viewBuffer(-PAGE, Integer.MAX_VALUE + 1L));
            assertTrue(negative.getMessage().contains("offset -4096]"), "no page for a negative offset: "
                    + negative.getMessage());
            assertEquals(42, region.viewBuffer(PAGE, PAGE).order(ByteOrder.LITTLE_ENDIAN).getLong(8),
                    "the region stays usable");
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldFailAViewUsedAfterCloseWithAnExceptionNotACrash(Backing backing) throws IOException {
        MemorySegment view;
        ByteBuffer buffer;
        try (MappedRegion region = open(backing, 4L * PAGE)) {
            region.putLong(0, 7);
            view = region.view(0, PAGE);
            buffer = region.viewBuffer(0, PAGE);
        }
        assertThrows(IllegalStateException.class, () -> view.get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
        assertThrows(IllegalStateException.class, () -> buffer.getLong(0));
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldFailAViewOfAReplacedMappingAfterTruncateNotFault(Backing backing) throws IOException {
        try (MappedRegion region = open(backing, 64L * PAGE)) {
            region.putLong(40L * PAGE, 7);
            MemorySegment view = region.view(32L * PAGE, 16L * PAGE);
            region.truncate(8L * PAGE); // the file no longer has the view's pages: a read would fault
            assertThrows(IllegalStateException.class, () -> view.get(ValueLayout.JAVA_LONG_UNALIGNED, 8L * PAGE));
            region.grow(64L * PAGE);
            assertEquals(0, region.getLong(40L * PAGE), "re-extended bytes read as zero");
        }
    }

    /**
     * A read without the lock is checked against the region's size, not the mapping's: a native mapping
     * has room to grow, and the last page of a region of a page and a half is mapped in full. The checks
     * follow a grow in place, a shrink and a close, and each exception names the file, offset and page.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldCheckReadsAgainstTheRegionsSizeThroughGrowShrinkAndClose(Backing backing) throws IOException {
        MappedRegion region = open(backing, PAGE + PAGE / 2);
        Region shared = RegionHandle.regionOf(region);
        long end = PAGE + PAGE / 2;
        region.putLong(end - 8, 42);
        assertEquals(42, region.getLong(end - 8));
        assertTrue(shared.readsWithoutLock(), "after the first read, reads go without the lock");
        OutOfRegionException past = assertThrows(OutOfRegionException.class, () -> region.getLong(end - 7));
        assertTrue(past.getMessage().contains("views.dat") && past.getMessage().contains("page 1"), past.getMessage());
        assertThrows(OutOfRegionException.class, () -> region.getByte(end));
        assertThrows(OutOfRegionException.class, () -> region.get(end - 1, new byte[2], 0, 2));
        assertThrows(OutOfRegionException.class, () -> region.view(end, 1));
        IllegalArgumentException negative = assertThrows(IllegalArgumentException.class, () -> region.getInt(-4));
        assertTrue(negative.getMessage().contains("views.dat") && negative.getMessage().contains("offset -4"),
                negative.getMessage());
        region.grow(3L * PAGE);
        assertEquals(0, region.getLong(end), "the grown bytes read as zeros");
        assertEquals(0, region.getLong(3L * PAGE - 8));
        assertThrows(OutOfRegionException.class, () -> region.getByte(3L * PAGE));
        region.truncate(PAGE);
        assertThrows(OutOfRegionException.class, () -> region.getLong(PAGE - 4));
        assertEquals(0, region.getLong(PAGE - 8));
        region.close();
        assertTrue(!shared.readsWithoutLock(), "a closed region has nothing to read");
        RegionClosedException closed = assertThrows(RegionClosedException.class, () -> region.getLong(0));
        assertTrue(closed.getMessage().contains("views.dat"), closed.getMessage());
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldNeverFaultReadersRacingTruncateGrowAndClose(Backing backing) throws Exception {
        for (int round = 0; round < 5; round++) {
            Path file = dir.resolve("race-" + round + ".dat");
            MappedRegion region = MappedRegion.builder(file).size(256L * PAGE).pageSize(PAGE).backing(backing)
                    .handler(WriteFaultHandler.none()).open();
            for (long p = 0; p < 256; p++) {
                region.putLong(p * PAGE, p + 1);
            }
            AtomicBoolean stop = new AtomicBoolean();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            AtomicLong reads = new AtomicLong();
            java.util.concurrent.CountDownLatch reading = new java.util.concurrent.CountDownLatch(2);
            List<Thread> readers = new ArrayList<>();
            for (int t = 0; t < 2; t++) {
                int seed = t;
                readers.add(Thread.ofPlatform().daemon().start(() -> {
                    long i = seed;
                    boolean counted = false;
                    byte[] dst = new byte[64];
                    while (!stop.get()) {
                        long page = (i++ * 7919) % 256;
                        try {
                            long v = region.getLong(page * PAGE);
                            if (v != 0 && v != page + 1) {
                                throw new AssertionError("page " + page + " read " + v);
                            }
                            region.get(page * PAGE, dst, 0, dst.length);
                            MemorySegment view = region.view(page * PAGE, 64);
                            try {
                                view.get(ValueLayout.JAVA_LONG_UNALIGNED, 0);
                            } catch (IllegalStateException dead) {
                                // a view dies with its mapping: only the view's own access may say so
                            }
                            reads.incrementAndGet();
                            if (!counted) {
                                reading.countDown(); // each reader once: both read before the cycles
                                counted = true;
                            }
                        } catch (OutOfRegionException | RegionClosedException expected) { // not the JDK's own ISE
                            if (expected instanceof RegionClosedException) {
                                return;
                            }
                        } catch (Throwable e) {
                            failure.compareAndSet(null, e);
                            return;
                        }
                    }
                }));
            }
            // The readers read before the cycles begin, however slowly they are scheduled: else they may
            // first run after the close, read nothing, and the round proves nothing.
            assertTrue(reading.await(30, java.util.concurrent.TimeUnit.SECONDS) || failure.get() != null,
                    "the readers never read");
            for (int k = 0; k < 40; k++) {
                region.truncate((8 + k % 5) * (long) PAGE);
                region.grow(256L * PAGE);
                for (long p = 0; p < 256; p += 17) {
                    region.putLong(p * PAGE, p + 1);
                }
            }
            region.close();
            stop.set(true);
            for (Thread r : readers) {
                r.join(10_000);
            }
            if (failure.get() != null) {
                throw new AssertionError("a reader failed in round " + round, failure.get());
            }
            assertTrue(reads.get() > 0);
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldReadInTheRegionsByteOrderEverywhere(Backing backing) throws IOException {
        try (MappedRegion region = MappedRegion.builder(dir.resolve("be.dat")).size(4L * PAGE).pageSize(PAGE)
                .backing(backing).byteOrder(ByteOrder.BIG_ENDIAN).handler(WriteFaultHandler.none()).open()) {
            region.putInt(0, 0x01020304);
            assertEquals(1, region.getByte(0), "big-endian: the high byte first");
            try (var span = region.write(8, 8)) {
                assertEquals(ByteOrder.BIG_ENDIAN, span.buffer().order());
                span.buffer().putLong(0, 42);
            }
            assertEquals(42, region.getLong(8));
            assertEquals(0x01020304, region.viewBuffer(0, 4).getInt(0));
            assertNull(null);
        }
    }

    /** Waits until another thread's exclusive operation holds the region lock (and waits for pinned writers). */
    private static void awaitExclusive(MappedRegion region) {
        Region r = RegionHandle.regionOf(region);
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (!r.exclusiveForTests()) {
            assertTrue(System.nanoTime() < deadline, "the exclusive operation never took the lock");
            Thread.onSpinWait();
        }
    }

    /**
     * A thread holding a span reads while another thread's close waits for that span: the read's fallback
     * under the region lock waited for the close, and the close for the reader's span, for good. The read
     * now says the region is closed, the span closes, and so does the region.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldNotWaitForACloseThatWaitsForTheReadersSpan(Backing backing) throws Exception {
        MappedRegion region = open(backing, 4L * PAGE);
        region.putLong(PAGE + 8, 7);
        Thread[] closer = new Thread[1];
        Blocking.within("span-holder", () -> {
            try (dev.mkwrite.WriteSpan span = region.write(0, 64)) {
                closer[0] = Thread.ofPlatform().daemon().start(() -> {
                    try {
                        region.close();
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                });
                awaitExclusive(region);
                assertThrows(RegionClosedException.class, () -> region.getLong(PAGE + 8));
                assertThrows(RegionClosedException.class, () -> region.view(PAGE, 8));
                span.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 1L); // the span is still good
            }
            return null;
        });
        closer[0].join(30_000);
        assertTrue(region.isClosed());
    }

    /**
     * The same while a truncate waits for the span: a read past the end, and on the buffer backing any read
     * after a grow (its read companion is mapped by the first locked read), took the lock and waited for the
     * truncate. They are answered now without the lock: out of the region, or read through the file.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldNotWaitForATruncateThatWaitsForTheReadersSpan(Backing backing) throws Exception {
        try (MappedRegion region = open(backing, 4L * PAGE)) {
            region.putLong(PAGE + 8, 7);
            region.grow(8L * PAGE); // the buffer backing's reads go under the lock until one maps its companion
            Thread[] truncater = new Thread[1];
            Blocking.within("span-holder", () -> {
                try (dev.mkwrite.WriteSpan span = region.write(0, 64)) {
                    truncater[0] = Thread.ofPlatform().daemon().start(() -> {
                        try {
                            region.truncate(2L * PAGE);
                        } catch (IOException e) {
                            throw new java.io.UncheckedIOException(e);
                        }
                    });
                    awaitExclusive(region);
                    assertEquals(7, region.getLong(PAGE + 8));
                    byte[] bytes = new byte[16];
                    region.get(PAGE, bytes, 0, 16);
                    assertEquals(7, bytes[8]);
                    assertEquals(7, region.view(PAGE, 16).get(ValueLayout.JAVA_BYTE, 8));
                    assertThrows(OutOfRegionException.class, () -> region.getLong(8L * PAGE));
                    span.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 1L);
                }
                return null;
            });
            truncater[0].join(30_000);
            assertEquals(2L * PAGE, region.size());
            assertEquals(7, region.getLong(PAGE + 8));
            assertEquals(1, region.getLong(0));
        }
    }

    /**
     * A span's holder makes a view of the grown part while a grow is between its store of the size and of the
     * mapping (held there for 200 ms, as a preempted thread would be): the view without the lock checked the
     * range against the new size and sliced the old mapping, and the JDK's IndexOutOfBoundsException escaped
     * (then, briefly, an OutOfRegionException after a few spins). It now waits for the mapping.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldViewTheGrownPartWhileAGrowPublishesItsMapping(Backing backing) throws Exception {
        long grown = 2 * Mapping.NativeMapping.MIN_CAPACITY; // a new mapping, on either backing
        try (MappedRegion region = open(backing, 4L * PAGE)) {
            java.util.concurrent.CountDownLatch between = new java.util.concurrent.CountDownLatch(1);
            RegionState.betweenSizeAndMappingForTests = () -> {
                between.countDown();
                try {
                    Thread.sleep(200);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            };
            Thread[] grower = new Thread[1];
            try {
                Blocking.within("span-holder", () -> {
                    try (dev.mkwrite.WriteSpan span = region.write(0, 64)) {
                        grower[0] = Thread.ofPlatform().daemon().start(() -> {
                            try {
                                region.grow(grown);
                            } catch (IOException e) {
                                throw new java.io.UncheckedIOException(e);
                            }
                        });
                        assertTrue(between.await(30, java.util.concurrent.TimeUnit.SECONDS));
                        MemorySegment view = region.view(grown - PAGE, 16);
                        assertEquals(0, view.get(ValueLayout.JAVA_LONG_UNALIGNED, 8));
                        span.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 1L);
                    }
                    return null;
                });
            } finally {
                RegionState.betweenSizeAndMappingForTests = null;
            }
            grower[0].join(30_000);
            assertEquals(grown, region.size());
            assertEquals(1, region.getLong(0));
        }
    }

    /**
     * A region of four pages whose handler's {@code beforeWriteback} (which may read the region) runs
     * {@code inWriteback} on the first page a flush writes back, once; what it throws is kept in
     * {@code failure} for the test, not lost in the writeback.
     */
    private MappedRegion openReadingInWriteback(String name, Backing backing,
            java.util.function.Consumer<MappedRegion> inWriteback, AtomicReference<Throwable> failure)
            throws IOException {
        AtomicReference<MappedRegion> self = new AtomicReference<>();
        AtomicBoolean once = new AtomicBoolean();
        WriteFaultHandler handler = new WriteFaultHandler() {
            @Override
            public dev.mkwrite.FaultResult prepare(dev.mkwrite.WriteFault fault) {
                return dev.mkwrite.Reservation.none();
            }

            @Override
            public void beforeWriteback(long page, MemorySegment contents) {
                if (once.compareAndSet(false, true)) {
                    try {
                        inWriteback.accept(self.get());
                    } catch (Throwable t) {
                        failure.set(t);
                    }
                }
            }
        };
        MappedRegion region = MappedRegion.builder(dir.resolve(name)).size(4L * PAGE).pageSize(PAGE)
                .backing(backing).handler(handler).open();
        self.set(region);
        return region;
    }

    /**
     * A flush's {@code beforeWriteback} reads the region while another thread's close waits for that page's
     * writeback: the read's fallback under the region lock waited for the close, and the close for the
     * writeback, for good. The read now says the region is closed, the flush ends, and so does the close.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldNotWaitForACloseThatWaitsForTheReadersWriteback(Backing backing) throws Exception {
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<java.util.concurrent.Future<?>> closer = new java.util.concurrent.CopyOnWriteArrayList<>();
        MappedRegion region = openReadingInWriteback("writeback-close.dat", backing, r -> {
            closer.add(Blocking.onDaemon("closer", () -> {
                r.close();
                return null;
            }));
            awaitExclusive(r);
            assertThrows(RegionClosedException.class, () -> r.getLong(PAGE + 8));
            assertThrows(RegionClosedException.class, () -> r.view(PAGE, 8));
        }, failure);
        region.putLong(8, 7);
        Blocking.within("flusher", region::flush);
        closer.get(0).get(Blocking.REACH_SECONDS, java.util.concurrent.TimeUnit.SECONDS);
        assertNull(failure.get(), () -> "beforeWriteback's reads: " + failure.get());
        assertTrue(region.isClosed());
    }

    /** The same while a truncate waits for the page's writeback: the reads go through the file meanwhile. */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldNotWaitForATruncateThatWaitsForTheReadersWriteback(Backing backing) throws Exception {
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<java.util.concurrent.Future<?>> truncater = new java.util.concurrent.CopyOnWriteArrayList<>();
        try (MappedRegion region = openReadingInWriteback("writeback-truncate.dat", backing, r -> {
            truncater.add(Blocking.onDaemon("truncater", () -> {
                r.truncate(2L * PAGE);
                return null;
            }));
            awaitExclusive(r);
            assertEquals(7, r.getLong(PAGE + 8));
            assertEquals(7, r.view(PAGE, 16).get(ValueLayout.JAVA_BYTE, 8));
            assertThrows(OutOfRegionException.class, () -> r.getLong(8L * PAGE));
        }, failure)) {
            region.putLong(PAGE + 8, 7);
            region.grow(8L * PAGE); // the buffer backing's reads go under the lock until one maps its companion
            Blocking.within("flusher", region::flush);
            truncater.get(0).get(Blocking.REACH_SECONDS, java.util.concurrent.TimeUnit.SECONDS);
            assertNull(failure.get(), () -> "beforeWriteback's reads: " + failure.get());
            assertEquals(2L * PAGE, region.size());
            assertEquals(7, region.getLong(PAGE + 8));
        }
    }
}
