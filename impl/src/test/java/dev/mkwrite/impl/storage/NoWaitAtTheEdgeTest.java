package dev.mkwrite.impl.storage;

import dev.mkwrite.MappedRegion;
import dev.mkwrite.NoSpaceException;
import dev.mkwrite.WouldBlock;
import dev.mkwrite.WriteSpan;
import dev.mkwrite.impl.os.NativeAccess;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A no-wait write ({@code tryWrite}) at the disk's edge is refused ({@link WouldBlock.Reason#HANDLER}) rather
 * than look for space: that gives back other faults' space and waits for every allocation in flight, up to
 * a second each time. The blocking write that follows does look, and finds the space or reports none.
 * Before, a no-wait write there took the whole search: measured 1.0 s (zero-fill) to 4.0 s (fallocate)
 * while another fault's allocation was in flight.
 */
class NoWaitAtTheEdgeTest {

    private static final int PAGE = 4096;
    private static final int GRANULE = 64 << 10;
    /** A folio unit smaller than the granule, as on ext4 ({@link StorageHandler#folioUnitForTests}). */
    private static final int FOLIO = 16 << 10;
    /** A refusal that did not wait for a fill the test holds for up to 30 s. */
    private static final long BEFORE_THE_HOLD_ENDS_NANOS = TimeUnit.SECONDS.toNanos(10);

    @RegisterExtension
    static final SmallFilesystem fs = new SmallFilesystem();

    @BeforeEach
    void needsNative() {
        assumeTrue(NativeAccess.available(), "giving space back punches holes, and populate is a native call: "
                + NativeAccess.unavailableReason());
    }

    /**
     * The disk is full but for the granule page 0's fault allocated, three folio units of which no writer
     * touched. A no-wait write elsewhere is refused without giving them back; the blocking write then gives
     * them back and takes its folio unit from them. Without the refusal the no-wait write gave them back
     * itself.
     */
    @ParameterizedTest
    @EnumSource(value = StorageHandler.Allocation.class, names = {"FALLOCATE", "ZERO_FILL"})
    void shouldRefuseANoWaitWriteThatWouldLookForSpace(StorageHandler.Allocation allocation) throws Exception {
        Path file = fs.dir().resolve("edge");
        try (StorageHandler storage = StorageHandlers.create(allocation, GRANULE, false)) {
            try (MappedRegion region = region(storage, file)) {
                region.putLong(0, 1); // the granule: 48 KiB of it no writer touches
                fs.fillLeaving(fs.dir().resolve("filler"), 0);
                WouldBlock why = new WouldBlock();
                assertRefused(region.tryWrite(512 << 10, PAGE, why), "the no-wait write looked for space itself");
                assertEquals(WouldBlock.Reason.HANDLER, why.reason());
                assertEquals(1, storage.stats().noWaitRefusals());
                assertEquals(GRANULE, GiveBackTest.allocatedBytes(file), "the refusal gave nothing back");
                assertTrue(storage.space().spaceShort());

                region.putLong(512 << 10, 2); // the blocking write gives the untouched folio units back
                assertEquals(2, region.getLong(512 << 10));
                assertEquals(1, region.getLong(0));
                assertEquals(2L * FOLIO, GiveBackTest.allocatedBytes(file));
            }
        }
    }

