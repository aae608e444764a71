package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.OutOfRegionException;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.WriteSpan;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The edges between a write's two halves (Writes): the inlined fast half takes a write of at least one byte
 * within one WRITABLE page inside the region; the slow half everything else. Each write here is one the
 * fast half must hand over, or one that it pins and must then give back (the partial last page, where the
 * page is WRITABLE but the write ends past the region). Each must act exactly as before the split: the
 * same exception naming the file, the offset and the page, no pin left, the region usable after.
 */
class FastPathEdgesTest {

    static final int PAGE = 4096;
    /** One page and a part: the second page is the region's partial last page. */
    static final long SIZE = PAGE + 100;

    @TempDir
    Path dir;

    private MappedRegion open(Backing backing) throws IOException {
        return MappedRegion.builder(dir.resolve("edges.dat")).size(SIZE).pageSize(PAGE).backing(backing)
                .handler(WriteFaultHandler.none()).open();
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void aWriteThatEndsPastThePartialLastPageThrowsAndLeavesNoPin(Backing backing) throws IOException {
        try (MappedRegion region = open(backing)) {
            region.putByte(PAGE, (byte) 1); // the partial last page WRITABLE: the fast half pins it
            long faults = region.stats().faults();
            OutOfRegionException e = assertThrows(OutOfRegionException.class, () -> region.putLong(SIZE - 4, 7));
            assertTrue(e.getMessage().contains("edges.dat"), e.getMessage());
            assertTrue(e.getMessage().contains(String.valueOf(SIZE - 4)), e.getMessage());
            assertThrows(OutOfRegionException.class, () -> region.put(SIZE - 2, new byte[3], 0, 3));
            assertThrows(OutOfRegionException.class, () -> region.putInt(SIZE - 1, 7));
            assertEquals(0, region.stats().pins(), region.stats().toString());
            assertEquals(faults, region.stats().faults(), "no fault for a write the region does not hold");
            region.putLong(SIZE - 8, 42); // the last whole value still fits, and goes through
            assertEquals(42, region.getLong(SIZE - 8));
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void aWriteWhosePageAliasesAWritablePageFarPastTheEndThrowsAndWritesNothing(Backing backing) throws IOException {
        // The fast half looks a page's chunk up by the page's low bits (PageTable.chunkForFastPin): page 2^44
        // (offset 2^56) lands on chunk slot 0, index 0, page 0, WRITABLE. The size check after the pin must
        // give it back; page 2^43 (offset 2^55) gives a negative slot and goes straight to the slow half.
        try (MappedRegion region = open(backing)) {
            region.putLong(0, 5);
            long faults = region.stats().faults();
            for (long offset : new long[] {1L << 56, (1L << 56) + 8, 1L << 55, (1L << 56) + (3L << 44) * PAGE}) {
                OutOfRegionException e = assertThrows(OutOfRegionException.class, () -> region.putLong(offset, 9));
                assertTrue(e.getMessage().contains("edges.dat") && e.getMessage().contains(String.valueOf(offset)),
                        e.getMessage());
                assertThrows(OutOfRegionException.class, () -> region.put(offset, new byte[8], 0, 8));
                assertThrows(OutOfRegionException.class, () -> region.put(offset, MemorySegment.ofArray(new byte[8])));
            }
            assertEquals(5, region.getLong(0), "the aliased page was not written");
            assertEquals(0, region.getLong(8));
            assertEquals(0, region.stats().pins(), region.stats().toString());
            assertEquals(faults, region.stats().faults());
            region.putLong(0, 6);
            assertEquals(6, region.getLong(0));
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void badRangesGetTheSlowHalfsExceptionNamingFileOffsetAndPage(Backing backing) throws IOException {
        try (MappedRegion region = open(backing)) {
            region.putLong(0, 1); // page 0 WRITABLE, so only the range decides
            for (long offset : new long[] {-1, -PAGE, Long.MIN_VALUE}) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> region.putLong(offset, 2));
                assertTrue(e.getMessage().contains("putLong") && e.getMessage().contains("edges.dat")
                        && e.getMessage().contains("offset " + offset), e.getMessage());
            }
            // An end that overflows: a positive offset whose end is negative. The message names the page.
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> region.putLong(Long.MAX_VALUE - 3, 2));
            assertTrue(e.getMessage().contains("page " + ((Long.MAX_VALUE - 3) / PAGE)), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> region.put(Long.MAX_VALUE, MemorySegment.ofArray(new byte[2])));
            assertThrows(IllegalArgumentException.class, () -> region.put(-1, new byte[2], 0, 2));
            assertEquals(0, region.stats().pins(), region.stats().toString());
            region.putLong(8, 3);
            assertEquals(3, region.getLong(8));
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void anEmptyPutInsideAPageFaultsNothingAndPinsNothing(Backing backing) throws IOException {
        try (MappedRegion region = open(backing)) {
            region.put(100, new byte[0], 0, 0); // inside page 0, CLEAN: the fast half must not pin it
            region.put(100, MemorySegment.ofArray(new byte[0]));
            region.put(100, ByteBuffer.allocate(0));
            assertEquals(0, region.stats().faults(), region.stats().toString());
            assertEquals(0, region.stats().pins(), region.stats().toString());
            assertThrows(OutOfRegionException.class, () -> region.put(SIZE + 1, new byte[0], 0, 0));
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void aWriteAcrossAPageBoundaryTakesTheSlowHalfWhole(Backing backing) throws IOException {
        try (MappedRegion region = open(backing)) {
            region.putByte(0, (byte) 1);
            region.putByte(PAGE, (byte) 1); // both pages WRITABLE: the fast half still hands the write over
            byte[] bytes = new byte[16];
            for (int i = 0; i < bytes.length; i++) {
                bytes[i] = (byte) (i + 1);
            }
            region.put(PAGE - 8, bytes, 0, bytes.length);
            try (WriteSpan span = region.write(PAGE - 4, 8)) { // a span over both pages
                span.segment().set(ValueLayout.JAVA_INT_UNALIGNED, 0, 9);
            }
            byte[] back = new byte[8];
            region.get(PAGE, back, 0, 8);
            byte[] expected = new byte[8];
            System.arraycopy(bytes, 8, expected, 0, 8);
            assertArrayEquals(expected, back, "the second page's half of the write");
            assertEquals(0, region.stats().pins(), region.stats().toString());
        }
    }
}
