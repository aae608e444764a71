package dev.mkwrite.impl.storage;

import dev.mkwrite.impl.os.NativeAccess;
import dev.mkwrite.impl.os.PosixNative;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.NoSpaceException;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The prepare-ahead agent: ahead of sequential writers, silent about its own failures, gone after close. */
class PrepareAheadTest {

    private static final int PAGE = 4096;
    private static final int GRANULE = 64 << 10;
    private static final int PAGES_PER_GRANULE = GRANULE / PAGE;

    @RegisterExtension
    static final SmallFilesystem fs = new SmallFilesystem();

    @BeforeEach
    void needsNative() {
        assumeTrue(NativeAccess.available(), "prepare-ahead needs fallocate: " + NativeAccess.unavailableReason());
    }


    @Test
    void shouldAllocateTheNextGranulesSoTheWritersFaultsMakeNoSystemCall() throws Exception {
        try (StorageHandler storage = StorageHandlers.fallocate(GRANULE);
             PrepareAhead ahead = StorageHandlers.prepareAhead(storage, 4);
             MappedRegion region = MappedRegion.builder(fs.dir().resolve("log")).size(2 << 20).handler(ahead).open()) {
            region.putLong(0, 1); // granule 0: allocated by the fault, granules 1-4 planned
            assertEquals(4, ahead.plannedGranules());
            await(() -> storage.stats().aheadGranules() >= 4, "the agent to allocate granules 1-4");

            long before = storage.stats().alreadyAllocated();
            for (long p = PAGES_PER_GRANULE; p < 5L * PAGES_PER_GRANULE; p++) {
                region.putLong(p * PAGE, p);
            }
            assertEquals(4L * PAGES_PER_GRANULE, storage.stats().alreadyAllocated() - before,
                    "a fault in a granule prepared ahead made a system call");
        }
    }

    @Test
    void shouldNotPlanAheadOfARandomWriter() throws Exception {
        try (StorageHandler storage = StorageHandlers.fallocate(GRANULE);
             PrepareAhead ahead = StorageHandlers.prepareAhead(storage, 4);
             MappedRegion region = MappedRegion.builder(fs.dir().resolve("index")).size(4 << 20).handler(ahead)
                     .open()) {
            for (long g : new long[] {10, 3, 50}) {
                region.putLong(g * GRANULE, g);
            }
            assertEquals(0, ahead.plannedGranules());
            region.putLong(51L * GRANULE, 51); // 50 then 51: sequential
            assertEquals(4, ahead.plannedGranules());
        }
    }

    @Test
    void shouldReportNoSpaceAtTheWriteThatNeedsThePageAndNeverInTheAgent() throws Exception {
        Path filler = fs.dir().resolve("filler");
        fs.fillLeaving(filler, 3 * PAGES_PER_GRANULE); // room for exactly three granules
        try (StorageHandler storage = StorageHandlers.fallocate(GRANULE);
             PrepareAhead ahead = StorageHandlers.prepareAhead(storage, 4);
             MappedRegion region = MappedRegion.builder(fs.dir().resolve("log")).size(1 << 20).handler(ahead).open()) {
            long firstFailure = -1;
            for (long p = 0; p < 8L * PAGES_PER_GRANULE; p++) {
                try {
                    region.putLong(p * PAGE, p);
                } catch (NoSpaceException e) {
                    firstFailure = e.offset();
                    break;
                }
            }
            assertEquals(3L * GRANULE, firstFailure, "the write that failed is not the first one past the free space");
            assertTrue(ahead.isRunning(), "the agent died of the failure it met");
            for (long p = 0; p < 3L * PAGES_PER_GRANULE; p++) {
                assertEquals(p, region.getLong(p * PAGE));
            }

            Files.delete(filler);
            region.putLong(firstFailure, -1); // the same write succeeds once space is freed
            region.flush();
            DiskFullTest.assertNothingReservedButKeptPages(region.stats());
        }
    }

    @Test
    void shouldStopTheAgentOnCloseAndKeepServingFaults() throws Exception {
        Thread agent;
        try (StorageHandler storage = StorageHandlers.fallocate(GRANULE)) {
            PrepareAhead ahead = StorageHandlers.prepareAhead(storage, 4);
            try (MappedRegion region = MappedRegion.builder(fs.dir().resolve("log")).size(2 << 20).handler(ahead)
                    .open()) {
                region.putLong(0, 1);
                assertTrue(ahead.isRunning());
                agent = ahead.threadForTests(); // by itself: the regions' own prepare-ahead thread has its name
                assertTrue(agent != null && agent.isAlive());
                ahead.close();
                assertFalse(ahead.isRunning());
                ahead.close(); // idempotent
                region.putLong(GRANULE, 2); // served synchronously by the wrapped handler
                assertEquals(2, region.getLong(GRANULE));
            }
        }
        assertFalse(agent.isAlive(), "the agent's thread outlived its close");
    }

    @Test
    void shouldStayInactiveOverAZeroFillHandler() throws Exception {
        try (StorageHandler storage = StorageHandlers.zeroFill(GRANULE);
             PrepareAhead ahead = StorageHandlers.prepareAhead(storage, 4);
             MappedRegion region = MappedRegion.builder(fs.dir().resolve("log")).size(1 << 20).handler(ahead).open()) {
            assertFalse(ahead.isRunning(), "zero-fill cannot run without the region lock");
            region.putLong(0, 1);
            region.putLong(GRANULE, 2);
            assertEquals(0, ahead.plannedGranules());
            assertEquals(2, region.getLong(GRANULE));
        }
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("gave up waiting for " + what);
            }
            Thread.sleep(1);
        }
    }
}
