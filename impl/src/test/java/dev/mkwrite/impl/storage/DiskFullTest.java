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

                long far = 512 << 10;
                NoSpaceException e = assertThrows(NoSpaceException.class, () -> region.put(far, record));
                assertEquals(far, e.offset());
                assertEquals(file, e.path());

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
                assertEquals(0, region.stats().reservationsOutstanding());
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
        long hole = 1 << 20;
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
            assertEquals(0, region.stats().reservationsOutstanding());
        }
    }

    // ---------------------------------------------------------------------------------------------

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
            // write (each fault finds its page allocated), and no write dies.
            for (long off : acked) {
                region.put(off, pattern(writer + 100, off, RECORD));
            }
            region.flush();
            RegionStats stats = region.stats();
            assertEquals(0, stats.writablePages(), "pages still dirty after flush: " + stats);
            assertEquals(0, stats.reservationsOutstanding(), "reservations outstanding: " + stats);
        }
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
