package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The contract on the Foreign Memory backing, plus what only it can do: regions beyond 2 GiB. */
class MemorySegmentRegionTest extends RegionContract {

    /** Past the native mapping's capacity for the contract's region, so a grow maps anew. */
    private static final long BEYOND_CAPACITY = 2 * Mapping.NativeMapping.MIN_CAPACITY;

    @Override
    Backing backing() {
        return Backing.MEMORY_SEGMENT;
    }

    @Test
    void shouldMapATebibyteSparselyWithMetadataThatGrowsWithThePagesWritten() throws Exception {
        handler = new TrackingHandler();
        region = MappedRegion.builder(dir.resolve("huge.dat")).size(1L << 40).pageSize(PAGE).backing(backing())
                .handler(handler).open();
        long before = region.stats().metadataBytes();
        assertTrue(before < 512 * 1024, "an empty 1 TiB region holds " + before + " bytes of page state");
        for (long offset = (1L << 40) - (64L << 20); offset < 1L << 40; offset += 1L << 20) {
            region.putLong(offset, offset); // 64 pages spread over the last 64 MiB
        }
        region.putLong(5L << 32, 1);
        assertEquals(65, region.stats().writablePages());
        long after = region.stats().metadataBytes();
        assertTrue(after - before < 6 * Chunk.BYTES, "metadata grew by " + (after - before));
        assertEquals((1L << 40) - (1L << 20), region.getLong((1L << 40) - (1L << 20)));
    }

