package dev.mkwrite.impl.storage;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The per-unit words and the per-file mapping periods that decide whether a granule is allocated. */
class UnitTableTest {

    @Test
    void shouldCountAnAllocationOnlyForItsStampAndForGenerationsUpToItsOwn() {
        UnitTable t = new UnitTable();
        t.recordAllocated(16, 32, 1, 5);
        assertTrue(t.allAllocated(16, 32, 1, 5));
        assertTrue(t.allAllocated(20, 21, 1, 0), "older generations were never removed since");
        assertFalse(t.allAllocated(16, 32, 1, 6), "a newer generation means the page was truncated since");
        assertFalse(t.allAllocated(16, 32, 2, 5), "a new mapping period forgets allocations");
        assertFalse(t.allAllocated(15, 32, 1, 5), "unit 15 was never allocated");
        assertFalse(t.allAllocated(16, 33, 1, 5), "unit 32 was never allocated");
    }

    @Test
    void shouldKeepTheNewestGenerationWithinAStampAndReplaceAnOlderStamp() {
        long w = UnitTable.withAllocation(0, 3, 9);
        w = UnitTable.withAllocation(w, 3, 4);
        assertTrue(UnitTable.allocated(w, 3, 9), "a later, older record must not shrink the allocation");
        w = UnitTable.withAllocation(w, 4, 1);
        assertTrue(UnitTable.allocated(w, 4, 1));
        assertFalse(UnitTable.allocated(w, 4, 2), "the new stamp starts from its own record");
        assertFalse(UnitTable.allocated(w, 3, 1));
    }

    @Test
    void shouldPreserveTouchedAndFillingBitsThroughAllocationAndClearing() {
        UnitTable t = new UnitTable();
        t.setBits(7, UnitTable.TOUCHED);
        t.setBits(8, UnitTable.FILLING);
        t.recordAllocated(7, 9, 1, 0);
        assertTrue(UnitTable.touched(t.wordVolatile(7)));
        assertTrue(UnitTable.filling(t.wordVolatile(8)));
        t.clearAllocations();
        assertTrue(UnitTable.touched(t.wordVolatile(7)));
        assertTrue(UnitTable.filling(t.wordVolatile(8)));
        assertFalse(t.allAllocated(7, 9, 1, 0));
    }

    @Test
    void shouldReadZeroForUnitsNeverWrittenAnywhereInALargeFile() {
        UnitTable t = new UnitTable();
        long far = 1L << 30; // a 4 TiB offset
        assertEquals(0, t.wordVolatile(far));
        t.setBits(far, UnitTable.TOUCHED);
        assertTrue(UnitTable.touched(t.wordVolatile(far)));
        assertEquals(0, t.wordVolatile(far - 1));
        assertTrue(t.bytes() > 8L * 4096, "the far unit's chunk is counted");
    }

    @Test
    void shouldLoseNoBitWhileThreadsGrowTheTableConcurrently() throws Exception {
        UnitTable t = new UnitTable();
        int threads = 4;
        int perThread = 2000;
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> all = new ArrayList<>();
        for (int k = 0; k < threads; k++) {
            int id = k;
            all.add(Thread.ofPlatform().start(() -> {
                try {
                    start.await();
                } catch (InterruptedException e) {
                    return;
                }
                for (int i = 0; i < perThread; i++) {
                    // Spread across many chunks so directory growth races chunk creation.
                    t.setBits(((long) i * threads + id) * 4099, UnitTable.TOUCHED);
                }
            }));
        }
        start.countDown();
        for (Thread th : all) {
            th.join();
        }
        for (long u = 0; u < (long) perThread * threads; u++) {
            assertTrue(UnitTable.touched(t.wordVolatile(u * 4099)), "lost the touch of unit " + u * 4099);
        }
    }

    // --- FileSpace: mapping periods and the touch / fill hand-off ---------------------------------

    @Test
    void shouldStartANewPeriodWhenTheRegionMapsTheFileAnew() {
        FileSpace f = new FileSpace(Path.of("f"));
        try (Arena first = Arena.ofShared(); Arena second = Arena.ofShared()) {
            MemorySegment a = first.allocate(4096);
            MemorySegment b = second.allocate(4096);
            int s1 = f.observe(a.scope());
            assertEquals(s1, f.observe(a.asSlice(0, 16).scope()), "same mapping, same period");
            f.units.recordAllocated(0, 1, s1, 0);
            int s2 = f.observe(b.scope());
            assertNotEquals(s1, s2);
            assertFalse(f.units.allAllocated(0, 1, s2, 0), "a truncate may have freed the blocks");
            assertFalse(f.recordAllocatedIfCurrent(0, 1, s1, 0), "work planned in the old period is stale");
            assertTrue(f.recordAllocatedIfCurrent(0, 1, s2, 0));
        }
    }

    @Test
    void shouldNotClaimTouchedOrAllocatedUnitsForZeroFill() throws Exception {
        FileSpace f = new FileSpace(Path.of("f"));
        assertTrue(f.touch(1, 2, false));
        f.units.recordAllocated(2, 3, 1, 0);
        assertFalse(f.claimFill(1, 1, 0), "a touched unit may be WRITABLE");
        assertFalse(f.claimFill(2, 1, 0), "an allocated unit needs no fill");
        assertTrue(f.claimFill(3, 1, 0));
        assertFalse(f.claimFill(3, 1, 0), "already claimed");
    }

    @Test
    void shouldMakeATouchWaitUntilTheFillOfItsUnitEnds() throws Exception {
        FileSpace f = new FileSpace(Path.of("f"));
        assertTrue(f.claimFill(5, 1, 0));
        assertFalse(f.touch(5, 6, true), "a no-wait touch must not wait for the fill");

        AtomicBoolean touched = new AtomicBoolean();
        CountDownLatch started = new CountDownLatch(1);
        Thread writer = Thread.ofPlatform().start(() -> {
            started.countDown();
            try {
                f.touch(5, 6, false);
                touched.set(true);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        started.await();
        writer.join(200);
        assertFalse(touched.get(), "the touch went through while the unit was being filled");
        assertTrue(writer.isAlive());

        f.endFill(5, 6, true, 1, 0);
        writer.join(TimeUnit.SECONDS.toMillis(30));
        assertTrue(touched.get(), "the touch never resumed after the fill ended");
        long w = f.units.wordVolatile(5);
        assertTrue(UnitTable.touched(w));
        assertFalse(UnitTable.filling(w));
        assertTrue(UnitTable.allocated(w, 1, 0), "the fill's allocation is recorded");
    }
}
