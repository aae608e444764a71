package dev.mkwrite.impl.storage;

import dev.mkwrite.impl.os.Errno;
import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.NoSpaceException;
import dev.mkwrite.RegionStats;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Writes through regions on a real, small filesystem until it is full: with a storage handler, no write
 * dies with {@code InternalError}; the write that needs space gets {@link NoSpaceException}; everything
 * acknowledged before it survives close and reopen; and the region keeps working.
 */
class DiskFullTest {

    /** Records straddle pages, so a write can need two pages and fail on the second. */
    private static final int RECORD = 6000;
    private static final int WRITERS = 4;
    private static final int FLUSH_EVERY = 32;

    @RegisterExtension
    static final SmallFilesystem fs = new SmallFilesystem();


    static Stream<Arguments> kindsAndBackings() {
        List<Arguments> all = new ArrayList<>();
        for (HandlerKind kind : HandlerKind.values()) {
            for (Backing backing : Backing.values()) {
                all.add(Arguments.of(kind, backing));
            }
        }
        return all.stream();
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("kindsAndBackings")
    void shouldFailOnlyWithNoSpaceAndKeepEveryAcknowledgedByteWhenRegionsOvercommitTheDisk(HandlerKind kind,
                                                                                          Backing backing)
            throws Exception {
        long free = fs.usableSpace();
        long regionSize = free / 2 & -4096L; // four regions: twice the free space
        Outcome outcome = writeConcurrently(kind, backing, regionSize);

        System.out.printf("over-commit %s/%s: %d bytes free, %d regions of %d, %d bytes acknowledged (%.1f%% of free),"
                        + " %d writes failed with NoSpaceException%n", kind, backing, free, WRITERS, regionSize,
                outcome.ackedBytes, 100.0 * outcome.ackedBytes / free, outcome.noSpace);
        assertTrue(outcome.noSpace > 0, "the regions add up to twice the free space, so writes must fail");
        assertTrue(outcome.ackedBytes <= free, "more acknowledged than the disk holds: " + outcome.ackedBytes);
        assertTrue(outcome.ackedBytes >= free / 2, "the handler wasted most of the disk: only "
                + outcome.ackedBytes + " of " + free + " bytes acknowledged");
        outcome.verify();
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("kindsAndBackings")
    void shouldNeverFailWhenTheRegionsFitTheFreeSpace(HandlerKind kind, Backing backing) throws Exception {
        long free = fs.usableSpace();
        long regionSize = free / 8 & -(long) HandlerKind.GRANULE; // half of the free space in all
        Outcome outcome = writeConcurrently(kind, backing, regionSize);

        assertEquals(0, outcome.noSpace, "writes failed although the regions fit the disk");
        assertEquals(WRITERS * (regionSize / RECORD) * RECORD, outcome.ackedBytes);
        outcome.verify();
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("kindsAndBackings")
    void shouldSucceedWithTheSameWriteOnceSpaceIsFreed(HandlerKind kind, Backing backing) throws Exception {
        Path file = fs.dir().resolve("region");
        Path filler = fs.dir().resolve("filler");
        byte[] record = pattern(1, 0, 4096);
        try (HandlerKind.Setup setup = kind.open()) {
            try (MappedRegion region = MappedRegion.builder(file).size(1 << 20).backing(backing)
                    .handler(setup.handler).open()) {
                region.put(0, record); // prepared before the disk fills
                region.flush();
                fill(filler);

                // What the handler allocated ahead of page 0 (the rest of its granule, and the granules
                // prepare-ahead took) goes to the writes that need space, then one finds none.
                long far = firstNoSpace(region, 512 << 10, record, file);
                assertTrue(far - (512 << 10) <= (1 + HandlerKind.AHEAD) * HandlerKind.GRANULE,
                        "more was given back than was allocated ahead: " + (far - (512 << 10)) + " bytes");

                // Pages already prepared keep taking writes, even after writeback made them CLEAN.
                region.put(0, pattern(2, 0, 4096));
                region.flush();
                region.put(0, pattern(3, 0, 4096));

                Files.delete(filler);
                region.put(far, record); // the write that failed now succeeds, on the same region

                byte[] back = new byte[4096];
                region.get(far, back, 0, back.length);
                assertArrayEquals(record, back);
                region.get(0, back, 0, back.length);
                assertArrayEquals(pattern(3, 0, 4096), back);
                region.flush();
                assertNothingReservedButKeptPages(region.stats());
            }
        }
    }

    /**
     * A punched hole frees its blocks, and its pages are prepared again before their next write: once the
     * freed space is used up by another file, a write into the hole gets {@link NoSpaceException}, not the
     * {@code InternalError} of a store into a page the handler wrongly believed allocated.
     */
    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("kindsAndBackings")
    void shouldFreeSpaceByPunchingAHoleAndPrepareThePunchedPagesAgain(HandlerKind kind, Backing backing)
            throws Exception {
        Path file = fs.dir().resolve("region");
        Path filler = fs.dir().resolve("filler");
        long hole = 2 << 20; // a whole folio unit: a punch frees whole 2 MiB units only (Resizing.discard)
        try (HandlerKind.Setup setup = kind.open();
             MappedRegion region = MappedRegion.builder(file).size(fs.usableSpace() * 2 & -4096L).backing(backing)
                     .handler(setup.handler).open()) {
            long end = 0;
            try {
                for (; end < region.size(); end += 4096) {
                    region.put(end, pattern(1, end, 4096));
                }
                fail("the region is twice the free space, so a write must fail");
            } catch (NoSpaceException e) {
                assertEquals(end, e.offset(), "the first write that found no space");
            }
            assertTrue(end > 2 * hole, "only " + end + " bytes fitted");
            region.flush();

            region.punchHole(0, hole);
            region.put(end, pattern(1, end, 4096)); // the write that failed now has room

            fill(filler); // uses up the space the hole freed
            firstNoSpace(region, end + 4096, pattern(3, 0, 4096), file); // and what was allocated ahead of writers
            NoSpaceException again = assertThrows(NoSpaceException.class, () -> region.put(4096, pattern(2, 0, 4096)),
                    "a punched page must be prepared again before it is written");
            assertEquals(4096, again.offset());
            Files.delete(filler);
            region.put(4096, pattern(2, 0, 4096));

            byte[] back = new byte[4096];
            region.get(0, back, 0, back.length);
            assertArrayEquals(new byte[4096], back, "the rest of the hole reads zero");
            region.get(4096, back, 0, back.length);
            assertArrayEquals(pattern(2, 0, 4096), back);
            for (long off = hole; off <= end; off += 4096) {
                region.get(off, back, 0, back.length);
                assertArrayEquals(pattern(1, off, 4096), back, "acknowledged page at " + off);
            }
            region.flush();
            assertNothingReservedButKeptPages(region.stats());
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Space at the edge (issue 14): with granules of 1 MiB, as a port used them, the space a handler
    // allocated ahead of its writers must not be lost to the write that finds the disk full.

    /** The granule the port used. */
    static final int PORT_GRANULE = 1 << 20;
    /** Each item of the small-files workload is a file mapped at this size and written in part. */
    static final int ITEM_FILE = 256 << 10;
    private static final long ITEMS_SEED = 14;
    /** What the raw mapping wrote of the items before its first InternalError (run once, in a child JVM). */
    private static long rawItemBytes = -1;

    static Stream<HandlerKind> edgeKinds() {
        return Stream.of(HandlerKind.values());
    }

    /**
     * Four logs written at once until the first write that finds no space: a raw mapping gets every page of
     * the filesystem by then (it allocates page by page), so the acknowledged bytes must reach 99% of the
     * space that was free, at most about a page per file lost. Granules allocated ahead of the writers
     * must be given back to the write that needs the space.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("edgeKinds")
    void shouldAcknowledgeNearlyAllTheFreeSpaceBeforeTheFirstNoSpaceWithConcurrentLogs(HandlerKind kind)
            throws Exception {
        long free = fs.usableSpace();
        java.util.concurrent.atomic.AtomicLong acked = new java.util.concurrent.atomic.AtomicLong();
        java.util.concurrent.atomic.AtomicBoolean full = new java.util.concurrent.atomic.AtomicBoolean();
        ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
        try (HandlerKind.Setup setup = kind.open(PORT_GRANULE)) {
            List<Thread> threads = new ArrayList<>();
            for (int w = 0; w < WRITERS; w++) {
                int writer = w;
                threads.add(Thread.ofPlatform().name("log-" + w).start(() -> {
                    try (MappedRegion region = MappedRegion.builder(fs.dir().resolve("log-" + writer))
                            .size(free & -4096L).backing(Backing.MEMORY_SEGMENT).handler(setup.handler).open()) {
                        for (long off = 0; !full.get() && off + RECORD <= region.size(); off += RECORD) {
                            try {
                                region.put(off, pattern(writer, off, RECORD));
                                acked.addAndGet(RECORD);
                            } catch (NoSpaceException e) {
                                full.set(true);
                            }
                        }
                    } catch (Throwable t) {
                        errors.add(t);
                    }
                }));
            }
            for (Thread t : threads) {
                t.join();
            }
        }
        assertTrue(errors.isEmpty(), () -> "a writer failed with something other than NoSpaceException: " + errors);
        assertTrue(full.get(), "the logs add up to four times the free space, so a write must find none");
        double share = 100.0 * acked.get() / free;
        System.out.printf("edge, concurrent logs, %s, %d KiB granules: %d of %d free bytes acknowledged before the"
                + " first NoSpaceException (%.2f%%)%n", kind, PORT_GRANULE >> 10, acked.get(), free, share);
        assertTrue(share >= 99.0, String.format("only %.2f%% of the free space was acknowledged", share));
    }

    /**
     * Items written one file each, every file mapped at 256 KiB and written in part, until the first write
     * that finds no space: at least 99% of the bytes a raw mapping writes before its first
     * {@code InternalError}. A file smaller than the granule must not keep the space of its whole mapping.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("edgeKinds")
    void shouldAcknowledgeNearlyWhatARawMappingWritesBeforeTheFirstNoSpaceWithSmallFiles(HandlerKind kind)
            throws Exception {
        long raw = rawItemBytes();
        long acked = 0;
        int files = 0;
        try (HandlerKind.Setup setup = kind.open(PORT_GRANULE)) {
            for (int item : items(ITEMS_SEED)) {
                try (MappedRegion region = MappedRegion.builder(fs.dir().resolve("item-" + files++)).size(ITEM_FILE)
                        .backing(Backing.MEMORY_SEGMENT).handler(setup.handler).open()) {
                    region.put(0, pattern(files, 0, item));
                    acked += item;
                } catch (NoSpaceException e) {
                    break;
                }
            }
        }
        double share = 100.0 * acked / raw;
        System.out.printf("edge, small files, %s, %d KiB granules: %d bytes in %d files acknowledged before the"
                + " first NoSpaceException, %.2f%% of the raw mapping's %d%n", kind, PORT_GRANULE >> 10, acked,
                files - 1, share, raw);
        assertTrue(share >= 99.0, String.format("only %.2f%% of what a raw mapping wrote", share));
    }

    /** The sizes of the items, each a multiple of 8 from 16 KiB to {@link #ITEM_FILE}. */
    static List<Integer> items(long seed) {
        java.util.Random random = new java.util.Random(seed);
        List<Integer> sizes = new ArrayList<>();
        for (int i = 0; i < 4096; i++) {
            sizes.add((16 << 10) + 8 * random.nextInt((ITEM_FILE - (16 << 10)) / 8 + 1));
        }
        return sizes;
    }

    private static synchronized long rawItemBytes() throws Exception {
        if (rawItemBytes < 0) {
            ChildJvm.Result r = ChildJvm.onClassPath(List.of(), RawItemsWriter.class, fs.dir().toString(),
                    String.valueOf(ITEMS_SEED));
            assertTrue(r.stdout().contains("died"), "the raw mapping never met a full disk: " + r);
            String acked = r.stdout().lines().filter(l -> l.startsWith("acked=")).findFirst().orElseThrow();
            rawItemBytes = Long.parseLong(acked.substring("acked=".length()));
            System.out.println("edge, small files, raw mapping: " + rawItemBytes + " bytes before InternalError; "
                    + r.stdout().lines().filter(l -> l.startsWith("files=")).findFirst().orElse(""));
            fs.clear();
        }
        return rawItemBytes;
    }

    // ---------------------------------------------------------------------------------------------

    /**
     * Writes {@code record} into fresh pages from {@code from} on until one finds no space, and returns the
     * offset of that write; none may die with {@code InternalError}.
     */
    private static long firstNoSpace(MappedRegion region, long from, byte[] record, Path file) {
        for (long at = from; at + record.length <= region.size(); at += 4096) {
            try {
                region.put(at, record);
            } catch (NoSpaceException e) {
                assertEquals(at, e.offset());
                assertEquals(file, e.path());
                return at;
            }
        }
        return fail("the region never found the disk full");
    }

    /** Fills the filesystem with {@code filler} until it reports no space. */
    private static void fill(Path filler) throws IOException {
        ByteBuffer chunk = ByteBuffer.allocate(64 << 10);
        try (FileChannel ch = FileChannel.open(filler, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            for (int size = chunk.capacity(); size >= 1; size /= 2) {
                try {
                    for (;;) {
                        chunk.clear().limit(size);
                        while (chunk.hasRemaining()) {
                            ch.write(chunk);
                        }
                    }
                } catch (IOException e) {
                    if (!Errno.isNoSpace(e)) {
                        throw e;
                    }
                }
            }
        }
    }

    private Outcome writeConcurrently(HandlerKind kind, Backing backing, long regionSize) throws Exception {
        Outcome outcome = new Outcome(regionSize);
        try (HandlerKind.Setup setup = kind.open()) {
            List<Thread> threads = new ArrayList<>();
            for (int w = 0; w < WRITERS; w++) {
                int writer = w;
                Path file = fs.dir().resolve("region-" + w);
                outcome.files.add(file);
                outcome.acked.add(new ArrayList<>());
                outcome.failed.add(new ArrayList<>());
                threads.add(Thread.ofPlatform().name("writer-" + w).start(() -> {
                    try {
                        writeOne(writer, file, backing, regionSize, setup, outcome);
                    } catch (Throwable t) {
                        outcome.errors.add(t);
                    }
                }));
            }
            for (Thread t : threads) {
                t.join();
            }
            for (int w = 0; w < WRITERS; w++) {
                outcome.ackedBytes += (long) outcome.acked.get(w).size() * RECORD;
                outcome.noSpace += outcome.failed.get(w).size();
            }
            if (setup.quota != null) {
                assertEquals(0, setup.quota.reserved(), "quota reservations leaked: " + setup.quota);
            }
        }
        if (!outcome.errors.isEmpty()) {
            Throwable first = outcome.errors.peek();
            AssertionError e = new AssertionError("a writer failed with something other than NoSpaceException: "
                    + first, first);
            outcome.errors.forEach(t -> {
                if (t != first) {
                    e.addSuppressed(t);
                }
            });
            throw e;
        }
        return outcome;
    }

    private static void writeOne(int writer, Path file, Backing backing, long regionSize, HandlerKind.Setup setup,
                                 Outcome outcome) throws IOException {
        List<Long> acked = outcome.acked.get(writer);
        List<Long> failed = outcome.failed.get(writer);
        try (MappedRegion region = MappedRegion.builder(file).size(regionSize).backing(backing)
                .handler(setup.handler).open()) {
            int n = 0;
            for (long off = 0; off + RECORD <= regionSize; off += RECORD) {
                try {
                    region.put(off, pattern(writer, off, RECORD));
                    acked.add(off);
                } catch (NoSpaceException e) {
                    assertEquals(file, e.path());
                    failed.add(off);
                }
                if (++n % FLUSH_EVERY == 0) {
                    region.flush();
                }
            }
            region.flush();
            // The region keeps working after the disk filled: every acknowledged record takes a new
            // write (its page kept prepared after writeback, or a fault that finds it allocated), and no
            // write dies.
            for (long off : acked) {
                region.put(off, pattern(writer + 100, off, RECORD));
            }
            region.flush();
            RegionStats stats = region.stats();
            assertEquals(0, stats.writablePages(), "pages still dirty after flush: " + stats);
            assertNothingReservedButKeptPages(stats);
        }
    }

    /**
     * After a flush with no writer: the only reservations left are the empty ones of pages kept prepared
     * after their writeback (this tmpfs overwrites in place, see StorageHandler.preparesOverwrites).
     */
    static void assertNothingReservedButKeptPages(RegionStats stats) {
        assertEquals(stats.preparedPages(), stats.reservationsOutstanding(), "reservations outstanding: " + stats);
        assertEquals(0, stats.reservedBytes(), "reserved bytes: " + stats);
    }

    /** A record whose bytes depend on the writer and offset, so misplaced bytes are caught. */
    static byte[] pattern(int writer, long offset, int length) {
        byte[] b = new byte[length];
        long x = (writer + 1) * 0x9E3779B97F4A7C15L ^ offset;
        for (int i = 0; i < length; i++) {
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            b[i] = (byte) (x | 1); // never zero, so a zeroed byte is caught
        }
        return b;
    }

    private static final class Outcome {
        final long regionSize;
        final List<Path> files = new ArrayList<>();
        final List<List<Long>> acked = new ArrayList<>();
        final List<List<Long>> failed = new ArrayList<>();
        final ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
        long ackedBytes;
        long noSpace;

        Outcome(long regionSize) {
            this.regionSize = regionSize;
        }

        /** Reopens every file and checks every acknowledged record, and that no failed write landed. */
        void verify() throws IOException {
            for (int w = 0; w < files.size(); w++) {
                try (FileChannel ch = FileChannel.open(files.get(w), StandardOpenOption.READ)) {
                    assertEquals(regionSize, ch.size());
                    for (long off : acked.get(w)) {
                        assertArrayEquals(pattern(w + 100, off, RECORD), read(ch, off),
                                "acknowledged record of writer " + w + " at " + off + " was lost");
                    }
                    for (long off : failed.get(w)) {
                        assertArrayEquals(new byte[RECORD], read(ch, off),
                                "a write that failed landed: writer " + w + " at " + off);
                    }
                }
            }
        }

        private static byte[] read(FileChannel ch, long off) throws IOException {
            ByteBuffer b = ByteBuffer.allocate(RECORD);
            while (b.hasRemaining()) {
                if (ch.read(b, off + b.position()) < 0) {
                    fail("file ends before " + (off + b.position()));
                }
            }
            return b.array();
        }
    }
}
