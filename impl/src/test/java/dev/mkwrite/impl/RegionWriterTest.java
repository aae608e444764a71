package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.OutOfRegionException;
import dev.mkwrite.RegionClosedException;
import dev.mkwrite.RegionWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link RegionWriter}: the region's puts through a thread's own slot and remembered page. What it writes,
 * when it faults (exactly as the region's puts: once per page, and again after a flush made the page clean),
 * that nothing waits for an idle writer, that a page it remembered from before a shrink does not let a write
 * through, and its checks: the thread, its close, its handle's close, bad offsets and arrays.
 */
class RegionWriterTest {

    static final int PAGE = 4096;
    static final int RECORD = 64;

    @TempDir
    Path dir;

    private final ExecutorService executor = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "region-writer-test");
        t.setDaemon(true);
        return t;
    });

    private MappedRegion open(Backing backing, TrackingHandler handler) throws IOException {
        return MappedRegion.builder(dir.resolve("writer.dat")).size(8L * PAGE).pageSize(PAGE).backing(backing)
                .handler(handler).open();
    }

    private static byte[] record(int n) {
        byte[] r = new byte[RECORD];
        java.util.Arrays.fill(r, (byte) n);
        return r;
    }

    /** The pages the handler was called for, in order. */
    private static List<Long> faulted(TrackingHandler handler) {
        List<Long> pages = new ArrayList<>();
        handler.calls.forEach(c -> pages.add(c.page()));
        return pages;
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldWriteWhatItIsGivenAndFaultOncePerPage(Backing backing) throws Exception {
        TrackingHandler handler = new TrackingHandler();
        try (MappedRegion region = open(backing, handler); Arena arena = Arena.ofConfined()) {
            MemorySegment native64 = arena.allocate(RECORD);
            try (RegionWriter w = region.writer()) {
                assertSame(region, w.region());
                for (int i = 0; i < 3 * PAGE / RECORD; i++) { // three pages of records, by every kind of write
                    long at = (long) i * RECORD;
                    switch (i % 3) {
                        case 0 -> w.put(at, record(i));
                        case 1 -> w.put(at, native64.fill((byte) i));
                        default -> {
                            w.put(at, record(i), 0, RECORD - 8);
                            w.putLong(at + RECORD - 8, 0x0101010101010101L * (i & 0xff));
                        }
                    }
                }
                w.put(3L * PAGE - 8, new byte[16]); // across a page boundary: two pages, the slow path
            }
            assertEquals(List.of(0L, 1L, 2L, 3L), faulted(handler), "one fault per page, as the puts make");
            for (int i = 0; i < 3 * PAGE / RECORD - 1; i++) {
                byte[] got = new byte[RECORD];
                region.get((long) i * RECORD, got, 0, RECORD);
                assertArrayEquals(record(i), got, "record " + i);
            }
            List<long[]> ranges = FaultAroundTest.dirty(region);
            assertEquals(1, ranges.size());
            assertArrayEquals(new long[] {0, 4L * PAGE}, ranges.get(0));
        }
    }

    /** Exact dirty tracking: a page the flush made clean faults again at the writer's next write into it. */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldFaultAgainAfterAFlushMadeItsPageClean(Backing backing) throws Exception {
        TrackingHandler handler = new TrackingHandler();
        try (MappedRegion region = open(backing, handler); RegionWriter w = region.writer()) {
            w.putLong(0, 1);
            w.putLong(8, 2); // the fast path
            assertEquals(1, region.flush());
            assertEquals(List.of(), FaultAroundTest.dirty(region));
            w.putLong(16, 3); // the remembered page is no longer WRITABLE: a fault, and dirty again
            assertEquals(List.of(0L, 0L), faulted(handler));
            List<long[]> ranges = FaultAroundTest.dirty(region);
            assertEquals(1, ranges.size());
            assertArrayEquals(new long[] {0, PAGE}, ranges.get(0));
            // and another thread's flush, while this writer is idle, neither waits for it nor misses its page
            assertEquals(1L, executor.submit(() -> region.flush()).get(10, TimeUnit.SECONDS));
            assertEquals(List.of(), FaultAroundTest.dirty(region));
            assertEquals(3, region.getLong(16));
        }
    }

    /**
     * Writes that move to another page every time (the writer looks the page up itself, then pins it as its
     * fast path does): no fault for pages already WRITABLE, one for each after a flush made them clean.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldMoveFromPageToPageAndFaultOnlyWhereItMust(Backing backing) throws Exception {
        TrackingHandler handler = new TrackingHandler();
        try (MappedRegion region = open(backing, handler); RegionWriter w = region.writer()) {
            for (int page = 0; page < 8; page++) {
                region.putLong((long) page * PAGE, -1); // every page WRITABLE, through the region's put
            }
            handler.calls.clear();
            for (int round = 0; round < 2; round++) {
                for (int page = 7; page >= 0; page--) { // backwards, every write into another page
                    w.putLong((long) page * PAGE + 8 * (round + 1), page + 10L * round);
                }
                assertEquals(round == 0 ? List.of() : List.of(7L, 6L, 5L, 4L, 3L, 2L, 1L, 0L), faulted(handler));
                assertEquals(8, region.flush());
            }
            for (int page = 0; page < 8; page++) {
                assertEquals(page, region.getLong((long) page * PAGE + 8));
                assertEquals(page + 10L, region.getLong((long) page * PAGE + 16));
            }
        }
    }

    /** An idle writer pins nothing: truncate, grow and close by another thread go ahead, and it writes on after them. */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldHoldUpNoExclusiveOperationWhileIdleAndWriteOnAfterThem(Backing backing) throws Exception {
        TrackingHandler handler = new TrackingHandler();
        MappedRegion region = open(backing, handler);
        RegionWriter w = region.writer();
        w.putLong(PAGE + 8, 7); // remembers page 1 and its chunk
        // Shrink below page 1, which drops nothing (a chunk covers 4,096 pages) but makes page 1 CLEAN at a
        // new generation, then grow back: the writer's next write must fault, not write through its memory.
        executor.submit(() -> {
            region.truncate(PAGE);
            region.grow(8L * PAGE);
            return null;
        }).get(10, TimeUnit.SECONDS);
        w.putLong(PAGE + 16, 8);
        assertEquals(0, region.getLong(PAGE + 8), "truncated away");
        assertEquals(8, region.getLong(PAGE + 16));
        assertEquals(List.of(1L, 1L), faulted(handler));
        executor.submit(() -> {
            region.grow(64L * PAGE); // a new mapping: the writer's next write must go through it
            return null;
        }).get(10, TimeUnit.SECONDS);
        w.putLong(PAGE + 24, 9);
        w.putLong(40L * PAGE, 10);
        assertEquals(9, region.getLong(PAGE + 24));
        assertEquals(10, region.getLong(40L * PAGE));
        executor.submit(() -> {
            region.close();
            return null;
        }).get(10, TimeUnit.SECONDS);
        RegionClosedException closed = assertThrows(RegionClosedException.class, () -> w.putLong(PAGE + 32, 11));
        assertTrue(closed.getMessage().contains(region.path().toString()), closed.getMessage());
        w.close();
    }

    /** A chunk the table dropped at a shrink: its pages read CLEAN, so a writer that remembered it faults anew. */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldNotWriteThroughAChunkAShrinkDropped(Backing backing) throws Exception {
        TrackingHandler handler = new TrackingHandler();
        long chunkBytes = (long) Chunk.PAGES * PAGE;
        try (MappedRegion region = MappedRegion.builder(dir.resolve("chunks.dat")).size(2 * chunkBytes).pageSize(PAGE)
                .backing(backing).handler(handler).open(); RegionWriter w = region.writer()) {
            w.putLong(chunkBytes, 1); // page 4096, in the second chunk
            region.truncate(PAGE); // drops the second chunk
            region.grow(2 * chunkBytes); // a new, empty one takes its place
            w.putLong(chunkBytes + 8, 2);
            assertEquals(List.of((long) Chunk.PAGES, (long) Chunk.PAGES), faulted(handler));
            assertEquals(0, region.getLong(chunkBytes));
            assertEquals(2, region.getLong(chunkBytes + 8));
            assertEquals(1, region.flush(), "the page is dirty in the table's new chunk");
        }
    }

    @Test
    void shouldBeConfinedToItsThread() throws Exception {
        TrackingHandler handler = new TrackingHandler();
        try (MappedRegion region = open(Backing.MEMORY_SEGMENT, handler); RegionWriter w = region.writer()) {
            w.putLong(0, 1);
            // A bad argument from another thread is told the thread first, as every misuse from there is.
            List<Runnable> misuses = List.of(() -> w.putLong(8, 2), () -> w.put(8, new byte[8]),
                    () -> w.put(8, MemorySegment.ofArray(new byte[8])), () -> w.put(8, (MemorySegment) null),
                    () -> w.put(8, null, 0, 8), () -> w.put(8, new byte[8], 4, 8), w::close);
            for (int i = 0; i < misuses.size(); i++) {
                Runnable misuse = misuses.get(i);
                Throwable t = assertThrows(java.util.concurrent.ExecutionException.class,
                        () -> executor.submit(misuse).get(10, TimeUnit.SECONDS)).getCause();
                assertInstanceOf(WrongThreadException.class, t);
                assertTrue(t.getMessage().contains(region.path().toString()), t.getMessage());
                if (i < misuses.size() - 1) { // the writes say where, too; close has no offset
                    assertTrue(t.getMessage().contains("offset 8") && t.getMessage().contains("page 0"),
                            t.getMessage());
                }
            }
            assertEquals(0, region.getLong(8), "nothing written from the other thread");
            w.putLong(8, 3); // and the writer goes on
            assertEquals(3, region.getLong(8));
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldRefuseBadWritesWithTheFileOffsetAndPageAndWriteOn(Backing backing) throws Exception {
        TrackingHandler handler = new TrackingHandler();
        try (MappedRegion region = open(backing, handler); RegionWriter w = region.writer()) {
            w.putLong(7L * PAGE, 1); // remembers the last page
            OutOfRegionException past = assertThrows(OutOfRegionException.class, () -> w.putLong(8L * PAGE - 4, 2));
            assertTrue(past.getMessage().contains(region.path().toString())
                    && past.getMessage().contains(String.valueOf(8L * PAGE - 4)), past.getMessage());
            assertThrows(IllegalArgumentException.class, () -> w.putLong(-8, 2));
            IndexOutOfBoundsException array = assertThrows(IndexOutOfBoundsException.class,
                    () -> w.put(7L * PAGE, new byte[8], 4, 8));
            assertTrue(array.getMessage().contains(region.path().toString()), array.getMessage());
            assertThrows(IllegalArgumentException.class, () -> w.put(Long.MAX_VALUE - 4, new byte[8]));
            w.putLong(7L * PAGE + 8, 3); // still usable, and nothing was written by the refused ones
            assertEquals(1, region.getLong(7L * PAGE));
            assertEquals(3, region.getLong(7L * PAGE + 8));
            assertEquals(0, region.getLong(8L * PAGE - 8));
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldRefuseWritesOnceClosedAndLetTheRegionWriteOn(Backing backing) throws Exception {
        TrackingHandler handler = new TrackingHandler();
        try (MappedRegion region = open(backing, handler)) {
            RegionWriter w = region.writer();
            w.putLong(0, 1);
            w.close();
            w.close(); // idempotent
            IllegalStateException closed = assertThrows(IllegalStateException.class, () -> w.putLong(8, 2));
            assertTrue(closed.getMessage().contains(region.path().toString())
                    && closed.getMessage().contains("offset 8 (page 0)"), closed.getMessage());
            assertEquals(0, RegionHandle.regionOf(region).writerSlots(),
                    "a closed writer's slot is no longer scanned");
            region.putLong(8, 3);
            try (RegionWriter again = region.writer()) {
                again.putLong(16, 4);
            }
            assertEquals(3, region.getLong(8));
            assertEquals(4, region.getLong(16));
        }
    }

    /** A writer ends with the handle it came from, while another handle keeps the region open. */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldEndWithItsHandle(Backing backing) throws Exception {
        TrackingHandler handler = new TrackingHandler();
        try (MappedRegion keeper = open(backing, handler)) {
            MappedRegion other = open(backing, handler);
            RegionWriter w = other.writer();
            w.putLong(0, 1); // remembers page 0: the fast path's
            other.close();
            RegionClosedException closed = assertThrows(RegionClosedException.class, () -> w.putLong(8, 2));
            assertTrue(closed.getMessage().contains(keeper.path().toString()), closed.getMessage());
            assertThrows(RegionClosedException.class, other::writer);
            // A bad argument too is told of the handle's close first, as the handle's own put tells it.
            assertThrows(RegionClosedException.class, () -> w.put(8, (MemorySegment) null));
            assertThrows(RegionClosedException.class, () -> w.put(8, null, 0, 8));
            assertThrows(RegionClosedException.class, () -> w.put(8, new byte[8], 4, 8));
            w.close();
            assertEquals(0, keeper.getLong(8));
            keeper.putLong(8, 3);
            assertEquals(3, keeper.getLong(8));
        }
    }

    /**
     * Writers made on short-lived threads and never closed: their slots were scanned by every drain for the
     * region's life, one more per thread. A new writer now drops the slots of writers whose thread ended
     * holding no pin; their writes are kept.
     */
    @Test
    void shouldStopScanningTheSlotsOfUnclosedWritersWhoseThreadsEnded() throws Exception {
        try (MappedRegion region = open(Backing.MEMORY_SEGMENT, new TrackingHandler())) {
            for (int i = 0; i < 8; i++) {
                long at = 8L * i;
                Thread t = Thread.ofVirtual().start(() -> region.writer().putLong(at, at + 1)); // never closed
                t.join();
            }
            assertEquals(1, RegionHandle.regionOf(region).writerSlots(),
                    "each new writer dropped the slots of those whose thread had ended: only the last is scanned");
            try (RegionWriter w = region.writer()) {
                assertEquals(1, RegionHandle.regionOf(region).writerSlots(), "only the live writer's slot");
                w.putLong(64, 9);
            }
            for (int i = 0; i < 8; i++) {
                assertEquals(8L * i + 1, region.getLong(8L * i));
            }
            assertEquals(9, region.getLong(64));
            region.flush();
        }
    }
}
