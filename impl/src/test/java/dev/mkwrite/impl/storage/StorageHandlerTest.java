package dev.mkwrite.impl.storage;

import dev.mkwrite.impl.os.NativeAccess;
import dev.mkwrite.impl.os.PosixNative;
import dev.mkwrite.Backing;
import dev.mkwrite.HandlerFailedException;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.WriteFaultHandler;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The storage handler's granule logic on a real filesystem: one system call per granule, none for repeat
 * faults, a fresh start after the region maps the file anew, and zero-fill that never writes over data.
 */
class StorageHandlerTest {

    private static final int PAGE = 4096;
    private static final int GRANULE = 64 << 10;
    private static final int PAGES_PER_GRANULE = GRANULE / PAGE;

    @RegisterExtension
    static final SmallFilesystem fs = new SmallFilesystem();


    private static Path file() {
        return fs.dir().resolve("region");
    }

    @ParameterizedTest
    @EnumSource(value = StorageHandler.Allocation.class, names = {"FALLOCATE", "ZERO_FILL"})
    void shouldAllocateAGranuleOnceAndAnswerItsOtherPagesAndRepeatFaultsWithoutASystemCall(
            StorageHandler.Allocation allocation) throws Exception {
        assumeNativeFor(allocation);
        // Chained with a handler that prepares overwrites, so that every page faults again after the flush
        // (the storage handler alone keeps them prepared on this filesystem).
        try (StorageHandler storage = StorageHandlers.create(allocation, GRANULE, false);
             MappedRegion region = MappedRegion.builder(file()).size(1 << 20)
                     .handler(StorageHandlers.chain(storage, WriteFaultHandler.none())).open()) {
            for (int p = 0; p < PAGES_PER_GRANULE; p++) {
                region.putLong((long) p * PAGE, p + 1);
            }
            StorageHandler.Stats s = storage.stats();
            assertEquals(PAGES_PER_GRANULE, s.faults());
            assertEquals(PAGES_PER_GRANULE - 1, s.alreadyAllocated(), "the first fault allocated the whole granule");
            assertEquals(allocation == StorageHandler.Allocation.FALLOCATE ? 1 : 0, s.fallocates());

            region.flush(); // CLEAN again: every page faults on its next write
            for (int p = 0; p < PAGES_PER_GRANULE; p++) {
                region.putLong((long) p * PAGE + 8, p + 1);
            }
            StorageHandler.Stats after = storage.stats();
            assertEquals(2 * PAGES_PER_GRANULE, after.faults());
            assertEquals(2 * PAGES_PER_GRANULE - 1, after.alreadyAllocated(), "repeat faults made system calls");
            assertEquals(s.fallocates(), after.fallocates());
            assertEquals(s.zeroFilledBytes(), after.zeroFilledBytes());
        }
    }

