package dev.mkwrite.impl.storage;

import dev.mkwrite.MappedRegion;
import dev.mkwrite.NoSpaceException;
import dev.mkwrite.StorageFile;
import dev.mkwrite.impl.os.NativeAccess;
import dev.mkwrite.impl.os.PosixNative;
import dev.mkwrite.impl.os.SharedFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Space a handler allocated ahead of writers that never came is given back: to a write that finds the disk
 * full, and when a file is released. Only units no fault touched and that read as zeros lose their blocks,
 * so no byte of the file ever changes.
 */
class GiveBackTest {

    private static final int PAGE = 4096;
    private static final int GRANULE = 64 << 10;
    /** A folio unit smaller than the granule, as on ext4 ({@link StorageHandler#folioUnitForTests}). */
    private static final int FOLIO = 16 << 10;
    /** The granule of a fault held at a seam ({@link #writeWhileHeld}). */
    private static final int HELD_GRANULE = 1 << 20;

    @RegisterExtension
    static final SmallFilesystem fs = new SmallFilesystem();

    @ParameterizedTest
    @EnumSource(value = StorageHandler.Allocation.class, names = {"FALLOCATE", "ZERO_FILL"})
    void shouldKeepOnlyTheWrittenPagesOfAReleasedFile(StorageHandler.Allocation allocation) throws Exception {
        assumeTrue(NativeAccess.available(), "giving space back punches holes: " + NativeAccess.unavailableReason());
        Path file = fs.dir().resolve("small");
        try (StorageHandler storage = StorageHandlers.create(allocation, 1 << 20, false)) {
            try (MappedRegion region = MappedRegion.builder(file).size(1 << 20).handler(storage).open()) {
                for (int p = 0; p < 3; p++) {
                    region.putLong((long) p * PAGE, p + 1);
                }
                region.flush();
                assertEquals(1 << 20, allocatedBytes(file), "the first fault allocates the whole granule");
            }
            assertEquals(3L * PAGE, allocatedBytes(file), "the region's close released the file (regionClosed),"
                    + " which keeps only what was written");
            storage.release(file); // idempotent
            assertEquals(3L * PAGE, allocatedBytes(file));
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            for (int p = 0; p < 3; p++) {
                ByteBuffer b = ByteBuffer.allocate(8).order(java.nio.ByteOrder.nativeOrder());
                ch.read(b, (long) p * PAGE);
                assertEquals(p + 1, b.flip().getLong());
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = StorageHandler.Allocation.class, names = {"FALLOCATE", "ZERO_FILL"})
    void shouldGiveBackOnlyUntouchedZerosToAWriteThatFindsTheDiskFull(StorageHandler.Allocation allocation)
            throws Exception {
        assumeTrue(NativeAccess.available(), "giving space back punches holes: " + NativeAccess.unavailableReason());
        Path old = fs.dir().resolve("old");
        byte[] data = DiskFullTest.pattern(5, 0, PAGE);
        try (FileChannel ch = FileChannel.open(old, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(data), 5L * PAGE); // data no fault of this handler wrote, in the granule
            ch.write(ByteBuffer.wrap(data), 9L * PAGE);
        }
        Path other = fs.dir().resolve("other");
        try (StorageHandler storage = StorageHandlers.create(allocation, GRANULE, false);
             MappedRegion first = MappedRegion.builder(old).size(1 << 20).handler(storage).open();
             MappedRegion second = MappedRegion.builder(other).size(fs.usableSpace() * 2 & -PAGE).handler(storage)
                     .open()) {
            first.putLong(0, 42); // allocates the granule: 13 units ahead of any writer, 2 holding data
            long allocatedBefore = allocatedBytes(old);
            assertEquals(GRANULE, allocatedBefore);
            long off = 0;
            try {
                for (; ; off += PAGE) {
                    second.putLong(off, off + 1);
                }
            } catch (NoSpaceException e) {
                assertEquals(off, e.offset());
            }
            assertEquals(3L * PAGE, allocatedBytes(old), "only page 0 and the data were kept");
            assertEquals(42, first.getLong(0));
            byte[] back = new byte[PAGE];
            first.get(5L * PAGE, back, 0, PAGE);
            assertArrayEquals(data, back);
            first.get(9L * PAGE, back, 0, PAGE);
            assertArrayEquals(data, back);
            // The page given back is prepared again before its first write: no space now, not InternalError.
            assertThrows(NoSpaceException.class, () -> first.putLong(PAGE, 1));
            first.putLong(8, 43); // page 0 keeps taking writes
        }
    }

    /**
     * A file whose end cuts a folio unit gets that unit allocated only to its end; once the file grew, the
     * rest is a hole beside the written page, in one page-cache folio on ext4 with large folios, where a
     * store after the page's writeback needs blocks for the hole (SIGBUS on a full disk). The page used to
     * be kept prepared after its writeback and stored into again without a fault, so the hole stayed. It now
     * faults after each writeback while its unit is cut, and that fault allocates the whole unit once the
     * file grew. Prepare-ahead allocates no cut unit at all.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @EnumSource(dev.mkwrite.Backing.class)
    void shouldAllocateTheWholeFolioUnitOfAPageOnceTheFileGrewPastIt(dev.mkwrite.Backing backing) throws Exception {
        assumeTrue(NativeAccess.available(), "fallocate: " + NativeAccess.unavailableReason());
        for (int variant = 0; variant < 3; variant++) {
            boolean chained = variant == 1; // a quota before it: one reservation of two
            StorageHandler.Allocation allocation = variant == 2 ? StorageHandler.Allocation.ZERO_FILL
                    : StorageHandler.Allocation.FALLOCATE;
            Path file = fs.dir().resolve("cut-" + backing + "-" + variant);
            try (StorageHandler storage = StorageHandlers.create(allocation, GRANULE, false)) {
                storage.folioUnitForTests(FOLIO);
                dev.mkwrite.WriteFaultHandler handler = chained
                        ? StorageHandlers.chain(StorageHandlers.quota(1L << 40), storage) : storage;
                try (MappedRegion region = MappedRegion.builder(file).size(2L * PAGE).pageSize(PAGE)
                        .backing(backing).handler(handler).open()) {
                    region.putLong(0, 1);
                    assertEquals(2L * PAGE, allocatedBytes(file), "allocated to the end of the file, not past it");
                    region.grow(GRANULE);
                    region.flush();
                    region.putLong(8, 2); // page 0 again, after its writeback
                    region.flush();
                    assertEquals(GRANULE, allocatedBytes(file), "page 0's folio unit is still cut by a hole"
                            + (chained ? ", behind a chain" : "") + " (" + allocation + ")");
                    long faults = region.stats().faults();
                    region.putLong(16, 3); // a whole unit now: kept prepared, entered without a fault
                    assertEquals(faults, region.stats().faults(), "a page of a whole unit is kept prepared");
                    assertEquals(GRANULE, allocatedBytes(file));
                    assertEquals(2, region.getLong(8));
                }
            }
        }
    }

    /**
     * A truncate into the middle of a folio unit frees its blocks past the new end. A page of the unit still
     * dirty then used to be kept prepared after its next writeback, and once the file grew again it was
     * stored into by CAS beside the hole (SIGBUS on a full disk with ext4's large folios): its reservation
     * is now marked prepared in part by the shrink, so it faults, and its fault allocates the whole unit.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @EnumSource(dev.mkwrite.Backing.class)
    void shouldPrepareAgainTheDirtyPagesOfAFolioUnitATruncateCut(dev.mkwrite.Backing backing) throws Exception {
        assumeTrue(NativeAccess.available(), "fallocate: " + NativeAccess.unavailableReason());
        Path file = fs.dir().resolve("truncated-" + backing);
        try (StorageHandler storage = StorageHandlers.fallocate(GRANULE)) {
            storage.folioUnitForTests(FOLIO);
            long size = 2L << 20; // the largest folio unit: the file's end cuts none
            try (MappedRegion region = MappedRegion.builder(file).size(size).pageSize(PAGE).backing(backing)
                    .handler(storage).open()) {
                region.putLong(0, 1); // allocates [0, GRANULE), recorded whole; page 0 dirty
                assertEquals(GRANULE, allocatedBytes(file));
                region.truncate(2L * PAGE); // frees the unit's blocks past 8 KiB; page 0 stays dirty
                assertEquals(2L * PAGE, allocatedBytes(file));
                region.grow(size);
                region.flush(); // page 0's writeback: kept prepared, it would take the next store without a fault
                region.putLong(8, 2);
                assertEquals(GRANULE, allocatedBytes(file), "page 0 was stored into beside the hole of its unit");
                assertEquals(1, region.getLong(0));
            }
        }
    }

    /**
     * A shrink whose truncate failed leaves the file longer than the region, and a fault meanwhile allocates
     * (and records) the folio unit of the region's last page whole, as the file goes on past it. The grow
     * after it truncates the file first, freeing the unit's tail: page 0, kept prepared after its writeback,
     * used to be stored into by CAS beside that hole once the file grew. The grow now takes the unit's pages
     * back, as a shrink does, and page 0's next write faults and allocates the whole unit again.
     */
    @ParameterizedTest
    @EnumSource(dev.mkwrite.Backing.class)
    void shouldPrepareAgainThePagesOfAFolioUnitTheTrimBeforeAGrowCut(dev.mkwrite.Backing backing) throws Exception {
        assumeTrue(NativeAccess.available(), "fallocate: " + NativeAccess.unavailableReason());
        Path file = fs.dir().resolve("trimmed-" + backing);
        try (StorageHandler storage = StorageHandlers.fallocate(GRANULE)) {
            storage.folioUnitForTests(FOLIO);
            long size = 2L << 20; // the largest folio unit: the file's end cuts none
            try (MappedRegion region = MappedRegion.builder(file).size(size).pageSize(PAGE).backing(backing)
                    .handler(storage).open()) {
                dev.mkwrite.impl.ReliabilityProbe.failNextTruncate(region, new IOException("disk on fire"));
                assertThrows(IOException.class, () -> region.truncate(2L * PAGE), "the file stays long");
                region.putLong(0, 1); // the file goes on: [0, GRANULE) allocated and recorded whole
                assertEquals(GRANULE, allocatedBytes(file));
                region.flush(); // page 0 kept prepared
                if (dev.mkwrite.impl.ReliabilityProbe.ownSpansFound()) { // else the grow would wait for the span
                    heldSpanRefusesTheGrow(region, size, file);
                }
                region.grow(size); // truncates the file to 8 KiB first: the unit's blocks past it are freed
                region.putLong(8, 2);
                assertEquals(GRANULE, allocatedBytes(file), "page 0 was stored into beside the hole of its unit");
                assertEquals(1, region.getLong(0));
            }
        }
    }

    /**
     * As above, but the first grow after the failed truncate trims the file and then fails (the writeback of
     * its partly covered last page throws). Page 0, taken back by that grow, faults again on the old mapping,
     * finds its unit recorded whole, and is kept prepared after its writeback; the next grow used to find
     * the file trimmed already and take nothing back, so page 0 was stored into by CAS beside the hole.
     */
    @ParameterizedTest
    @EnumSource(dev.mkwrite.Backing.class)
    void shouldTakeTheUnitBackAgainAfterAGrowThatTrimmedAndFailed(dev.mkwrite.Backing backing) throws Exception {
        assumeTrue(NativeAccess.available(), "fallocate: " + NativeAccess.unavailableReason());
        Path file = fs.dir().resolve("trimmed-then-failed-" + backing);
        java.util.concurrent.atomic.AtomicBoolean failWriteback = new java.util.concurrent.atomic.AtomicBoolean();
        dev.mkwrite.WriteFaultHandler failing = new dev.mkwrite.WriteFaultHandler() {
            @Override
            public dev.mkwrite.FaultResult prepare(dev.mkwrite.WriteFault fault) {
                return dev.mkwrite.Reservation.none();
            }

            @Override
            public void beforeWriteback(long page, java.lang.foreign.MemorySegment contents) {
                if (failWriteback.getAndSet(false)) {
                    throw new IllegalStateException("checksum store on fire");
                }
            }

            @Override
            public boolean preparesOverwrites(Path path) {
                return false;
            }
        };
        try (StorageHandler storage = StorageHandlers.fallocate(GRANULE)) {
            storage.folioUnitForTests(FOLIO);
            long size = 2L << 20;
            try (MappedRegion region = MappedRegion.builder(file).size(size).pageSize(PAGE).backing(backing)
                    .handler(StorageHandlers.chain(storage, failing)).open()) {
                dev.mkwrite.impl.ReliabilityProbe.failNextTruncate(region, new IOException("disk on fire"));
                long cut = 2L * PAGE + 100; // page 2 covered in part
                assertThrows(IOException.class, () -> region.truncate(cut), "the file stays long");
                region.putLong(0, 1); // the file goes on: [0, GRANULE) allocated and recorded whole
                region.flush();
                region.putLong(2L * PAGE, 5); // page 2 dirty: the grow writes it back
                failWriteback.set(true);
                assertThrows(IllegalStateException.class, () -> region.grow(size), "the writeback fails");
                assertEquals(cut, region.size());
                region.putLong(0, 2); // faults on the old mapping: the unit's record says whole
                region.flush(); // page 0 kept prepared
                region.grow(size);
                region.putLong(8, 3);
                assertEquals(GRANULE, allocatedBytes(file), "page 0 was stored into beside the hole of its unit");
                assertEquals(2, region.getLong(0));
                assertEquals(5, region.getLong(2L * PAGE));
            }
        }
    }

    /** A span of this thread over page 0 makes the grow that would take the unit's pages back throw, naming it. */
    private static void heldSpanRefusesTheGrow(MappedRegion region, long size, Path file) throws IOException {
        try (dev.mkwrite.WriteSpan span = region.write(0, 8)) {
            IllegalStateException held = assertThrows(IllegalStateException.class, () -> region.grow(size),
                    "the grow takes the unit's pages back: it would wait for this thread's own span");
            assertTrue(held.getMessage().contains("page 0") && held.getMessage().contains(file.toString()),
                    held.getMessage());
            span.segment().set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0, 1L);
        }
        assertEquals(2L * PAGE, region.size(), "the refused grow changed nothing");
        region.flush(); // page 0 kept prepared again
    }

    /**
     * A punched hole inside a folio unit left a written page of that unit beside a hole: kept prepared after
     * its writeback, it was stored into by CAS, and the kernel's fault of a large folio over both (SIGBUS on
     * a full disk with ext4's large folios) needs blocks for the hole. A punch now frees whole 2 MiB units
     * only, and zeroes the rest in place, keeping its blocks; the data beside it is untouched. On ext4, which
     * zeroes a range in place (tmpfs cannot, and punches: its faults allocate no blocks beside a page).
     */
    @ParameterizedTest
    @EnumSource(dev.mkwrite.Backing.class)
    void shouldPunchOnlyWholeFolioUnitsAndZeroTheRestInPlace(dev.mkwrite.Backing backing, @TempDir Path dir)
            throws Exception {
        assumeTrue(NativeAccess.available(), "fallocate: " + NativeAccess.unavailableReason());
        assumeTrue("ext4".equals(Files.getFileStore(dir).type()), "ext4 zeroes a range in place; this is "
                + Files.getFileStore(dir).type());
        Path file = dir.resolve("punched");
        long unit = 2L << 20; // the largest folio unit
        try (StorageHandler storage = StorageHandlers.fallocate(GRANULE);
             MappedRegion region = MappedRegion.builder(file).size(2 * unit).pageSize(PAGE).backing(backing)
                     .handler(storage).open()) {
            for (long off = 0; off < 2 * unit; off += GRANULE) {
                region.putLong(off, 1 + off); // every granule of both units allocated
            }
            region.putLong(PAGE, 7);
            region.flush(); // page 0's writeback: kept prepared, it takes the next store without a fault
            long whole = allocatedBytes(file);
            assertTrue(whole >= 2 * unit, whole + " bytes allocated");

            region.punchHole(PAGE, 2L * PAGE); // inside unit 0, beside page 0
            assertTrue(allocatedBytes(file) >= whole, "a hole in the folio unit of page 0: " + allocatedBytes(file)
                    + " bytes allocated of " + whole);
            assertEquals(0, region.getLong(PAGE), "the punched range reads zero");
            assertEquals(1, region.getLong(0));
            region.putLong(8, 2);

            region.punchHole(unit - PAGE, unit + PAGE); // the last page of unit 0, and unit 1 whole
            long left = allocatedBytes(file);
            assertTrue(left >= unit && left <= whole - unit + 2 * PAGE, // an extent block more, at most
                    "unit 1 freed, unit 0 kept whole: " + left + " bytes allocated of " + whole);
            assertEquals(0, region.getLong(unit - PAGE));
            assertEquals(0, region.getLong(unit));
            assertEquals(1 + unit - GRANULE, region.getLong(unit - GRANULE));
            assertEquals(2, region.getLong(8));
            region.putLong(PAGE, 3); // the punched pages are prepared again, and written
            region.putLong(unit + PAGE, 4);
            assertEquals(3, region.getLong(PAGE));
            assertEquals(4, region.getLong(unit + PAGE));
        }
    }

    /**
     * A write over two pages holds page 0 PREPARING (prepared with its whole folio unit) while page 1's fault
     * has dropped the lock, and a truncate cuts the unit meanwhile. Page 0 used to be published WRITABLE
     * with the reservation of a whole unit, kept prepared after its writeback, and after a grow stored into
     * by CAS beside the hole. The shrink now takes it back (CLEAN at its generation), and the write faults it
     * again, prepared in part.
     */
    @Test
    void shouldPrepareAgainAPageAFaultHeldWhileATruncateCutItsUnit() throws Exception {
        assumeTrue(NativeAccess.available(), "fallocate: " + NativeAccess.unavailableReason());
        Path file = fs.dir().resolve("held-across-a-truncate");
        long size = 2L << 20;
        try (StorageHandler storage = StorageHandlers.fallocate(GRANULE)) {
            storage.folioUnitForTests(FOLIO);
            java.util.concurrent.atomic.AtomicReference<MappedRegion> regionRef = new AtomicReference<>();
            java.util.concurrent.atomic.AtomicBoolean dropped = new java.util.concurrent.atomic.AtomicBoolean();
            dev.mkwrite.WriteFaultHandler truncatesWhileDropped = new dev.mkwrite.WriteFaultHandler() {
                @Override
                public dev.mkwrite.FaultResult prepare(dev.mkwrite.WriteFault fault) {
                    if (fault.page() == 1 && !dropped.getAndSet(true)) {
                        fault.dropLock();
                        Thread t = Thread.ofPlatform().start(() -> {
                            try {
                                regionRef.get().truncate(3L * PAGE); // cuts page 0's unit; page 0 is PREPARING
                            } catch (IOException e) {
                                throw new java.io.UncheckedIOException(e);
                            }
                        });
                        try {
                            t.join();
                        } catch (InterruptedException e) {
                            throw new AssertionError(e);
                        }
                        return dev.mkwrite.FaultResult.RETRY;
                    }
                    return dev.mkwrite.Reservation.none();
                }

                @Override
                public boolean preparesOverwrites(Path path) {
                    return false; // as the storage handler on tmpfs and ext4: pages are kept prepared
                }
            };
            try (MappedRegion region = MappedRegion.builder(file).size(size).pageSize(PAGE)
                    .handler(StorageHandlers.chain(storage, truncatesWhileDropped)).open()) {
                regionRef.set(region);
                region.put(0, new byte[2 * PAGE]); // pages 0 and 1
                assertTrue(dropped.get());
                assertEquals(3L * PAGE, region.size());
                region.grow(size);
                region.flush(); // page 0's writeback: kept prepared, it would take the next store without a fault
                region.putLong(8, 2);
                assertEquals(GRANULE, allocatedBytes(file), "page 0 was stored into beside the hole of its unit");
            }
        }
    }

    /**
     * Only whole folio units no fault touched are given back: a unit given back beside a page written would
     * leave that page sharing its page-cache folio with a hole, and on ext4 (large folios) its next store
     * after writeback would need a block for the hole, SIGBUS on a full disk. A 64 KiB granule of 16 KiB
     * folio units, pages 0 and 5 written: the folio units of both keep every block, the other two go back.
     * Unit by unit, as before, all but the two pages went back.
     */
    @ParameterizedTest
    @EnumSource(value = StorageHandler.Allocation.class, names = {"FALLOCATE", "ZERO_FILL"})
    void shouldGiveBackOnlyWholeFolioUnitsNoFaultTouched(StorageHandler.Allocation allocation) throws Exception {
        assumeTrue(NativeAccess.available(), "giving space back punches holes: " + NativeAccess.unavailableReason());
        Path file = fs.dir().resolve("folios");
        try (StorageHandler storage = StorageHandlers.create(allocation, GRANULE, false)) {
            storage.folioUnitForTests(FOLIO);
            try (MappedRegion region = MappedRegion.builder(file).size(1 << 20).pageSize(PAGE).handler(storage)
                    .open()) {
                region.putLong(0, 1);
                region.putLong(5L * PAGE, 2);
                assertEquals(GRANULE, allocatedBytes(file), "the first fault allocates the whole granule");
                assertEquals(GRANULE - 2L * FOLIO, storage.space().reclaim(), "the untouched folio units go back");
                assertEquals(2L * FOLIO, allocatedBytes(file), "the folio units of pages 0 and 5 keep every block");
            }
            assertEquals(2L * FOLIO, allocatedBytes(file), "and keep them when the file is released");
        }
    }

    /**
     * At the edge a page is never allocated without the rest of its folio unit: with half a folio unit
     * free the write gets {@link NoSpaceException}, and nothing of the folio unit is kept (zero-fill gives
     * back what it wrote, the page's own zeros too). Once space is freed the same write succeeds. Before, the
     * page was allocated alone, and its folio could hold holes beside it.
     */
    @ParameterizedTest
    @EnumSource(value = StorageHandler.Allocation.class, names = {"FALLOCATE", "ZERO_FILL"})
    void shouldReportNoSpaceRatherThanAllocateAPageWithoutItsFolioUnit(StorageHandler.Allocation allocation)
            throws Exception {
        assumeTrue(NativeAccess.available(), "giving space back punches holes: " + NativeAccess.unavailableReason());
        Path file = fs.dir().resolve("edge");
        Path filler = fs.dir().resolve("filler");
        try (StorageHandler storage = StorageHandlers.create(allocation, GRANULE, false)) {
            storage.folioUnitForTests(FOLIO);
            try (MappedRegion region = MappedRegion.builder(file).size(1 << 20).pageSize(PAGE).handler(storage)
                    .open()) {
                fs.fillLeaving(filler, FOLIO / PAGE / 2);
                NoSpaceException e = assertThrows(NoSpaceException.class, () -> region.putLong(5L * PAGE, 1));
                assertEquals(5L * PAGE, e.offset());
                assertEquals(file, e.path());
                assertEquals(0, allocatedBytes(file), "nothing of the page's folio unit is kept");
                java.nio.file.Files.delete(filler);
                region.putLong(5L * PAGE, 1);
                assertEquals(1, region.getLong(5L * PAGE));
                assertEquals(GRANULE, allocatedBytes(file));
            }
        }
    }

    @Test
    void shouldGiveBackWhatAGranuleHeldToTheSameFilesNextPage() throws Exception {
        assumeTrue(NativeAccess.available(), "giving space back punches holes: " + NativeAccess.unavailableReason());
        Path file = fs.dir().resolve("log");
        try (StorageHandler storage = StorageHandlers.fallocate(1 << 20);
             MappedRegion region = MappedRegion.builder(file).size(fs.usableSpace() * 2 & -PAGE).handler(storage)
                     .open()) {
            long free = fs.usableSpace();
            long off = 0;
            try {
                for (; ; off += PAGE) {
                    region.putLong(off, off + 1);
                }
            } catch (NoSpaceException e) {
                assertEquals(off, e.offset());
            }
            assertEquals(free, off, "a single writer gets every page of the free space");
        }
    }

    /**
     * A give-back (a fault's whose granule failed, made while it speculates) punches its range chunk by
     * chunk. Prepare-ahead's granule, allocated in the same range meanwhile, must end either given back or
     * recorded: were it allocated after a chunk's punch and recorded before the punch ended, ending the
     * punch would drop the record, and blocks no reclaim can find would be lost to every writer (seen as a
     * concurrent-logs run acknowledging 88% of the free space); recorded after a punch that freed it, a hole
     * would pass for allocated. Each round races the two on one granule; afterwards the granule must hold
     * exactly the blocks recorded.
     */
    @Test
    void shouldLeaveNoUnrecordedBlocksWhenPrepareAheadRacesAGiveBack() throws Exception {
        assumeTrue(NativeAccess.available(), "giving space back punches holes: " + NativeAccess.unavailableReason());
        int granule = 1 << 20;
        long firstUnit = UnitTable.unit(granule);
        long endUnit = UnitTable.unit(2L * granule);
        for (int round = 0; round < 300; round++) {
            Path file = fs.dir().resolve("race-" + round);
            try (StorageHandler storage = StorageHandlers.fallocate(granule);
                 MappedRegion region = MappedRegion.builder(file).size(4L * granule).handler(storage).open()) {
                region.putLong(0, 1); // the fault sets the file up and allocates granule 0
                FileSpace f = storage.file(file);
                int stamp = f.stamp();
                java.util.concurrent.CyclicBarrier start = new java.util.concurrent.CyclicBarrier(2);
                Thread agent = Thread.ofPlatform().start(() -> {
                    try {
                        start.await();
                        if (f.lockResources()) {
                            f.unlockResources();
                            storage.allocateAhead(f, 1, 2, stamp, 0);
                        }
                    } catch (Exception e) {
                        throw new AssertionError(e);
                    }
                });
                assertTrue(f.lockResources());
                try {
                    start.await();
                    assertTrue(storage.space().beginSpeculation()); // as a fault whose granule failed
                    try {
                        storage.space().giveBack(f, granule, 2L * granule, 0, 0);
                    } finally {
                        storage.space().endSpeculation();
                    }
                } finally {
                    f.unlockResources();
                }
                agent.join();
                long recorded = 0;
                for (long u = firstUnit; u < endUnit; u++) {
                    if ((f.units.wordVolatile(u) & UnitTable.ALLOC_MASK) != 0) {
                        recorded++;
                    }
                }
                long held = allocatedBytes(file) - granule; // granule 0 is the fault's
                assertEquals(recorded * PAGE, held, "round " + round + ": granule 1 must hold exactly the blocks"
                        + " recorded: more are lost to every writer (no reclaim finds them), fewer are pages a fault"
                        + " takes as allocated that a write must allocate (SIGBUS on a full disk)");
            }
            java.nio.file.Files.delete(file);
        }
    }

    /**
     * A neighbour fill that runs out of space part way has written zeros into some holes of its run: blocks
     * that no fault touched and that no record names, so no reclaim finds them. They must be given back
     * before the fill stops speculating. A write that finds the disk full waits only for speculation to
     * end, then gives back what is recorded and tries its page again; had the fill's blocks still been held
     * then, it would have reported no space with them free a moment later (seen as a concurrent-logs run
     * acknowledging 97-98% of the free space). The seam holds the fill right after its speculation ended
     * until the other write is done.
     */
    @Test
    void shouldGiveBackAFailedNeighbourFillBeforeItsSpeculationEnds() throws Exception {
        assumeTrue(NativeAccess.available(), "giving space back punches holes: " + NativeAccess.unavailableReason());
        Path filling = nearlyFull("filling"); // the first page's neighbours need 255
        try (StorageHandler storage = StorageHandlers.zeroFill(HELD_GRANULE)) {
            // Its page fits, its neighbours do not.
            writeWhileHeld(storage, storage.zeroFill()::afterNeighboursForTests, TestFault.page(filling, 0),
                    "a failed neighbour fill");
            assertEquals(PAGE, allocatedBytes(filling), "only the filling fault's page keeps its block");
        }
    }

    /**
     * A granule's fallocate that runs out of space part way keeps, on ext4 and XFS, the blocks it got before
     * the failure, and no record names them, so no reclaim finds them. They must be given back before the
     * fault stops speculating, for the same reason as a failed neighbour fill's (above). tmpfs gives back
     * what a failed fallocate got, so the first file fails as ext4 would ({@link KeepingFile}). The seam
     * holds its fault right after its granule's speculation ended until the other write is done.
     */
    @Test
    void shouldGiveBackAFailedGranuleBeforeItsSpeculationEnds() throws Exception {
        assumeTrue(NativeAccess.available(), "fallocate and giving space back: " + NativeAccess.unavailableReason());
        Path keeping = nearlyFull("keeping"); // the first page's granule needs 256
        try (KeepingFile file = new KeepingFile(SharedFile.open(keeping, "a test"));
             StorageHandler storage = StorageHandlers.fallocate(HELD_GRANULE)) {
            // Its granule gets the last free pages, then fails.
            writeWhileHeld(storage, storage.granules()::afterGranuleForTests, TestFault.page(keeping, 0).through(file),
                    "a failed granule");
        }
    }

    /**
     * A page of a whole granule or more is allocated alone: on ext4 and XFS its fallocate, failing for lack
     * of space, keeps what it got, and nothing records it. It is given back before the fault stops, no-wait
     * or blocking, as a granule's is (above); it was kept, lost to every writer until the file's release.
     */
    @Test
    void shouldGiveBackAFailedFallocateOfAPageAlone() throws Exception {
        assumeTrue(NativeAccess.available(), "fallocate and giving space back: " + NativeAccess.unavailableReason());
        Path keeping = nearlyFull("keeping"); // the page needs 256 pages, 64 are free
        try (KeepingFile file = new KeepingFile(SharedFile.open(keeping, "a test"));
             StorageHandler storage = StorageHandlers.fallocate(HELD_GRANULE)) {
            dev.mkwrite.FaultResult refused = storage.prepare(new TestFault(keeping, 0, HELD_GRANULE, HELD_GRANULE, 0,
                    java.lang.foreign.MemorySegment.NULL).noWait().through(file));
            assertFalse(refused instanceof dev.mkwrite.Reservation, "a no-wait fault at the edge is refused");
            assertEquals(0, allocatedBytes(keeping), "the no-wait fault kept what its failed fallocate got");
            assertThrows(NoSpaceException.class, () -> storage.prepare(new TestFault(keeping, 1, HELD_GRANULE,
                    HELD_GRANULE, 0, java.lang.foreign.MemorySegment.NULL).through(file)));
            assertEquals(0, allocatedBytes(keeping), "the blocking fault kept what its failed fallocate got");
        }
    }

    /**
     * A reclaim walking a file whose region closes its descriptor under it fails part way. It used to forget
     * the allocation records of the whole run it had claimed, punched or not, so the release's trim found
     * nothing to give back and the granule stayed allocated for good. The records now stay.
     */
    @Test
    void shouldKeepTheRecordsOfARunAReclaimCouldNotPunch() throws Exception {
        assumeTrue(NativeAccess.available(), "giving space back punches holes: " + NativeAccess.unavailableReason());
        Path path = fs.dir().resolve("closing-mid-walk");
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(path.toFile(), "rw")) {
            f.setLength(1 << 20); // sparse
        }
        try (ClosingFile closing = new ClosingFile(SharedFile.open(path, "a test"));
             StorageHandler storage = StorageHandlers.fallocate(1 << 20)) {
            assertTrue(storage.prepare(TestFault.page(path, 0).through(closing)) instanceof dev.mkwrite.Reservation);
            assertEquals(1 << 20, allocatedBytes(path), "the fault allocates the whole granule");
            FileSpace space = storage.file(path);
            int stamp = space.stamp(); // a fault waiting for a unit of the run holds this one
            closing.gone = true; // the region closed its descriptor: the reclaim's walk fails on it
            storage.space().reclaim();
            assertEquals(1 << 20, allocatedBytes(path), "nothing could be punched");
            for (long u = 1; u < UnitTable.unit(1 << 20); u++) { // the units of the run, but page 0's
                long w = space.units.wordVolatile(u);
                assertTrue((w & UnitTable.ALLOC_MASK) != 0, "unit " + u + "'s record was forgotten");
                assertFalse(UnitTable.allocated(w, stamp, 0), "unit " + u + " is trusted in the period of the"
                        + " failed give-back, which may have punched it");
            }
            storage.release(path); // as the region's close: the trim opens the file itself
            assertEquals(PAGE, allocatedBytes(path), "the trim found no record of the run the reclaim failed on");
        }
    }