    @Test
    void shouldThrowIllegalStateWhenASegmentIsUsedAfterItsMappingWasReplaced() throws Exception {
        open();
        MemorySegment stale;
        try (var span = region.write(0, 8)) {
            stale = span.segment();
        }
        region.grow(BEYOND_CAPACITY); // a new mapping: the old one retires and the unmapper unmaps it
        awaitNoRetiredMapping();
        assertThrows(IllegalStateException.class, () -> stale.get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
    }

    @Test
    void shouldKeepARetiredMappingWhileAWriterStillUsesIt() throws Exception {
        open();
        MemorySegment old;
        try (var span = region.write(PAGE, 8)) {
            old = span.segment();
            region.grow(BEYOND_CAPACITY);
            for (int i = 0; i < 20; i++) { // 20 ms, 40 rounds of the unmapper: the pin holds it mapped
                Thread.sleep(1);
                old.set(ValueLayout.JAVA_LONG_UNALIGNED, 0, i);
            }
            assertEquals(1, impl().retiredMappings());
        }
        assertEquals(19L, region.getLong(PAGE));
        awaitNoRetiredMapping();
        assertThrows(IllegalStateException.class, () -> old.get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
    }

    /**
     * A thread that ended holding a span it never closed pins the old mapping in its slot for good: the
     * retired mapping stayed mapped until 32 of them piled up and a grow drained every writer. Its slot's
     * owner has ended and can store nothing more, so the reaper now counts that pin as ended.
     */
    @Test
    void shouldUnmapARetiredMappingWhosePinIsHeldByAnEndedThread() throws Exception {
        assumeTrue(AsymmetricFence.ON && !Hazards.STATE_WORD_PINS_ONLY, "only an owned slot tells whose pin it is");
        open();
        MemorySegment[] leaked = new MemorySegment[1];
        Thread leaker = Thread.ofPlatform().start(() -> {
            var span = region.write(PAGE, 8); // never closed
            span.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 9L);
            leaked[0] = span.segment();
        });
        leaker.join();
        region.grow(BEYOND_CAPACITY); // a new mapping: the old one retires, pinned by the ended thread's slot
        awaitNoRetiredMapping();
        assertThrows(IllegalStateException.class, () -> leaked[0].get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
        assertEquals(9L, region.getLong(PAGE), "what the ended thread stored is kept");
        region.close(); // its drain ends the ended thread's pin, which the contract's check would count
    }

    @Test
    void shouldUnmapRetiredMappingsWhenTheRegionCloses() throws Exception {
        open();
        MemorySegment old;
        try (var span = region.write(PAGE, 8)) {
            old = span.segment();
            region.grow(BEYOND_CAPACITY);
        }
        region.close(); // whether or not the unmapper got to it first, nothing stays mapped
        assertEquals(0, impl().retiredMappings());
        assertThrows(IllegalStateException.class, () -> old.get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
    }

    @Test
    void shouldGrowWithinTheNativeCapacityWithoutANewMapping() throws Exception {
        assumeTrue(Mapping.NativeMapping.usable(), "the native mapping needs native access");
        open();
        MemorySegment before;
        try (var span = region.write(0, 8)) {
            before = span.segment();
            span.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 3L);
        }
        long grown = Mapping.NativeMapping.capacity(PAGES * (long) PAGE);
        region.grow(grown); // within the capacity: one ftruncate
        assertEquals(0, impl().retiredMappings());
        assertEquals(grown, Files.size(region.path()), "the file grew to the region's size, not beyond");
        assertEquals(3L, before.get(ValueLayout.JAVA_LONG_UNALIGNED, 0), "the old segment still maps the file");
        region.putLong(grown - 8, 4L);
        assertTrue(region.flush(0, grown) >= 2, "both dirty pages forced through msync");
        try (var ch = FileChannel.open(region.path(), StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(b, grown - 8);
            assertEquals(4L, b.getLong(0));
        }
        region.grow(grown + PAGE); // past it: a new mapping, the old one retired
        assertEquals(grown + PAGE, Files.size(region.path()));
        awaitNoRetiredMapping();
        assertThrows(IllegalStateException.class, () -> before.get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
        assertEquals(4L, region.getLong(grown - 8));
    }

    @Test
    void shouldDrainAndUnmapEverythingOnceTooManyMappingsAreRetired() throws Exception {
        // Only mappings without room to grow retire one per grow; the fallback execution runs this.
        assumeFalse(Mapping.NativeMapping.usable(), "native mappings grow in place");
        open();
        CountDownLatch pinned = latch();
        CountDownLatch release = latch();
        Future<Void> writer = asyncRun(() -> {
            try (var span = region.write(0, 8)) {
                pinned.countDown();
                assertTrue(release.await(20, TimeUnit.SECONDS));
                span.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 5L);
            }
        });
        assertTrue(pinned.await(10, TimeUnit.SECONDS));
        long size = region.size();
        int grows = 0;
        while (impl().retiredMappings() < 32) { // each grow retires one; the pinned writer keeps them all
            region.grow(size += PAGE);
            assertTrue(++grows <= 32, "grows retired " + impl().retiredMappings() + " mappings");
        }
        long last = size + PAGE;
        Future<Void> grow = asyncRun(() -> region.grow(last));
        assertBlocked(grow, Blocking.Wait.WAIT_QUEUE); // the 33rd drains every writer, as grows did before retiring
        release.countDown();
        done(writer);
        done(grow);
        assertEquals(0, impl().retiredMappings());
        assertEquals(5L, region.getLong(0));
        assertEquals(last, region.size());
    }

    /**
     * As above, but the span is the growing thread's own: the grow that found 32 mappings retired drained
     * every writer, its own thread's span included, and waited for itself forever (holding the region lock,
     * so every fault, flush and close waited too). It now throws before it changes anything; once the span
     * is closed, the grow goes on.
     */
    @Test
    void shouldRefuseTheGrowThatWouldDrainItsOwnThreadsSpan() throws Exception {
        assumeFalse(Mapping.NativeMapping.usable(), "native mappings grow in place");
        open();
        long size = region.size();
        var span = region.write(0, 8);
        for (int grows = 0; impl().retiredMappings() < 32; ) {
            region.grow(size += PAGE);
            assertTrue(++grows <= 32, "grows retired " + impl().retiredMappings() + " mappings");
        }
        long last = size + PAGE;
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> region.grow(last));
        assertTrue(e.getMessage().contains(region.path().toString()) && e.getMessage().contains("page 0")
                && e.getMessage().contains("close it first"), e.getMessage());
        assertEquals(size, region.size(), "the refused grow changed nothing");
        span.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 5L);
        span.close();
        region.grow(last); // drains (32 retired still) or retires (the reaper freed room meanwhile)
        awaitNoRetiredMapping();
        assertEquals(5L, region.getLong(0));
        assertEquals(last, region.size());
    }

    @Test
    void shouldUnmapARetiredMappingAfterEmptySpans() throws Exception {
        open();
        for (int i = 0; i < 3; i++) { // empty spans pin nothing, so they must count no state-word pin either
            region.write(PAGE, 0).close();
            region.tryWrite(PAGE, 0).close();
        }
        region.grow(BEYOND_CAPACITY);
        awaitNoRetiredMapping();
    }

    @Test
    void shouldKeepTheFileLockWhileMappingsComeAndGo() throws Exception {
        open();
        assertTrue(FileLocks.held(region.path()), "the region locks its file at open");
        region.grow(BEYOND_CAPACITY); // a new mapping; the old one is unmapped by the reaper
        awaitNoRetiredMapping();
        region.truncate(PAGES * (long) PAGE); // a shrink maps anew and unmaps at once
        region.putLong(0, 1L);
        region.punchHole(0, PAGE);
        assertTrue(FileLocks.held(region.path()), "closing a descriptor of the file must not drop the region's lock");
    }

    private void awaitNoRetiredMapping() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (impl().retiredMappings() != 0) {
            assertTrue(System.nanoTime() < deadline, "the unmapper never unmapped the retired mapping");
            Thread.sleep(1);
        }
    }
}