    /**
     * release(path) gives back a file's untouched granules: under an open region it would punch blocks its
     * writers may be entering. It is refused, naming the file; the region goes on, and its close releases
     * the file.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldRefuseToReleaseAFileWhoseRegionIsOpen(Backing backing) throws Exception {
        try (StorageHandler storage = StorageHandlers.zeroFill(GRANULE)) {
            try (MappedRegion region = MappedRegion.builder(file()).size(1 << 20).backing(backing).handler(storage)
                    .open()) {
                region.putLong(0, 1);
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> storage.release(file()));
                assertTrue(e.getMessage().contains(file().toString()), e.getMessage());
                region.putLong(PAGE, 2); // its granule, allocated at the first write, is still there
                assertEquals(1, region.getLong(0));
                assertEquals(2, region.getLong(PAGE));
            }
            storage.release(file()); // closed: nothing left to release, no failure
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldAllocateAgainAfterTheRegionIsTruncatedAndExtended(Backing backing) throws Exception {
        assumeNativeFor(StorageHandler.Allocation.FALLOCATE);
        try (StorageHandler storage = StorageHandlers.fallocate(GRANULE);
             MappedRegion region = MappedRegion.builder(file()).size(1 << 20).backing(backing).handler(storage)
                     .open()) {
            region.putLong(0, 1);
            region.flush();
            region.putLong(0, 2);
            assertEquals(1, storage.stats().fallocates());

            region.truncate(0); // frees the blocks
            region.grow(1 << 20);
            region.putLong(0, 3);
            assertEquals(2, storage.stats().fallocates(), "an allocation from before the truncate was trusted");
            assertEquals(3, region.getLong(0));
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldAllocateAgainAfterATruncateToTheMiddleOfAPage(Backing backing) throws Exception {
        assumeNativeFor(StorageHandler.Allocation.FALLOCATE);
        int bigPage = 64 << 10; // larger than a filesystem block: a mid-page truncate frees blocks of the page
        try (StorageHandler storage = StorageHandlers.fallocate(bigPage);
             MappedRegion region = MappedRegion.builder(file()).size(1 << 20).pageSize(bigPage).backing(backing)
                     .handler(storage)
                     .open()) {
            region.putLong(0, 1);
            region.truncate(5000); // page 0 keeps its generation but loses its blocks past 8 KiB
            region.grow(1 << 20);
            region.putLong(40_000, 2);
            assertEquals(2, storage.stats().fallocates(), "the page's lost blocks were not reallocated");
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldNotTrustAllocationsOfAnEarlierRegionOverAFileTruncatedSince(Backing backing) throws Exception {
        assumeNativeFor(StorageHandler.Allocation.FALLOCATE);
        try (StorageHandler storage = StorageHandlers.fallocate(GRANULE)) {
            try (MappedRegion region = MappedRegion.builder(file()).size(1 << 20).backing(backing)
                    .handler(storage).open()) {
                region.putLong(0, 1);
            }
            try (FileChannel ch = FileChannel.open(file(), StandardOpenOption.WRITE)) {
                ch.truncate(0);
            }
            try (MappedRegion region = MappedRegion.builder(file()).size(1 << 20).backing(backing)
                    .handler(storage).open()) {
                region.putLong(0, 2);
            }
            assertEquals(2, storage.stats().fallocates());
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldZeroFillOnlyTheHolesOfAGranuleAndNeverOverwriteData(Backing backing) throws Exception {
        byte[] data = DiskFullTest.pattern(7, 0, PAGE);
        try (FileChannel ch = FileChannel.open(file(), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(data), PAGE);      // page 1 has data
            ch.write(ByteBuffer.wrap(data), 3L * PAGE); // page 3 too; the rest are holes
        }
        try (StorageHandler storage = StorageHandlers.zeroFill(GRANULE);
             MappedRegion region = MappedRegion.builder(file()).size(1 << 20).backing(backing).handler(storage)
                     .open()) {
            region.putLong(0, 42);
            assertEquals(GRANULE - 2L * PAGE, storage.stats().zeroFilledBytes(), "only holes are filled");
            byte[] back = new byte[PAGE];
            region.get(PAGE, back, 0, PAGE);
            assertArrayEquals(data, back);
            region.get(3L * PAGE, back, 0, PAGE);
            assertArrayEquals(data, back);
            assertEquals(42, region.getLong(0));
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldNeverZeroFillAPageAWriterMayBeStoringInto(Backing backing) throws Exception {
        try (StorageHandler storage = StorageHandlers.zeroFill(GRANULE);
             MappedRegion region = MappedRegion.builder(file()).size(1 << 20).backing(backing).handler(storage)
                     .open()) {
            region.put(5L * PAGE, new byte[16]); // page 5 is WRITABLE and reads as zeros
            long filled = storage.stats().zeroFilledBytes();
            assertEquals(GRANULE, filled, "the first fault fills its granule");

            region.grow(2 << 20); // a new mapping: the handler forgets what it allocated, not what it touched
            region.putLong(0, 1);
            assertEquals(GRANULE - PAGE, storage.stats().zeroFilledBytes() - filled,
                    "zero-fill wrote into page 5, which a writer may be storing into");
        }
    }

    @Test
    void shouldLoseNoWriteWhileConcurrentFaultsZeroFillEachOthersNeighbours() throws Exception {
        int threads = 4;
        int pages = 256; // 16 granules, each page owned by one thread
        for (int round = 0; round < 12; round++) {
            Path file = fs.dir().resolve("shared-" + round);
            try (StorageHandler storage = StorageHandlers.zeroFill(GRANULE);
                 MappedRegion region = MappedRegion.builder(file).size((long) pages * PAGE).handler(storage).open()) {
                CountDownLatch start = new CountDownLatch(1);
                List<Thread> writers = new ArrayList<>();
                ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
                for (int t = 0; t < threads; t++) {
                    int id = t;
                    writers.add(Thread.ofPlatform().start(() -> {
                        try {
                            start.await();
                            // Interleave: thread t writes pages t, t + 4, ... from both ends inwards.
                            for (int k = 0, lo = id, hi = pages - threads + id; lo <= hi; k++) {
                                int p = k % 2 == 0 ? lo : hi;
                                region.putLong((long) p * PAGE + 8 * id, p + 1);
                                if (k % 2 == 0) {
                                    lo += threads;
                                } else {
                                    hi -= threads;
                                }
                            }
                        } catch (Throwable e) {
                            errors.add(e);
                        }
                    }));
                }
                start.countDown();
                for (Thread w : writers) {
                    w.join();
                }
                assertTrue(errors.isEmpty(), () -> "a writer failed: " + errors);
                for (int p = 0; p < pages; p++) {
                    assertEquals(p + 1, region.getLong((long) p * PAGE + 8L * (p % threads)),
                            "round " + round + ": the write into page " + p + " was zeroed by a neighbour's fill");
                }
            }
            java.nio.file.Files.delete(file);
        }
    }

    @Test
    void shouldPopulateAtEveryFaultBecauseWritebackWriteProtectsThePageAgain() throws Exception {
        assumeTrue(NativeAccess.available(), "needs native access: " + NativeAccess.unavailableReason());
        try (StorageHandler storage = StorageHandlers.populate();
             MappedRegion region = MappedRegion.builder(file()).size(1 << 20).handler(storage).open()) {
            region.putLong(0, 1);
            region.flush();
            region.putLong(0, 2);
            StorageHandler.Stats s = storage.stats();
            // Where the filesystem overwrites in place the page stays prepared after writeback: the second
            // write takes no mkwrite fault and the kernel's write-protect fault allocates nothing.
            assertEquals(storage.preparesOverwrites(file()) ? 2 : 1, s.populates());
            assertEquals(0, s.fallocates());
        }
    }

    @Test
    void shouldKeepPagesPreparedOnlyWhereAnOverwriteAllocatesNothing() throws Exception {
        try (StorageHandler storage = StorageHandlers.fallocate(GRANULE);
             PrepareAhead ahead = StorageHandlers.prepareAhead(storage, 2)) {
            Path shm = Path.of("/dev/shm");
            if (Files.isDirectory(shm) && Files.getFileStore(shm).type().equals("tmpfs")) {
                assertFalse(storage.preparesOverwrites(shm), "tmpfs overwrites in place");
            }
            assertTrue(storage.preparesOverwrites(file().resolveSibling("no-such-dir").resolve("x")),
                    "a filesystem that cannot be told: prepare every overwrite");
            boolean here = storage.preparesOverwrites(file());
            // statfs (native access) and the file store (without) agree, on a path that exists
            for (Path dir : List.of(file().getParent(), Path.of(System.getProperty("java.io.tmpdir")))) {
                String type = Files.getFileStore(dir).type();
                assertEquals(!Set.of("ext2", "ext3", "ext4", "tmpfs").contains(type), storage.preparesOverwrites(dir),
                        dir + " on " + type);
            }
            assertEquals(here, ahead.preparesOverwrites(file()),
                    "prepare-ahead passes it on");
            assertTrue(StorageHandlers.chain(storage, WriteFaultHandler.none()).preparesOverwrites(file()),
                    "a chain prepares overwrites if any of its handlers does");
            assertEquals(here, StorageHandlers.chain(storage).preparesOverwrites(file()));
        }
    }

    @Test
    void shouldFallBackToZeroFillWhenTheKernelRejectsPopulate() throws Exception {
        assumeTrue(NativeAccess.available(), "needs native access: " + NativeAccess.unavailableReason());
        try (FileChannel ch = FileChannel.open(file(), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(1), (1 << 20) - 1); // a sparse 1 MiB file
        }
        try (StorageHandler storage = StorageHandlers.populate(); Arena arena = Arena.ofConfined()) {
            // An unaligned address makes madvise fail with EINVAL, as a kernel before 5.14 does for
            // MADV_POPULATE_WRITE.
            MemorySegment unaligned = arena.allocate(2 * PAGE, PAGE).asSlice(1, PAGE);
            assertEquals(StorageHandler.Allocation.NONE, storage.effectiveAllocation());
            storage.prepare(new TestFault(file(), 0, PAGE, PAGE, 0, unaligned));
            assertEquals(StorageHandler.Allocation.ZERO_FILL, storage.effectiveAllocation());
            assertEquals(0, storage.stats().populates());
            assertEquals(PAGE, storage.stats().zeroFilledBytes(), "the page was not prepared another way");
            storage.prepare(new TestFault(file(), 1, PAGE, PAGE, 0, unaligned));
            assertEquals(2L * PAGE, storage.stats().zeroFilledBytes(), "later faults zero-fill without trying");
        }
    }

    @Test
    void shouldFailFaultsAfterClose() throws Exception {
        StorageHandler storage = StorageHandlers.fallocate(GRANULE);
        try (MappedRegion region = MappedRegion.builder(file()).size(1 << 20).handler(storage).open()) {
            region.putLong(0, 1);
            storage.close();
            HandlerFailedException e = assertThrows(HandlerFailedException.class, () -> region.putLong(GRANULE, 1));
            assertInstanceOf(IllegalStateException.class, e.getCause());
            assertTrue(e.getCause().getMessage().contains("closed"), e.getCause().getMessage());
            region.putLong(8, 2); // pages already prepared still take writes
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1000, 2048, 3 << 12, 1 << 31 >>> 0})
    void shouldRejectAGranuleThatIsNotAPowerOfTwoOfAtLeastFourKibibytes(int granule) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> StorageHandlers.fallocate(granule));
        assertTrue(e.getMessage().contains(String.valueOf(granule)), e.getMessage());
    }

    @Test
    void shouldNameWhatItDoesAndWhatItFellBackTo() throws Exception {
        try (StorageHandler best = StorageHandlers.bestAvailable(GRANULE)) {
            if (NativeAccess.available()) {
                assertEquals(StorageHandler.Allocation.FALLOCATE, best.effectiveAllocation());
                assertTrue(best.populates());
            } else {
                assertEquals(StorageHandler.Allocation.ZERO_FILL, best.effectiveAllocation());
            }
            assertTrue(best.toString().contains(String.valueOf(GRANULE)), best.toString());
        }
    }

    private static void assumeNativeFor(StorageHandler.Allocation allocation) {
        if (allocation == StorageHandler.Allocation.FALLOCATE) {
            assumeTrue(NativeAccess.available(), "fallocate needs native access: " + NativeAccess.unavailableReason());
        }
    }
}