    /**
     * A release's trim waits for a reclaim in progress: beside it, the trim would skip the units the reclaim
     * has claimed, and a reclaim that then fails (above) would keep records of a file the release forgets.
     * The reclaim is held at its start, before it claims anything.
     */
    @Test
    void shouldTrimOnlyAfterAReclaimInProgress() throws Exception {
        assumeTrue(NativeAccess.available(), "giving space back punches holes: " + NativeAccess.unavailableReason());
        Path path = fs.dir().resolve("trim-after-reclaim");
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(path.toFile(), "rw")) {
            f.setLength(1 << 20);
        }
        try (StorageHandler storage = StorageHandlers.fallocate(1 << 20)) {
            assertTrue(storage.prepare(TestFault.page(path, 0)) instanceof dev.mkwrite.Reservation);
            SeamHold hold = new SeamHold();
            storage.space().insideReclaimForTests(hold);
            Thread reclaimer = Thread.ofPlatform().start(() -> {
                try {
                    storage.space().reclaim();
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            Thread releaser = null;
            try {
                assertTrue(hold.awaitReached());
                releaser = Thread.ofPlatform().start(() -> {
                    try {
                        storage.release(path);
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                });
                releaser.join(300);
                assertTrue(releaser.isAlive(), "the trim ran beside a reclaim in progress");
            } finally {
                hold.release();
                reclaimer.join();
                if (releaser != null) {
                    releaser.join();
                }
                storage.space().insideReclaimForTests(null);
            }
            assertEquals(PAGE, allocatedBytes(path));
        }
    }

    /**
     * Prepare-ahead allocates without the region lock, from the file's size as its batch began. A truncate
     * in between used to leave the batch's granules allocated past the new end, recorded, where no give-back
     * walks (they stop at the end of the file) and the close's trim does not reach: held for as long as the
     * file lived. The allocation is clamped to the file's size, atomically with the truncate.
     */
    @Test
    void shouldNotAllocateAheadPastAnEndATruncateMovedMeanwhile() throws Exception {
        Path path;
        try (AheadFile a = AheadFile.open("ahead-past-the-end")) {
            path = a.path();
            int stamp = a.file().stamp();
            StorageFile regionFile = a.file().storage();
            AtomicReference<Boolean> truncated = new AtomicReference<>(false);
            a.file().attach(new ShrinkingFile(regionFile, () -> {
                if (!truncated.getAndSet(true)) {
                    try {
                        a.region().truncate(AheadFile.GRANULE); // between the batch's look at the size and its fallocate
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }
            }));
            a.storage().allocateAhead(a.file(), 1, 4, stamp, 0);
            assertTrue(truncated.get());
            assertEquals(AheadFile.GRANULE, allocatedBytes(path), "granules allocated past the end of the file");
        }
        assertEquals(PAGE, allocatedBytes(path), "the close's trim keeps only what was written");
    }

    /**
     * A prepare-ahead batch that runs while its region closes: the close's trim used to look at the file's
     * records while the batch was between its fallocate and its record, find nothing to give back, and
     * leave the batch's granules allocated in a file no region had open. The release now waits for a batch
     * that began before it, so the trim finds the granules and gives them back. Granule 0 is written whole,
     * so nothing else is there for the trim to give back; the batch allocates through a descriptor of the
     * test's (the region's own is closed by then), held before its first fallocate until the close waits.
     */
    @Test
    void shouldGiveBackWhatABatchAllocatedWhileItsRegionClosed() throws Exception {
        assumeTrue(NativeAccess.available(), "fallocate: " + NativeAccess.unavailableReason());
        int granule = 1 << 20;
        Path path = fs.dir().resolve("ahead-while-closing");
        try (StorageHandler storage = StorageHandlers.fallocate(granule)) {
            MappedRegion region = MappedRegion.builder(path).size(4L * granule).handler(storage).open();
            AtomicReference<Thread> closer = new AtomicReference<>();
            AtomicReference<Throwable> closeFailed = new AtomicReference<>();
            try {
                for (long at = 0; at < granule; at += PAGE) {
                    region.putLong(at, 1); // every unit of granule 0 touched: nothing of it to trim
                }
                FileSpace f = storage.file(path);
                int stamp = f.stamp();
                try (ShrinkingFile own = new ShrinkingFile(SharedFile.open(path, "the test's batch"), () -> {
                    if (closer.get() == null) {
                        closer.set(Thread.ofPlatform().daemon().start(() -> {
                            try {
                                region.close();
                            } catch (Throwable t) {
                                closeFailed.set(t);
                            }
                        }));
                        awaitWaitingIn(closer.get(), FileSpace.class);
                    }
                })) {
                    f.attach(own);
                    assertEquals(1, storage.allocateAhead(f, 1, 4, stamp, 0), "granules after the region closed");
                }
                assertTrue(closer.get() != null, "the batch allocated nothing");
                closer.get().join(30_000);
                assertFalse(closer.get().isAlive(), "the close did not end");
                assertNull(closeFailed.get(), "the close failed");
            } finally {
                if (closer.get() == null) {
                    region.close();
                }
            }
            assertEquals(granule, allocatedBytes(path), "granules the batch allocated while the region closed");
        }
    }

    /**
     * Once the region closed ({@link FileSpace#detach}), a batch still queued for the file allocates nothing:
     * before, one that ran between the close's trim and the file's close opened a descriptor of its own and
     * allocated granules no writer would use and no trim would find.
     */
    @Test
    void shouldNotAllocateAheadOnceTheRegionClosed() throws Exception {
        try (AheadFile a = AheadFile.open("ahead-after-close")) {
            long before = allocatedBytes(a.path());
            a.file().detach(); // as the region's close does, before its trim
            assertEquals(0, a.storage().allocateAhead(a.file(), 1, 4, a.file().stamp(), 0),
                    "granules allocated after the close");
            assertEquals(before, allocatedBytes(a.path()));
        }
    }

    /**
     * A release from inside the file's own allocation (a {@link StorageFile}'s callback under the file's
     * resource lock) cannot wait for the file's batches, nor close the file under the allocation: it is
     * refused. It used to hang for good, the resource lock's read hold never able to become the close's.
     */
    @Test
    void shouldRefuseAReleaseFromInsideTheFilesAllocation() throws Exception {
        try (AheadFile a = AheadFile.open("release-inside")) {
            FileSpace f = a.file();
            AtomicReference<Throwable> refused = new AtomicReference<>();
            try (ShrinkingFile own = new ShrinkingFile(SharedFile.open(a.path(), "the test's batch"), () -> {
                if (refused.get() == null) {
                    refused.set(assertThrows(IllegalStateException.class, () -> a.storage().release(a.path())));
                }
            })) {
                f.attach(own);
                java.util.concurrent.FutureTask<Integer> batch =
                        new java.util.concurrent.FutureTask<>(() -> a.storage().allocateAhead(f, 1, 2, f.stamp(), 0));
                Thread.ofPlatform().daemon().start(batch);
                batch.get(30, java.util.concurrent.TimeUnit.SECONDS); // hung for good against the old code
            }
            assertTrue(refused.get() != null && refused.get().getMessage().contains(a.path().toString()),
                    String.valueOf(refused.get()));
            assertSame(f, a.storage().file(a.path()), "the file is still the handler's");
            a.region().putLong(PAGE, 2);
            assertEquals(2, a.region().getLong(PAGE));
        }
    }

    /**
     * A 4 MiB region over {@code name} with a fallocate handler of 1 MiB granules, its first page written (so
     * granule 0 is allocated): for the tests that run a prepare-ahead batch by hand.
     */
    private record AheadFile(StorageHandler storage, MappedRegion region, Path path, FileSpace file)
            implements AutoCloseable {
        static final int GRANULE = 1 << 20;

        static AheadFile open(String name) throws IOException {
            assumeTrue(NativeAccess.available(), "fallocate: " + NativeAccess.unavailableReason());
            Path path = fs.dir().resolve(name);
            StorageHandler storage = StorageHandlers.fallocate(GRANULE);
            try {
                MappedRegion region = MappedRegion.builder(path).size(4L * GRANULE).handler(storage).open();
                region.putLong(0, 1); // the fault sets the file up and allocates granule 0
                return new AheadFile(storage, region, path, storage.file(path));
            } catch (IOException | RuntimeException e) {
                storage.close();
                throw e;
            }
        }

        @Override
        public void close() throws IOException {
            try {
                region.close();
            } finally {
                storage.close();
            }
        }
    }

    /** Waits until {@code thread} is parked in a method of {@code in}; fails after 30 seconds. */
    private static void awaitWaitingIn(Thread thread, Class<?> in) {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (System.nanoTime() < deadline) {
            if (thread.getState() == Thread.State.WAITING && java.util.Arrays.stream(thread.getStackTrace())
                    .anyMatch(e -> e.getClassName().equals(in.getName()))) {
                return;
            }
            java.util.concurrent.locks.LockSupport.parkNanos(200_000);
        }
        throw new AssertionError(thread + " did not come to wait in " + in.getSimpleName());
    }

    /** The region's file, running {@code beforeAllocate} before each allocation. */
    private static final class ShrinkingFile extends ForwardingFile {
        private final Runnable beforeAllocate;

        ShrinkingFile(StorageFile file, Runnable beforeAllocate) {
            super(file);
            this.beforeAllocate = beforeAllocate;
        }

        @Override
        void before(String call) {
            if (call.equals("allocate")) {
                beforeAllocate.run();
            }
        }
    }

    /** The region's file, whose descriptor the region closes under a reclaim ({@link #gone}). */
    private static final class ClosingFile extends ForwardingFile {
        volatile boolean gone;

        ClosingFile(SharedFile file) {
            super(file);
        }

        @Override
        void before(String call) throws IOException {
            if (gone) {
                throw new java.nio.channels.ClosedChannelException();
            }
        }
    }

    @Test
    void shouldCloseTheFilesDescriptorsAndGiveBackItsSpaceWhenItsRegionCloses() throws Exception {
        Path file = fs.dir().resolve("closing");
        try (StorageHandler storage = StorageHandlers.fallocate(1 << 20);
             PrepareAhead ahead = StorageHandlers.prepareAhead(storage, 2)) {
            dev.mkwrite.WriteFaultHandler chain = StorageHandlers.chain(StorageHandlers.quota(1L << 40), ahead);
            try (MappedRegion region = MappedRegion.builder(file).size(1 << 20).handler(chain).open()) {
                region.putLong(0, 1);
            }
            // The region's close told the chain (WriteFaultHandler.regionClosed): nothing of the file is kept.
            assertEquals(0, descriptorsOf(file), "descriptors of a file whose region closed were kept");
            if (NativeAccess.available()) {
                assertEquals(PAGE, allocatedBytes(file), "the rest of the granule was kept");
            }
            chain.regionClosed(file); // idempotent
            try (MappedRegion region = MappedRegion.builder(file).size(1 << 20).handler(chain).open()) {
                region.putLong(PAGE, 2); // a later region over the file starts afresh
                assertEquals(1, region.getLong(0));
            }
        }
        assertEquals(0, descriptorsOf(file), "closing the handler closes every file it opened");
    }

    /**
     * A region's close drops the file's lock before its handler trims the file: a region opened over the
     * file in that moment (by another process; here a descriptor taking the lock as a region does) may have
     * found the granule's pages allocated, and will not prepare them again. The trim punches only under the
     * file's lock, so while another holds it the granule stays allocated; once it is free, a release trims.
     */
    @Test
    void shouldNotTrimAFileWhoseLockAnotherTookAfterItsRegionClosed() throws Exception {
        assumeTrue(NativeAccess.available(), "giving space back punches holes: " + NativeAccess.unavailableReason());
        Path file = fs.dir().resolve("relocked");
        AtomicReference<SharedFile> other = new AtomicReference<>();
        dev.mkwrite.WriteFaultHandler opensAgain = new dev.mkwrite.WriteFaultHandler() {
            @Override
            public dev.mkwrite.FaultResult prepare(dev.mkwrite.WriteFault fault) {
                return dev.mkwrite.Reservation.none();
            }

            @Override
            public void regionClosed(Path path) { // before the storage handler's, which trims
                try {
                    SharedFile f = SharedFile.open(path, "a region opened over the file at once");
                    assertEquals(0, PosixNative.lockFile(f.fd()), "the closed region's lock is free");
                    other.set(f);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }
        };
        try (StorageHandler storage = StorageHandlers.fallocate(1 << 20)) {
            dev.mkwrite.WriteFaultHandler chain = StorageHandlers.chain(opensAgain, storage);
            try (MappedRegion region = MappedRegion.builder(file).size(1 << 20).handler(chain).open()) {
                region.putLong(0, 1);
                assertEquals(1 << 20, allocatedBytes(file));
            }
            try {
                assertEquals(1 << 20, allocatedBytes(file), "the trim punched a file another had locked");
            } finally {
                assertNull(other.get().close(null));
            }
            try (MappedRegion region = MappedRegion.builder(file).size(1 << 20).handler(storage).open()) {
                region.putLong(PAGE, 2); // the granule is recorded again, and its lock is the region's
            }
            assertEquals(2L * PAGE, allocatedBytes(file), "with the lock free the close trims");
        }
    }

    /**
     * K9 at the disk's edge: a writer interrupted in the fault that finds no space gets
     * {@link dev.mkwrite.FaultInterruptedException}, not {@link NoSpaceException}, and the space the handler allocated
     * ahead elsewhere stays recorded, so the next fault at the edge gets it back. A reclaim claims a run of
     * units, punches it and then forgets the run's records: a punch that an interrupt refused used to leave
     * those blocks where no reclaim could find them again.
     */
    @Test
    void shouldEndAFaultInterruptedAtTheDisksEdgeAndKeepWhatItCouldGiveBack() throws Exception {
        assumeTrue(NativeAccess.available(), "giving space back punches holes: " + NativeAccess.unavailableReason());
        Path old = fs.dir().resolve("old");
        Path other = fs.dir().resolve("other");
        java.util.concurrent.atomic.AtomicBoolean interrupting = new java.util.concurrent.atomic.AtomicBoolean(true);
        try (StorageHandler storage = StorageHandlers.create(StorageHandler.Allocation.FALLOCATE, GRANULE, false);
             MappedRegion first = MappedRegion.builder(old).size(1 << 20).handler(storage).open();
             MappedRegion second = MappedRegion.builder(other).size(fs.usableSpace() * 2 & -PAGE).handler(storage)
                     .open()) {
            // The interrupt arrives as the fault reaches the edge, inside the handler.
            storage.space().atTheEdgeForTests(() -> {
                if (interrupting.get()) {
                    Thread.currentThread().interrupt();
                }
            });
            first.putLong(0, 42); // allocates the granule: the units after page 0 are ahead of any writer
            assertEquals(GRANULE, allocatedBytes(old));
            long off = 0;
            try {
                for (; ; off += PAGE) {
                    second.putLong(off, off + 1);
                }
            } catch (dev.mkwrite.FaultInterruptedException e) {
                assertEquals(off, e.offset());
            } finally {
                assertTrue(Thread.interrupted(), "the interrupt status is set again");
            }
            assertEquals(GRANULE, allocatedBytes(old), "the interrupted fault gave nothing back");
            interrupting.set(false);
            try {
                for (; ; off += PAGE) {
                    second.putLong(off, off + 1); // the same page first: now the edge gives space back
                }
            } catch (NoSpaceException e) {
                assertEquals(off, e.offset());
            }
            assertTrue(allocatedBytes(old) < GRANULE, "the next fault at the edge got the granule's tail back: "
                    + allocatedBytes(old) + " bytes still allocated");
            assertEquals(42, first.getLong(0));
        }
    }

    /**
     * K9 behind another fault's give-back: give-backs run one at a time, and a fault at the edge that waits
     * for the one in progress must end with {@link dev.mkwrite.FaultInterruptedException} at an interrupt,
     * not wait it out.
     */
    @Test
    void shouldEndAFaultInterruptedWhileAnotherFaultGivesSpaceBack() throws Exception {
        assumeTrue(NativeAccess.available(), "giving space back punches holes: " + NativeAccess.unavailableReason());
        java.util.concurrent.CountDownLatch inReclaim = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch leaveReclaim = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.atomic.AtomicBoolean held = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.ExecutorService threads = java.util.concurrent.Executors.newCachedThreadPool(
                r -> Thread.ofPlatform().daemon().name("edge-test").unstarted(r));
        try (StorageHandler storage = StorageHandlers.create(StorageHandler.Allocation.FALLOCATE, GRANULE, false);
             MappedRegion filling = MappedRegion.builder(fs.dir().resolve("filling"))
                     .size(fs.usableSpace() * 2 & -PAGE).handler(storage).open();
             MappedRegion waiting = MappedRegion.builder(fs.dir().resolve("waiting")).size(1 << 20)
                     .handler(storage).open()) {
            storage.space().insideReclaimForTests(() -> {
                if (held.compareAndSet(false, true)) { // the first give-back only: the filler's
                    inReclaim.countDown();
                    try {
                        leaveReclaim.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            });
            java.util.concurrent.Future<Long> fill = threads.submit(() -> {
                long off = 0;
                try {
                    for (; ; off += PAGE) {
                        filling.putLong(off, off + 1);
                    }
                } catch (NoSpaceException e) {
                    return off;
                }
            });
            try {
                assertTrue(inReclaim.await(30, java.util.concurrent.TimeUnit.SECONDS), "the filler reached the edge");
                java.util.concurrent.atomic.AtomicReference<Thread> writer =
                        new java.util.concurrent.atomic.AtomicReference<>();
                java.util.concurrent.Future<?> write = threads.submit(() -> {
                    writer.set(Thread.currentThread());
                    waiting.putLong(0, 2); // no space: its fault reaches the edge and waits for the filler's give-back
                    return null;
                });
                long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
                while (!waitsForTheGiveBack(writer.get())) {
                    assertTrue(System.nanoTime() < deadline, "the writer never waited for the give-back");
                    Thread.sleep(1);
                }
                writer.get().interrupt();
                Throwable failure = assertThrows(java.util.concurrent.ExecutionException.class,
                        () -> write.get(10, java.util.concurrent.TimeUnit.SECONDS),
                        "an interrupt ends the wait for the other give-back").getCause();
                assertTrue(failure instanceof dev.mkwrite.FaultInterruptedException,
                        "not a FaultInterruptedException: " + failure);
                assertFalse(fill.isDone(), "the filler's give-back is still held");
            } finally {
                leaveReclaim.countDown();
            }
            assertTrue(fill.get(30, java.util.concurrent.TimeUnit.SECONDS) > 0);
            waiting.stats(); // the region works on
        } finally {
            threads.shutdownNow();
        }
    }

    /** Whether {@code thread} is parked or blocked in {@code SpaceEdge.reclaim}, waiting for its lock. */
    private static boolean waitsForTheGiveBack(Thread thread) {
        if (thread == null) {
            return false;
        }
        Thread.State state = thread.getState();
        if (state != Thread.State.WAITING && state != Thread.State.BLOCKED) {
            return false;
        }
        for (StackTraceElement f : thread.getStackTrace()) {
            if (f.getClassName().equals(SpaceEdge.class.getName()) && f.getMethodName().equals("reclaim")) {
                return true;
            }
        }
        return false;
    }

    @Test
    void shouldGiveBackTheSpaceWhenTheClosingThreadWasInterrupted() throws Exception {
        assumeTrue(NativeAccess.available(), "space is given back only with native access");
        Path file = fs.dir().resolve("closing-interrupted");
        try (StorageHandler storage = StorageHandlers.fallocate(1 << 20)) {
            MappedRegion region = MappedRegion.builder(file).size(1 << 20).handler(storage).open();
            region.putLong(0, 1);
            Thread.currentThread().interrupt(); // e.g. a store shutting down on an interrupted thread
            try {
                region.close();
                assertTrue(Thread.currentThread().isInterrupted(), "the close keeps the interrupt for the caller");
            } finally {
                Thread.interrupted();
            }
            assertEquals(PAGE, allocatedBytes(file), "the rest of the granule was kept");
        }
    }

    /** How many of this process's descriptors refer to {@code file}. */
    private static int descriptorsOf(Path file) throws IOException {
        Path real = file.toRealPath();
        int n = 0;
        try (java.util.stream.Stream<Path> fds = java.nio.file.Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    if (java.nio.file.Files.readSymbolicLink(fd).equals(real)) {
                        n++;
                    }
                } catch (IOException e) {
                    // closed meanwhile
                }
            }
        }
        return n;
    }

    /**
     * Fault-around looks twice at a page's records, in the mapping period its fault began in. A give-back
     * that ends that period after the looks and before the page is taken (a failing fault of that very page
     * punching its own units, say, which its touched mark does not stop) used to leave the page prepared over
     * what may be a hole. The handler now looks once more after taking it, in the current period, and ends
     * the run there: here the seam ends the period as the first page around is looked at.
     */
    @Test
    void shouldNotPrepareAroundAPageWhosePeriodEndedBeforeItWasTaken() throws Exception {
        assumeTrue(NativeAccess.available(), "fallocate: " + NativeAccess.unavailableReason());
        Path file = fs.dir().resolve("around-period");
        try (StorageHandler storage = StorageHandlers.fallocate(8 * PAGE).faultAround(true);
             MappedRegion region = MappedRegion.builder(file).size(64L * PAGE).pageSize(PAGE).handler(storage)
                     .open()) {
            region.putByte(16L * PAGE, (byte) 1); // sets the file up
            java.util.concurrent.atomic.AtomicBoolean ended = new java.util.concurrent.atomic.AtomicBoolean();
            storage.beforeAroundTouchForTests(() -> {
                if (!ended.getAndSet(true)) {
                    storage.file(file).invalidateAllocations(); // a give-back ran: the records no longer count
                }
            });
            region.putByte(0, (byte) 1); // allocates pages 0 to 7, then offers 1 to 7 around
            storage.beforeAroundTouchForTests(null);
            assertTrue(ended.get());
            assertEquals("CLEAN", dev.mkwrite.impl.ReliabilityProbe.state(region, 1),
                    "page 1 was prepared around in a period that had ended");
            region.putByte(PAGE, (byte) 2); // faults, and allocates in the current period
            assertEquals(2, region.getByte(PAGE));
        }
    }

    /**
     * Fault-around prepares the pages after a faulting page that its granule allocated. A give-back at the
     * disk's edge may punch those pages (no fault touched them) between fault-around's look at their records
     * and its mark on them: the seam runs a give-back there. The page must then not be prepared: its first
     * store, with no fault, would write into a hole of the full tmpfs (InternalError). Before, it was.
     */
    @Test
    void shouldNotPrepareAroundAPageGivenBackBeforeItsMark() throws Exception {
        assumeTrue(NativeAccess.available(), "giving space back punches holes: " + NativeAccess.unavailableReason());
        Path file = fs.dir().resolve("around");
        try (StorageHandler storage = StorageHandlers.fallocate(8 * PAGE).faultAround(true);
             MappedRegion region = MappedRegion.builder(file).size(64L * PAGE).pageSize(PAGE).handler(storage)
                     .open()) {
            java.util.concurrent.atomic.AtomicLong given = new java.util.concurrent.atomic.AtomicLong(-1);
            storage.beforeAroundTouchForTests(() -> {
                if (given.get() < 0) {
                    try {
                        given.set(storage.space().reclaim()); // pages 1 to 7: recorded, untouched
                    } catch (java.io.InterruptedIOException e) {
                        throw new AssertionError(e);
                    }
                }
            });
            region.putByte(0, (byte) 1); // allocates pages 0 to 7, then offers 1 to 7 around
            storage.beforeAroundTouchForTests(null);
            assertEquals(7L * PAGE, given.get(), "the give-back took pages 1 to 7");

            fs.fillLeaving(fs.dir().resolve("filler"), 0);
            for (long p = 1; p < 8; p++) {
                long offset = p * PAGE;
                // A page prepared over a hole takes the store with no fault, and dies with InternalError.
                NoSpaceException e = assertThrows(NoSpaceException.class, () -> region.putByte(offset, (byte) 2),
                        "page " + p + " was prepared around though given back");
                assertEquals(offset, e.offset());
            }
            assertEquals(1, region.getByte(0));
        }
    }

    /**
     * Creates {@code held} and {@code writing}, sparse files of four {@link #HELD_GRANULE}s, then fills the
     * filesystem but 64 pages: for {@link #writeWhileHeld}.
     *
     * @return {@code held}'s path
     */
    private static Path nearlyFull(String held) throws IOException {
        Path file = fs.dir().resolve(held);
        for (Path p : new Path[] {file, fs.dir().resolve("writing")}) {
            try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(p.toFile(), "rw")) {
                f.setLength(4L * HELD_GRANULE); // sparse: no block
            }
        }
        fs.fillLeaving(fs.dir().resolve("filler"), 64);
        return file;
    }

    /**
     * Runs {@code held} on a thread of its own until it reaches the seam that {@code seam} sets, and holds
     * it there while a fault of page 0 of {@code writing} ({@link #nearlyFull}) runs, which must not report
     * no space; then lets it go on, and it must not fail either. Only the first fault to reach the seam is
     * held. {@code what} names what the held fault may still hold: the blocks of {@code held}'s file beyond
     * its page.
     */
    private static void writeWhileHeld(StorageHandler storage, Consumer<Runnable> seam, TestFault held, String what)
            throws Exception {
        SeamHold hold = new SeamHold();
        seam.accept(hold);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread holder = Thread.ofPlatform().start(() -> {
            try {
                storage.prepare(held);
            } catch (Throwable t) {
                failure.set(t);
            }
        });
        try {
            assertTrue(hold.awaitReached(), "the held fault never reached the seam");
            assertNull(failure.get(), () -> "the held fault failed: " + failure.get());
            try {
                storage.prepare(TestFault.page(fs.dir().resolve("writing"), 0));
            } catch (NoSpaceException e) {
                throw new AssertionError("no space reported while " + what + " still held "
                        + (allocatedBytes(held.path()) - PAGE) + " bytes no writer uses", e);
            }
        } finally {
            hold.release();
            holder.join();
        }
        assertNull(failure.get());
    }

    /**
     * A file whose fallocate fails as on ext4 and XFS: out of space part way, it keeps what it allocated
     * before the failure (tmpfs gives it back). It allocates page by page what fits, then reports no space.
     */
    private static final class KeepingFile extends ForwardingFile {

        KeepingFile(SharedFile file) {
            super(file);
        }

        @Override
        public Outcome allocate(long offset, long length) throws IOException {
            Outcome r = file.allocate(offset, length);
            if (r == Outcome.NO_SPACE) {
                long end = offset + length;
                long at = offset;
                while (at < end && file.allocate(at, Math.min(PAGE, end - at)) == Outcome.DONE) {
                    at += PAGE; // what fits stays allocated
                }
            }
            return r;
        }
    }

    /** The file's allocated bytes, from stat(1): Java has no portable view of a file's blocks. */
    static long allocatedBytes(Path file) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("stat", "-c", "%b %B", file.toString()).redirectErrorStream(true).start();
        String[] out = new String(p.getInputStream().readAllBytes()).trim().split(" ");
        assertEquals(0, p.waitFor(), String.join(" ", out));
        return Long.parseLong(out[0]) * Long.parseLong(out[1]);
    }
}
