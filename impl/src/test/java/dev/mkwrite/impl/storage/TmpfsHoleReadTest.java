package dev.mkwrite.impl.storage;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A read fault on a hole of a tmpfs file allocates a page: through a raw mapping, a read of a page never
 * written dies with SIGBUS ({@code InternalError}) once the tmpfs is full, and takes space while it is
 * not. A region on tmpfs reads the pages no write has prepared through its descriptor: zeros for a hole,
 * no allocation, no SIGBUS; the pages writes prepared it reads through the mapping as anywhere else.
 */
class TmpfsHoleReadTest {

    private static final int PAGE = 4096;
    private static final int PAGES = 64;

    @RegisterExtension
    static final SmallFilesystem fs = new SmallFilesystem();

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldReadZerosFromHolesOfAFullTmpfsWithoutAllocating(Backing backing) throws Exception {
        Path file = fs.dir().resolve("holes-" + backing);
        byte[] written = DiskFullTest.pattern(3, 5 * PAGE, PAGE);
        try (StorageHandler storage = StorageHandlers.fallocate(PAGE)) { // a page a fault: nothing ahead
            try (MappedRegion region = MappedRegion.builder(file).size((long) PAGES * PAGE).pageSize(PAGE)
                    .backing(backing).handler(storage).open()) {
                region.put(5L * PAGE, written);
                fs.fillLeaving(fs.dir().resolve("filler"), 2 * PAGES); // room for every hole read to take a page
                long free = fs.usableSpace();
                assertReads(region, written);
                assertEquals(free, fs.usableSpace(), "reading holes took space");

                fs.fillLeaving(fs.dir().resolve("filler-2"), 0); // full: a read fault on a hole dies with SIGBUS
                assertReads(region, written);
            }
            // Reopened, every page is CLEAN, the written one too: all are read through the descriptor.
            try (MappedRegion region = MappedRegion.builder(file).size((long) PAGES * PAGE).pageSize(PAGE)
                    .backing(backing).handler(storage).open()) {
                long free = fs.usableSpace();
                assertReads(region, written);
                assertEquals(free, fs.usableSpace(), "reading holes took space");
            }
        }
    }

    /**
     * A read into a read-only segment is refused, naming the file and the offset, before anything is read:
     * a pread of a page no write prepared would otherwise have written through it (here, into the region's
     * own page 9, through a view).
     */
    @org.junit.jupiter.api.Test
    void shouldRefuseToReadIntoAReadOnlySegment() throws Exception {
        Path file = fs.dir().resolve("read-only-destination");
        try (StorageHandler storage = StorageHandlers.fallocate(PAGE);
             MappedRegion region = MappedRegion.builder(file).size((long) PAGES * PAGE).pageSize(PAGE)
                     .handler(storage).open()) {
            region.put(PAGE, DiskFullTest.pattern(1, PAGE, PAGE));
            region.flush();
            MemorySegment view = region.view(9L * PAGE, PAGE);
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(
                    IllegalArgumentException.class, () -> region.get(0, view));
            assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("offset 0"), e.getMessage());
            assertEquals(0, region.getLong(9L * PAGE), "page 9 was written through the view");
        }
    }

    /** Every way to read, over holes, over the written page 5, and across both. */
    private static void assertReads(MappedRegion region, byte[] written) {
        byte[] zeros = new byte[PAGE];
        byte[] page = new byte[PAGE];
        for (int p = 0; p < PAGES; p++) {
            if (p != 5) {
                region.get((long) p * PAGE, page, 0, PAGE);
                assertArrayEquals(zeros, page, "page " + p);
            }
        }
        region.get(5L * PAGE, page, 0, PAGE);
        assertArrayEquals(written, page);
        assertEquals(0, region.getLong(7L * PAGE + 8));
        assertEquals(0, region.getInt(9L * PAGE + 4));
        assertEquals(0, region.getByte(11L * PAGE + 1));
        assertEquals(written[8] & 0xFF, region.getByte(5L * PAGE + 8) & 0xFF);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment across = arena.allocate(3L * PAGE); // pages 4 (a hole), 5 (written), 6 (a hole)
            region.get(4L * PAGE, across);
            assertTrue(across.asSlice(0, PAGE).mismatch(MemorySegment.ofArray(zeros)) < 0, "page 4");
            assertTrue(across.asSlice(PAGE, PAGE).mismatch(MemorySegment.ofArray(written)) < 0, "page 5");
            assertTrue(across.asSlice(2L * PAGE, PAGE).mismatch(MemorySegment.ofArray(zeros)) < 0, "page 6");
        }
    }
}