    /**
     * Space is short (a blocking write found the edge) and another fault's allocation is in flight, held
     * here, which a give-back would wait for: the no-wait write is refused at once, long before that
     * second. The blocking write then reports no space; once space is freed a no-wait write goes through
     * again. Without the early refusal the no-wait write allocated its folio unit, found no space and gave
     * back what it got, which waited out the allocation in flight.
     */
    @ParameterizedTest
    @EnumSource(value = StorageHandler.Allocation.class, names = {"FALLOCATE", "ZERO_FILL"})
    void shouldRefuseANoWaitWriteAtOnceWhileSpaceIsShort(StorageHandler.Allocation allocation) throws Exception {
        Path file = fs.dir().resolve("short");
        Path filler = fs.dir().resolve("filler");
        Path filler2 = fs.dir().resolve("filler-2");
        try (StorageHandler storage = StorageHandlers.create(allocation, GRANULE, false)) {
            try (MappedRegion region = region(storage, file)) {
                region.putLong(0, 1);
                fs.fillLeaving(filler, 0);
                region.putLong(512 << 10, 2); // at the edge: space is short from here on
                assertTrue(storage.space().spaceShort());
                fs.fillLeaving(filler2, 0);

                WouldBlock why = new WouldBlock();
                storage.space().beginNeededSpeculation(); // another fault's allocation, in flight
                long waitsBefore = storage.space().speculationWaitsForTests();
                WriteSpan span;
                try {
                    span = region.tryWrite(768 << 10, PAGE, why);
                } finally {
                    storage.space().endSpeculation();
                }
                assertRefused(span, "the no-wait write went through on a full disk");
                assertEquals(WouldBlock.Reason.HANDLER, why.reason());
                // Counted, not timed: a clock's margin under the wait's 1 s flakes on a loaded host
                assertEquals(waitsBefore, storage.space().speculationWaitsForTests(),
                        "the no-wait write waited for the allocation in flight");
                assertEquals(1, storage.stats().noWaitRefusals());

                NoSpaceException e = assertThrows(NoSpaceException.class, () -> region.putLong(768 << 10, 3));
                assertEquals(768 << 10, e.offset());
                assertEquals(file, e.path());

                Files.delete(filler);
                Files.delete(filler2);
                try (WriteSpan s = region.tryWrite(768 << 10, PAGE, why)) {
                    assertNotNull(s, () -> "refused with room again: " + why.reason());
                    s.segment().set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0, 3L);
                }
                assertEquals(3, region.getLong(768 << 10));
                assertEquals(2, region.getLong(512 << 10));
                assertEquals(1, region.getLong(0));
            }
        }
    }

    /**
     * A refused no-wait write leaves its page's units untouched: a folio unit with a touched unit is never
     * given back, so once space came back and another fault's granule allocated that folio unit, every later
     * reclaim would have kept it for a writer that never wrote. Page 128 is refused once its granule finds no
     * space (after touching its units, which it takes back), page 150 at once while space is short (before
     * touching them); then the granules of pages 132 and 144 cover both refused pages' folio units, and the
     * reclaim gives back every folio unit no writer touched: three of each of the three granules. With either
     * refusal's marks left, 16 KiB fewer.
     */
    @ParameterizedTest
    @EnumSource(value = StorageHandler.Allocation.class, names = {"FALLOCATE", "ZERO_FILL"})
    void shouldLeaveTheUnitsOfARefusedPageUntouched(StorageHandler.Allocation allocation) throws Exception {
        Path file = fs.dir().resolve("untouched");
        Path filler = fs.dir().resolve("filler");
        try (StorageHandler storage = StorageHandlers.create(allocation, GRANULE, false)) {
            try (MappedRegion region = region(storage, file)) {
                region.putLong(0, 1); // granule [0, 64 KiB): three folio units untouched
                fs.fillLeaving(filler, 0);
                WouldBlock why = new WouldBlock();
                assertRefused(region.tryWrite(512 << 10, PAGE, why), "a write went through on a full disk");
                assertTrue(storage.space().spaceShort());
                assertRefused(region.tryWrite(150L * PAGE, PAGE, why), "a write went through on a full disk");
                assertEquals(WouldBlock.Reason.HANDLER, why.reason());
                assertEquals(2, storage.stats().noWaitRefusals());

                Files.delete(filler);
                region.putLong(132L * PAGE, 4); // granule [512 KiB, 576 KiB): page 128's folio unit in it
                region.putLong(144L * PAGE, 2); // granule [576 KiB, 640 KiB): page 150's folio unit in it
                assertEquals(3L * (GRANULE - FOLIO), storage.space().reclaim(),
                        "the untouched folio units of all three granules go back");
                region.putLong(150L * PAGE, 3); // allocated again, now that it is written
                assertEquals(3, region.getLong(150L * PAGE));
                assertEquals(2, region.getLong(144L * PAGE));
                assertEquals(4, region.getLong(132L * PAGE));
                assertEquals(1, region.getLong(0));
            }
        }
    }

    /**
     * A populate handler's no-wait write that finds the disk full is refused too, not reported as no space
     * after giving other handlers' space back: {@code MADV_POPULATE_WRITE} failing is where the search would
     * begin. The blocking write then reports no space.
     */
    @Test
    void shouldRefuseANoWaitPopulateOnAFullDisk() throws Exception {
        Path file = fs.dir().resolve("populate");
        try (StorageHandler storage = StorageHandlers.create(StorageHandler.Allocation.NONE, GRANULE, true);
             MappedRegion region = MappedRegion.builder(file).size(1 << 20).pageSize(PAGE).handler(storage).open()) {
            region.putLong(0, 1);
            fs.fillLeaving(fs.dir().resolve("filler"), 0);
            WouldBlock why = new WouldBlock();
            assertRefused(region.tryWrite(512 << 10, PAGE, why), "the no-wait write went through on a full disk");
            assertEquals(WouldBlock.Reason.HANDLER, why.reason());
            assertEquals(1, storage.stats().noWaitRefusals());
            NoSpaceException e = assertThrows(NoSpaceException.class, () -> region.putLong(512 << 10, 2));
            assertEquals(512 << 10, e.offset());
            assertEquals(1, region.getLong(0));
        }
    }

    /**
     * Zero-fill fills a page's whole folio unit, run by run, each run claimed while its zeros are written. A
     * no-wait write of page 2 while page 1's blocking fault holds its claim on unit 0 (the run before the
     * page) is refused at once, keeping nothing; before, it waited in the fill for that claim to end.
     */
    @Test
    void shouldNotWaitForAnotherFaultsFillOfItsFolioUnit() throws Exception {
        Path file = fs.dir().resolve("filling");
        SeamHold hold = new SeamHold();
        try (StorageHandler storage = StorageHandlers.create(StorageHandler.Allocation.ZERO_FILL, GRANULE, false);
             MappedRegion region = region(storage, file)) {
            storage.zeroFill().beforeFolioRunForTests(hold);
            Thread blocking = Thread.ofPlatform().start(() -> region.putLong(PAGE, 1)); // page 1: fills unit 0 first
            try {
                assertTrue(hold.awaitReached(), "page 1's fault never filled its folio unit");
                long start = System.nanoTime();
                WouldBlock why = new WouldBlock();
                assertRefused(region.tryWrite(2L * PAGE, PAGE, why), "the no-wait write went through another fill");
                long took = System.nanoTime() - start;
                assertTrue(took < BEFORE_THE_HOLD_ENDS_NANOS, "the no-wait write waited " + took / 1_000_000 + " ms for the fill");
                assertEquals(WouldBlock.Reason.HANDLER, why.reason());
            } finally {
                hold.release();
                blocking.join();
            }
            region.putLong(2L * PAGE, 2); // the blocking write of the same page goes through
            assertEquals(1, region.getLong(PAGE));
            assertEquals(2, region.getLong(2L * PAGE));
        }
    }

    /** A 1 MiB region of 4 KiB pages over {@code file}, its handler's folio unit {@link #FOLIO}. */
    private static MappedRegion region(StorageHandler storage, Path file) throws java.io.IOException {
        storage.folioUnitForTests(FOLIO);
        return MappedRegion.builder(file).size(1 << 20).pageSize(PAGE).handler(storage).open();
    }

    /** Fails if {@code span} is not null, having closed it: a span left open would hold the region's close. */
    private static void assertRefused(WriteSpan span, String message) {
        if (span != null) {
            span.close();
            fail(message);
        }
    }
}
