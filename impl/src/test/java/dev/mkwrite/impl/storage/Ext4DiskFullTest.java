package dev.mkwrite.impl.storage;

import dev.mkwrite.Backing;
import dev.mkwrite.FaultResult;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.NoSpaceException;
import dev.mkwrite.WriteFault;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.impl.os.NativeAccess;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A full disk on a real ext4, which keeps the blocks a {@code fallocate} got before it ran out of space.
 * The other disk-full tests run on a tmpfs, which gives them back, and {@link GiveBackTest} imitates
 * ext4 with a file of its own; here the kernel fails as it does in production. A granule's fallocate, or a
 * prepare-ahead batch's, that fails at the disk's edge has taken the last free blocks, recorded nowhere:
 * they must be given back before that allocation stops speculating, or the writer that needs them next
 * reports no space with the disk not full. Each test checks that the writers get {@link NoSpaceException}
 * and nothing else, that every page acknowledged reads back, and that once they stopped the disk holds no
 * block but those of the written pages.
 *
 * <p>The handlers populate as well as allocate, as {@link StorageHandlers#bestAvailable} does. ext4's
 * {@code ->page_mkwrite} covers the whole page-cache folio (large folios, ext4 since Linux 6.16), so a
 * write into a page the handler allocated raised SIGBUS at the disk's edge wherever the page shared a
 * folio with holes: readahead made such folios, of the give-backs' reads (see
 * {@link #shouldOverwriteAPageBesideBlocksGivenBack}) and of the page faults (read-around, 4-page folios
 * seen under {@code MADV_POPULATE_WRITE}), and a granule allocated in part or blocks given back the holes.
 * The region's descriptor reads without readahead ({@code SharedFile}); the handler allocates and gives
 * back whole {@linkplain FolioUnit folio units}, which no folio straddles
 * ({@link #shouldNotAllocateAPageWithoutTheRestOfItsFolioUnit}). The folio unit is the device's read-ahead
 * window or largest request: 2 MiB on a loop device of Linux 6.18 (a 2560 KiB window), so at the disk's
 * edge less than a folio unit may stay free where these tests once asked for less than a page.
 */
class Ext4DiskFullTest {

    private static final int PAGE = 4096;
    private static final int GRANULE = 64 << 10;
    /** A folio unit smaller than the granule ({@link StorageHandler#folioUnitForTests}). */
    private static final int SMALL_FOLIO = 16 << 10;
    /** Writers of the concurrent logs: more than the machine's two cores, so faults interleave. */
    private static final int WRITERS = 3;

    @RegisterExtension
    static final SmallFilesystem fs = SmallFilesystem.ext4();

    @BeforeEach
    void needsNative() {
        assumeTrue(NativeAccess.available(), "fallocate and giving space back: " + NativeAccess.unavailableReason());
    }

    /**
     * A fault's granule (two folio units) needs more than is free (a folio unit and a half): ext4's
     * fallocate takes what is free and fails. The seam holds that fault right after its speculation ended,
     * while another region is written until it gets no space: by then the held fault's file must hold no
     * block (the failed granule's, its own page's too, were given back). Before the give-back ran within the
     * speculation, the other writer's fault at the edge waited for speculation to end, found nothing
     * recorded to give back, and reported no space with the free pages still held by the failed granule.
     */
    @Test
    void shouldGiveWhatAFailedGranuleKeptToTheNextWriter() throws Exception {
        long folio = folio();
        Path held = fs.dir().resolve("held");
        Path writing = fs.dir().resolve("writing");
        try (StorageHandler storage = handler(2 * folio);
             MappedRegion heldRegion = region(held, 4 * folio, storage);
             MappedRegion writingRegion = region(writing, 4 * folio, storage)) {
            fs.fillLeaving(fs.dir().resolve("filler"), (int) (3 * folio / 2 / PAGE));
            AtomicLong heldPage = new AtomicLong();
            long written = writeWhileHeld(storage, () -> {
                heldRegion.put(0, DiskFullTest.pattern(1, 0, PAGE));
                heldPage.set(1);
            }, writingRegion, "a failed granule", held, PAGE);
            assertPages(held, 1, heldPage.get());
            assertFull(written + heldPage.get(), folio / PAGE);
        }
    }

    /**
     * A no-wait write ({@code tryWrite}) whose granule (two folio units) finds a folio unit and a half free:
     * ext4's fallocate takes that and fails, and the write is refused rather than look further. By then it
     * must have given back all its fallocate kept, its own page's blocks too, recorded nowhere: the file
     * holds no data block, and the blocking write that follows gets its folio unit.
     */
    @Test
    void shouldGiveBackWhatARefusedNoWaitWritesGranuleKept() throws Exception {
        long folio = folio();
        Path file = fs.dir().resolve("no-wait");
        try (StorageHandler storage = handler(2 * folio);
             MappedRegion region = region(file, 4 * folio, storage)) {
            fs.fillLeaving(fs.dir().resolve("filler"), (int) (3 * folio / 2 / PAGE));
            dev.mkwrite.WouldBlock why = new dev.mkwrite.WouldBlock();
            dev.mkwrite.WriteSpan span = region.tryWrite(0, PAGE, why);
            if (span != null) {
                span.close();
                fail("a granule of two folio units fitted in a folio unit and a half");
            }
            assertEquals(dev.mkwrite.WouldBlock.Reason.HANDLER, why.reason());
            assertEquals(1, storage.stats().noWaitRefusals());
            assertTrue(GiveBackTest.allocatedBytes(file) <= PAGE, // an extent tree leaf may stay
                    "the refused write kept blocks: " + GiveBackTest.allocatedBytes(file));
            byte[] data = DiskFullTest.pattern(7, 0, PAGE);
            region.put(0, data, 0, PAGE);
            byte[] back = new byte[PAGE];
            region.get(0, back, 0, PAGE);
            assertArrayEquals(data, back);
        }
    }

    /**
     * Prepare-ahead's agent allocates a granule (two folio units) ahead of a writer
     * ({@link GranuleAllocator#allocateAhead}, called here on a thread of the test's, as the agent would)
     * where only a folio unit and a half is free: ext4's fallocate takes that and fails. The seam holds the
     * batch right after its speculation ended while another region is written until it gets no space: by
     * then the batch's file must hold no block but the folio unit of the page written (the rest of granule 0
     * given back to the writer) and the leaf of its extent tree.
     */
    @Test
    void shouldGiveWhatAFailedPrepareAheadBatchKeptToTheNextWriter() throws Exception {
        long folio = folio();
        Path ahead = fs.dir().resolve("ahead");
        Path writing = fs.dir().resolve("writing");
        try (StorageHandler storage = handler(2 * folio);
             MappedRegion aheadRegion = region(ahead, 8 * folio, storage);
             MappedRegion writingRegion = region(writing, 4 * folio, storage)) {
            aheadRegion.putLong(0, 1); // sets the file up, and allocates granule 0
            fs.fillLeaving(fs.dir().resolve("filler"), (int) (3 * folio / 2 / PAGE));
            FileSpace file = storage.file(ahead);
            int stamp = file.stamp();
            AtomicLong done = new AtomicLong(-1);
            long written = writeWhileHeld(storage, () -> done.set(storage.allocateAhead(file, 1, 2, stamp, 0)),
                    writingRegion, "a failed prepare-ahead batch", ahead, folio + PAGE); // and an extent tree leaf
            assertEquals(0, done.get(), "granule 1 cannot have fitted");
            assertFull(written + 1, folio / PAGE);
        }
    }

    /**
     * A written page must not share a page-cache folio with blocks given back. The region's descriptor (the
     * file's one, through which every give-back reads the units it may punch) first reads the file in
     * 256 KiB chunks from the start, as give-backs walking a log do; with readahead that left a 16-page
     * folio over the granule written here (seen in /proc/kpageflags on Linux 6.18). The page is written,
     * the rest of its granule given back while the folio is dirty (a dirty folio does not split), the disk
     * filled, the page written back and written again: ext4's {@code ->page_mkwrite} covers the whole
     * folio, needs blocks for the holes beside the page, and the store died with SIGBUS
     * ({@code InternalError}) every time, though the page has its block. Without readahead on the
     * descriptor the page is a folio of its own; and only whole folio units are given back now, here the
     * granule's second, so no folio holds both the page and a hole.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldOverwriteAPageBesideBlocksGivenBack(Backing backing) throws Exception {
        long folio = folio();
        Path file = fs.dir().resolve("log");
        long size = 4 * folio;
        long page = 2 * folio; // where readahead's folios had grown to 16 pages (at 2 MiB of a 4 MiB file)
        try (StorageHandler storage = handler(2 * folio);
             MappedRegion region = MappedRegion.builder(file).size(size).pageSize(PAGE).backing(backing)
                     .handler(readingFirst(storage, size)).open()) {
            region.put(page, DiskFullTest.pattern(0, page, PAGE)); // allocates the granule, populates the page
            fs.fillLeaving(fs.dir().resolve("filler"), 0); // may write the page back
            region.put(page, DiskFullTest.pattern(0, page, PAGE)); // dirty again when its neighbours are punched
            assertTrue(storage.space().reclaim() >= folio, "the granule's other folio unit was given back");
            fs.fillLeaving(fs.dir().resolve("filler-2"), 0);
            region.flush(); // writes the page back, and write-protects it
            region.put(page, DiskFullTest.pattern(1, page, PAGE)); // the kernel's fault: no handler's on ext4
            assertPages(file, 1, page / PAGE, 1);
        }
    }

    /**
     * A page is never allocated without the rest of its folio unit. A read of the file through a
     * descriptor of its own (readahead: folios of up to 256 pages here) puts large folios over the page
     * and the holes beside it, then the disk is filled but half a folio unit. The page's write gets
     * {@link NoSpaceException}, and what its failed fallocate got is given back: before, the fault
     * allocated the page alone, the write succeeded, and after the page's writeback with the disk full, the
     * next store into it needed blocks for the holes of its folio (ext4's {@code ->page_mkwrite} reserves
     * for the whole folio) and could die with SIGBUS. Once space is freed the same write succeeds, with its
     * folio unit; with the disk full again the page is written back and written again.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldNotAllocateAPageWithoutTheRestOfItsFolioUnit(Backing backing) throws Exception {
        long folio = folio();
        Path file = fs.dir().resolve("log");
        Path filler = fs.dir().resolve("filler");
        long size = 4 * folio;
        long page = 2 * folio + 5 * PAGE; // inside a folio unit, not at its start
        try (StorageHandler storage = handler();
             MappedRegion region = MappedRegion.builder(file).size(size).pageSize(PAGE).backing(backing)
                     .handler(storage).open()) {
            readThroughItsOwnDescriptor(file, size);
            fs.fillLeaving(filler, (int) (folio / 2 / PAGE));
            NoSpaceException e = assertThrows(NoSpaceException.class,
                    () -> region.put(page, DiskFullTest.pattern(1, page, PAGE)),
                    "less than the page's folio unit is free: the page alone must not be allocated");
            assertEquals(page, e.offset());
            assertEquals(region.path(), e.path());
            assertEquals(0, GiveBackTest.allocatedBytes(file), "what the failed fallocate got was given back");
            // What was free before, to one block: the file's own blocks are checked exactly above; ext4's own
            // metadata (the filler's extent blocks, the journal) moves the free space by a block either way
            // in full runs (seen: 1,052,672 and 1,044,480 bytes free for 1,048,576), never more.
            long free = fs.usableSpace();
            assertTrue(Math.abs(free - folio / 2) <= PAGE, "and is free again: " + free + " bytes free, "
                    + folio / 2 + " before the write");

            Files.delete(filler);
            region.put(page, DiskFullTest.pattern(1, page, PAGE)); // the same write, now that space is free
            fs.fillLeaving(filler, 0);
            region.flush(); // writes the page back, and write-protects it
            region.put(page, DiskFullTest.pattern(2, page, PAGE)); // the kernel's fault: its folio has its blocks
            region.flush();
            assertPages(file, 2, page / PAGE, 1);
        }
    }

    /**
     * Logs written at once, page by page, each until its own write finds no space, with granules allocated
     * by the faults or ahead of the writers by prepare-ahead's agent: every write succeeds or gets
     * {@link NoSpaceException}, every page acknowledged reads back, and the logs end with the whole free
     * space written: a failed granule's blocks given back to the fault at the edge, no block left held
     * beyond the written pages (but a folio unit's worth a file: see {@link #assertFull}).
     *
     * <p>On Linux 6.18's ext4 a write into a page the handler allocated and populated once died with
     * {@code InternalError} (SIGBUS) in 3 of 21 runs, at a page that shared a read-around folio with holes
     * (4-page folios around it in /proc/kpageflags); still in 2 of 30 with readahead off on the descriptor
     * alone, in none of 24 with it off on the mappings too ({@code MADV_RANDOM}), a cure not kept for its
     * cost (each fault brought one page; row 4's log fell from 9.6 to 2.6 M records/s). The handler now
     * allocates and gives back whole {@linkplain FolioUnit folio units}, which no folio straddles, and
     * mappings keep read-around.
     */
    @ParameterizedTest(name = "prepare-ahead: {0}")
    @ValueSource(booleans = {false, true})
    void shouldWriteTheWholeDiskWithConcurrentLogs(boolean prepareAhead) throws Exception {
        long free = fs.usableSpace();
        AtomicLong firstNoSpace = new AtomicLong(-1);
        AtomicLong acked = new AtomicLong();
        long[] pages = new long[WRITERS];
        ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
        List<Path> files = new ArrayList<>();
        try (StorageHandler storage = handler();
             PrepareAhead ahead = prepareAhead ? StorageHandlers.prepareAhead(storage, HandlerKind.AHEAD) : null) {
            WriteFaultHandler handler = ahead != null ? ahead : storage;
            List<Thread> threads = new ArrayList<>();
            for (int w = 0; w < WRITERS; w++) {
                int writer = w;
                Path file = fs.dir().resolve("log-" + w);
                files.add(file);
                threads.add(Thread.ofPlatform().name("log-" + w).start(() -> {
                    try (MappedRegion region = region(file, free & -PAGE, handler)) {
                        pages[writer] = writeUntilNoSpace(region, writer,
                                () -> firstNoSpace.compareAndSet(-1, acked.get()), acked);
                    } catch (Throwable t) {
                        errors.add(t);
                    }
                }));
            }
            for (Thread t : threads) {
                t.join();
            }
        }
        if (!errors.isEmpty()) {
            AssertionError e = new AssertionError("a writer failed with something other than NoSpaceException: "
                    + errors.peek(), errors.peek());
            errors.stream().skip(1).forEach(e::addSuppressed);
            throw e;
        }
        System.out.printf("ext4, concurrent logs, %s, %d KiB granules, %d KiB folio units: %d of %d free pages"
                + " written, %d before the first NoSpaceException%n", prepareAhead ? "prepare-ahead" : "fallocate",
                GRANULE >> 10, folio() >> 10, acked.get(), free / PAGE, firstNoSpace.get());
        for (int w = 0; w < WRITERS; w++) {
            assertPages(files.get(w), w, pages[w]);
        }
        assertFull(acked.get(), folio() / PAGE);
    }

    // ---------------------------------------------------------------------------------------------

    /**
     * Runs {@code held} on a thread of its own until it reaches the seam of {@code storage}'s granules
     * ({@link GranuleAllocator#afterGranuleForTests}), and holds it there while {@code writing} is written
     * page by page until its write finds no space; then lets it go on. It may get {@link NoSpaceException},
     * and nothing else. When the write found no space, {@code heldFile} must hold no more than {@code keep}
     * bytes (the folio unit of a page written, or less), and no folio unit may free once it goes on.
     * {@code what} names what the held thread may still hold: blocks of {@code heldFile}.
     *
     * @return the pages written
     */
    private static long writeWhileHeld(StorageHandler storage, Runnable held, MappedRegion writing, String what,
                                       Path heldFile, long keep) throws Exception {
        SeamHold hold = new SeamHold();
        storage.granules().afterGranuleForTests(hold);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread holder = Thread.ofPlatform().start(() -> {
            try {
                held.run();
            } catch (NoSpaceException e) {
                // the writer may have had every free page by the time it goes on
            } catch (Throwable t) {
                failure.set(t);
            }
        });
        long written;
        long heldBytes;
        try {
            assertTrue(hold.awaitReached(), "the held thread never reached the seam");
            written = writeUntilNoSpace(writing, 0, () -> { }, new AtomicLong());
            heldBytes = GiveBackTest.allocatedBytes(heldFile);
        } finally {
            hold.release();
            holder.join();
            storage.granules().afterGranuleForTests(null);
        }
        assertNull(failure.get());
        long freed = fs.usableSpace();
        assertTrue(heldBytes <= keep && freed < folio(), "no space reported after " + written + " pages while "
                + what + " held " + heldBytes + " bytes of " + heldFile.getFileName() + " (" + keep + " may be kept),"
                + " and " + freed + " bytes were free once it went on (a folio unit is " + folio() + ")");
        assertPages(writing.path(), 0, written);
        return written;
    }

    /**
     * Writes page after page of {@code region} with its own pattern ({@link DiskFullTest#pattern}, writer
     * {@code writer}) until a write gets {@link NoSpaceException}, which must name that page; runs
     * {@code onNoSpace} then, and adds each page written to {@code acked}.
     *
     * @return the pages written
     */
    private static long writeUntilNoSpace(MappedRegion region, int writer, Runnable onNoSpace, AtomicLong acked) {
        for (long p = 0; (p + 1) * PAGE <= region.size(); p++) {
            try {
                region.put(p * PAGE, DiskFullTest.pattern(writer, p * PAGE, PAGE));
                acked.incrementAndGet();
            } catch (NoSpaceException e) {
                onNoSpace.run();
                assertEquals(p * PAGE, e.offset());
                assertEquals(region.path(), e.path());
                return p;
            }
        }
        return fail("the region never found the disk full");
    }

    /** Reads back the first {@code pages} pages of {@code file}, written by {@link #writeUntilNoSpace}. */
    private static void assertPages(Path file, int writer, long pages) throws IOException {
        assertPages(file, writer, 0, pages);
    }

    /** Reads back pages {@code [first, first + pages)} of {@code file}, written with {@code writer}'s pattern. */
    private static void assertPages(Path file, int writer, long first, long pages) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            for (long p = first; p < first + pages; p++) {
                ByteBuffer b = ByteBuffer.allocate(PAGE);
                while (b.hasRemaining() && ch.read(b, p * PAGE + b.position()) >= 0) {
                    // reads the whole page
                }
                assertArrayEquals(DiskFullTest.pattern(writer, p * PAGE, PAGE), b.array(),
                        "acknowledged page " + p + " of " + file.getFileName() + " was lost");
            }
        }
    }

    /**
     * The filesystem is full, less than a folio unit free, and its files (but the filler) hold the
     * {@code pages} pages written and nothing else, but up to {@code extra} blocks a file: no free folio unit
     * was left to a writer that got no space, and no block is held that no writer uses. A file may hold more
     * than its pages: the leaf of its extent tree, and the rest of the folio unit of its last pages, which a
     * fault allocates whole; so {@code extra} is a folio unit's pages.
     */
    private static void assertFull(long pages, long extra) throws Exception {
        long held = 0;
        StringBuilder each = new StringBuilder();
        List<Path> files;
        try (var list = java.nio.file.Files.list(fs.dir())) {
            files = list.filter(p -> !p.getFileName().toString().equals("filler")).toList();
        }
        for (Path f : files) {
            long bytes = GiveBackTest.allocatedBytes(f);
            held += bytes;
            each.append(' ').append(f.getFileName()).append('=').append(bytes / PAGE);
        }
        long usable = fs.usableSpace();
        assertTrue(usable < folio(), "a writer got no space with " + usable + " bytes free, a folio unit "
                + folio());
        long beyond = held / PAGE - pages;
        assertTrue(beyond >= 0 && beyond <= extra * files.size(), "the files hold " + held / PAGE
                + " blocks (" + each.toString().trim() + ") for " + pages + " pages written");
    }

    /**
     * {@code storage}, whose first fault first reads the region's file (its first {@code size} bytes, in
     * 256 KiB chunks from the start) through the region's descriptor ({@link dev.mkwrite.WriteFault#file()}).
     */
    private static WriteFaultHandler readingFirst(StorageHandler storage, long size) {
        AtomicBoolean read = new AtomicBoolean();
        return before(storage, fault -> {
            if (read.compareAndSet(false, true)) {
                ByteBuffer chunk = ByteBuffer.allocateDirect(256 << 10);
                for (long pos = 0; pos < size; pos += chunk.capacity()) {
                    chunk.clear();
                    while (chunk.hasRemaining() && fault.file().read(chunk, pos + chunk.position()) >= 0) {
                        // reads the whole chunk
                    }
                }
            }
        });
    }

    /** Reads {@code file}'s first {@code size} bytes in 256 KiB chunks through a descriptor with readahead. */
    private static void readThroughItsOwnDescriptor(Path file, long size) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer chunk = ByteBuffer.allocateDirect(256 << 10);
            for (long pos = 0; pos < size; pos += chunk.capacity()) {
                chunk.clear();
                while (chunk.hasRemaining() && ch.read(chunk, pos + chunk.position()) >= 0) {
                    // reads the whole chunk
                }
            }
        }
    }

    /** What a handler of {@link #before} runs at a fault, before its storage handler. */
    private interface FaultHook {
        void run(WriteFault fault) throws IOException;
    }

    /** {@code storage}, with {@code hook} run at each fault before it. */
    private static WriteFaultHandler before(StorageHandler storage, FaultHook hook) {
        return new WriteFaultHandler() {
            @Override
            public FaultResult prepare(WriteFault fault) throws IOException, InterruptedException {
                hook.run(fault);
                return storage.prepare(fault);
            }

            @Override
            public boolean preparesOverwrites(Path path) {
                return storage.preparesOverwrites(path);
            }

            @Override
            public void regionClosed(Path path) {
                storage.regionClosed(path);
            }
        };
    }

    /**
     * {@link StorageFsx} on ext4, which keeps what a failed {@code fallocate} got and needs blocks for a
     * written-back page's next write: random writes, truncates, grows, holes and reopens on a nearly full
     * disk, every byte checked through the region's own reads (a read of a hole allocates nothing here).
     */
    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("fsxRuns")
    void shouldKeepEveryAcknowledgedByteThroughRandomOperationsOnANearlyFullDisk(HandlerKind kind, Backing backing)
            throws Exception {
        System.out.println(new StorageFsx(fs, kind, backing, StorageFsxTest.SEED + kind.ordinal() * 2L
                + backing.ordinal(), 2L << 20).run(StorageFsxTest.OPS / 2));
    }

    static Stream<Arguments> fsxRuns() {
        return Stream.of(HandlerKind.FALLOCATE, HandlerKind.ZERO_FILL, HandlerKind.PREPARE_AHEAD)
                .flatMap(k -> Arrays.stream(Backing.values())
                        .map(b -> Arguments.of(k, b)));
    }

    /**
     * Zero-fill with native access, after a punch of a whole folio unit whose pages faults had touched: the
     * first page faulting in it again used to fill itself and the untouched units only, since a touched unit
     * is its own fault's to fill; the pages touched before the punch stayed holes beside it, in the folio the
     * kernel's next fault of that page needs blocks for (SIGBUS on a full disk). Now such a fault allocates
     * its whole folio unit, the touched units with fallocate, which changes no byte a writer may be storing.
     */
    @Test
    void shouldAllocateTheTouchedUnitsOfAFolioUnitAZeroFillPreparesAfterAPunch() throws Exception {
        Path file = fs.dir().resolve("punched-then-filled");
        long size = 2L << 20; // one largest folio unit: the punch takes it whole
        try (StorageHandler storage = StorageHandlers.zeroFill(GRANULE)) {
            storage.folioUnitForTests(SMALL_FOLIO);
            try (MappedRegion region = region(file, size, storage)) {
                region.putLong(0, 1);
                region.putLong(PAGE, 2); // page 1 touched: its units are its own fault's
                region.putLong(SMALL_FOLIO + PAGE, 3); // and a page of the next folio unit
                region.flush();
                region.punchHole(0, size);
                assertEquals(0, GiveBackTest.allocatedBytes(file), "the punch took the unit whole");

                region.putLong(0, 4); // page 0 again: its folio unit holds page 1, touched before the punch
                assertEquals(GRANULE - SMALL_FOLIO, GiveBackTest.allocatedBytes(file), "page 0's folio unit whole,"
                        + " and the folio units of its granule no fault touched");
                region.putLong(PAGE, 5);
                region.putLong(SMALL_FOLIO + PAGE, 6);
                assertEquals(4, region.getLong(0));
                assertEquals(5, region.getLong(PAGE));
                assertEquals(6, region.getLong(SMALL_FOLIO + PAGE));
                assertEquals(GRANULE, GiveBackTest.allocatedBytes(file));
            }
        }
    }

    /**
     * As {@link #shouldAllocateTheTouchedUnitsOfAFolioUnitAZeroFillPreparesAfterAPunch}, where the fallocate
     * of the folio unit finds no space (the file answers ENOSPC to every allocation): the write reports no
     * space, and so does the write of another page of the folio unit, which must not be taken as prepared
     * beside the hole, also after a no-wait write of the first page was refused (no give-back moved the
     * mapping period then, so whatever that write's fill recorded still counts). Once there is space, both
     * are written and the folio unit is allocated whole.
     */
    @Test
    void shouldReportNoSpaceWhereAZeroFillCannotAllocateATouchedHoleOfItsFolioUnit() throws Exception {
        Path file = fs.dir().resolve("punched-then-full");
        long size = 2L << 20;
        AtomicBoolean full = new AtomicBoolean();
        try (StorageHandler storage = StorageHandlers.zeroFill(GRANULE)) {
            storage.folioUnitForTests(SMALL_FOLIO);
            WriteFaultHandler fullWhenAsked = new WriteFaultHandler() {
                @Override
                public FaultResult prepare(WriteFault fault) throws IOException, InterruptedException {
                    return storage.prepare(new dev.mkwrite.ForwardingWriteFault(fault) {
                        @Override
                        public dev.mkwrite.StorageFile file() {
                            return new ForwardingFile(delegate().file()) {
                                @Override
                                public Outcome allocate(long offset, long length) throws IOException {
                                    return full.get() ? Outcome.NO_SPACE : super.allocate(offset, length);
                                }
                            };
                        }
                    });
                }
            };
            try (MappedRegion region = region(file, size, fullWhenAsked)) {
                region.putLong(0, 1);
                region.putLong(PAGE, 2);
                region.flush();
                region.punchHole(0, size);
                full.set(true);

                assertNull(region.tryWrite(0, 8), "a no-wait write is refused: no edge, no reclaim");
                NoSpaceException e = assertThrows(NoSpaceException.class, () -> region.putLong(0, 3));
                assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
                assertNull(region.tryWrite(0, 8));
                assertThrows(NoSpaceException.class, () -> region.putLong(2L * PAGE, 4),
                        "page 2 was taken as prepared beside the hole of page 1");
                full.set(false);
                region.putLong(0, 3);
                region.putLong(2L * PAGE, 4);
                region.putLong(PAGE, 5);
                assertEquals(3, region.getLong(0));
                assertEquals(5, region.getLong(PAGE));
                assertEquals(4, region.getLong(2L * PAGE));
                assertTrue(GiveBackTest.allocatedBytes(file) >= SMALL_FOLIO, "page 0's folio unit is not whole: "
                        + GiveBackTest.allocatedBytes(file));
            }
        }
    }

    /** Allocates granules and populates each page: see the class documentation. */
    private static StorageHandler handler() {
        return handler(GRANULE);
    }

    /** {@link #handler()} with granules of {@code granule} bytes. */
    private static StorageHandler handler(long granule) {
        return StorageHandlers.create(StorageHandler.Allocation.FALLOCATE, Math.toIntExact(granule), true);
    }

    /** The folio unit of the files on the test's ext4: see {@link FolioUnit}. */
    private static long folio() {
        return FolioUnit.of(fs.dir());
    }

    private static MappedRegion region(Path file, long size, WriteFaultHandler handler) throws IOException {
        return MappedRegion.builder(file).size(size).pageSize(PAGE).handler(handler).open();
    }
}
