package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.FaultResult;
import dev.mkwrite.HandlerFailedException;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.Reservation;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.WriteSpan;
import dev.mkwrite.impl.storage.StorageHandler;
import dev.mkwrite.impl.storage.StorageHandlers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Write fault-around: a handler whose preparation covers the pages after the faulting one takes them in
 * the same fault. They are PREPARED, not dirty, until a write enters them; every rule holds for each.
 */
class FaultAroundTest {

    static final int PAGE = 4096;

    @TempDir
    Path dir;

    /** A tracking handler that takes every page offered around its fault, each with its own reservation. */
    private static TrackingHandler takingAll() {
        return new TrackingHandler((fault, h) -> {
            fault.prepareAround(fault.aroundPages(), page -> {
                TrackingHandler.Tracked t = new TrackingHandler.Tracked(page, fault.generation(), fault.length(), h);
                h.reservations.add(t);
                return t;
            });
            return h.reserve(fault);
        });
    }

    private MappedRegion open(Backing backing, long size, WriteFaultHandler handler) throws IOException {
        return MappedRegion.builder(dir.resolve("around.dat")).size(size).pageSize(PAGE).backing(backing)
                .handler(handler).open();
    }

    private static String state(MappedRegion region, long page) {
        return ReliabilityProbe.state(region, page);
    }

    private static long generation(MappedRegion region, long page) {
        return PageState.generation(RegionHandle.regionOf(region).stateWord(page));
    }

    /** The region's dirty ranges, each {offset, length}: for this test and others. */
    static List<long[]> dirty(MappedRegion region) {
        List<long[]> ranges = new ArrayList<>();
        region.dirtyRanges((offset, length) -> ranges.add(new long[] {offset, length}));
        return ranges;
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldPrepareTheRunAfterAFaultWithOneHandlerCall(Backing backing) throws IOException {
        TrackingHandler handler = takingAll();
        try (MappedRegion region = open(backing, 64L * PAGE, handler)) {
            region.putByte(0, (byte) 1);
            assertEquals(1, handler.calls());
            assertEquals("WRITABLE", state(region, 0));
            for (long p = 1; p <= Around.PAGES; p++) {
                assertEquals("PREPARED", state(region, p), "page " + p);
            }
            assertEquals("CLEAN", state(region, Around.PAGES + 1));
            assertEquals(1 + Around.PAGES, handler.reservations.size());
            for (long p = 1; p <= Around.PAGES; p++) {
                region.putByte(p * PAGE + 7, (byte) p);
                assertEquals("WRITABLE", state(region, p), "page " + p);
            }
            assertEquals(1, handler.calls(), "a write into a PREPARED page calls no handler");
            region.putByte((Around.PAGES + 1L) * PAGE, (byte) 1);
            assertEquals(2, handler.calls());
            assertEquals(Around.PAGES + 2, region.flush());
            assertEquals(2L + 2 * Around.PAGES, handler.reservations.size());
        }
        assertEquals(0, handler.live());
        assertEquals(0, handler.endedTwice());
        assertEquals(Around.PAGES + 2, handler.consumed());
    }

    /**
     * A reservation whose {@code bytes()} throws (the application's code: it is only asked for the
     * statistics) after the handler prepared pages around its fault: the pages around used to stay PREPARING
     * with no owner (a write into one waited forever) and their reservations never ended. Its size is now
     * counted as 0, logged, and the fault goes on.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldGoOnWhenAReservationsSizeThrows(Backing backing) throws Exception {
        goOnWhenSizeThrows(backing, false);
    }

    /**
     * As above, the size running out of memory: that went through mkwrite, between it and a reservation it
     * owned. The fault threw, and the reservation it was given was never released; a flush's consume, or a
     * release, never reached the reservation. Counted as 0 too, now.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldGoOnWhenAReservationsSizeRunsOutOfMemory(Backing backing) throws Exception {
        goOnWhenSizeThrows(backing, true);
    }

    private void goOnWhenSizeThrows(Backing backing, boolean outOfMemory) throws Exception {
        TrackingHandler handler = new TrackingHandler((fault, h) -> {
            fault.prepareAround(fault.aroundPages(), page -> Reservation.none());
            TrackingHandler.Tracked t = h.reserve(fault);
            return new Reservation() {
                @Override
                public long bytes() {
                    if (outOfMemory) {
                        throw new OutOfMemoryError("test: no size");
                    }
                    throw new IllegalStateException("test: no size");
                }

                @Override
                public void consume() {
                    t.consume();
                }

                @Override
                public void release() {
                    t.release();
                }
            };
        });
        try (MappedRegion region = open(backing, 64L * PAGE, handler)) {
            region.putByte(0, (byte) 1);
            assertEquals("PREPARED", state(region, 1), "the page after the fault");
            dev.mkwrite.WriteSpan span = region.tryWrite(PAGE, 8);
            assertTrue(span != null, "page 1 is " + state(region, 1));
            span.close();
            assertEquals(2, region.flush());
        }
        assertEquals(0, handler.live());
        assertEquals(0, handler.endedTwice());
    }

    /** Exact dirty tracking: pages prepared around a fault are neither reported dirty nor written back. */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldKeepPreparedPagesOutOfTheDirtyRangesAndTheFlush(Backing backing) throws IOException {
        TrackingHandler handler = takingAll();
        try (MappedRegion region = open(backing, 64L * PAGE, handler)) {
            region.putByte(5, (byte) 1);
            List<long[]> ranges = dirty(region);
            assertEquals(1, ranges.size());
            assertEquals(0, ranges.get(0)[0]);
            assertEquals(PAGE, ranges.get(0)[1]);
            assertEquals(1, region.stats().writablePages());
            assertEquals(1, region.flush(), "only the page written is written back");
            assertEquals(List.of(0L), handler.writebacks);
            assertEquals("PREPARED", state(region, 3), "a flush leaves the prepared pages ready");
            region.putByte(3L * PAGE, (byte) 3);
            assertEquals(1, handler.calls());
            ranges = dirty(region);
            assertEquals(1, ranges.size());
            assertEquals(3L * PAGE, ranges.get(0)[0]);
            assertEquals(PAGE, ranges.get(0)[1]);
        }
        assertEquals(0, handler.live());
        assertEquals(0, handler.endedTwice());
        assertEquals(2, handler.consumed(), "pages 0 and 3 were written back");
        assertEquals(Around.PAGES - 1, handler.released(), "the pages never written are released at close");
    }

    /** K6 for the pages of a run: truncate and punch release them, and their next write prepares afresh. */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldReleasePreparedPagesThatATruncateOrPunchRemoves(Backing backing) throws IOException {
        TrackingHandler handler = takingAll();
        try (MappedRegion region = open(backing, 64L * PAGE, handler)) {
            region.putByte(0, (byte) 1);
            long before = generation(region, 6);
            region.truncate(4L * PAGE);
            region.grow(64L * PAGE);
            assertTrue(generation(region, 6) > before, "page 6 moved to a new generation");
            assertEquals("CLEAN", state(region, 6));
            long released = handler.reservations.stream().filter(t -> t.page >= 4 && t.released.get() == 1).count();
            assertEquals(Around.PAGES - 3, released, "pages 4.." + Around.PAGES + " released once each");
            region.putByte(6L * PAGE, (byte) 6);
            assertEquals(2, handler.calls(), "the truncated page is prepared again");
            assertEquals(6, handler.calls.get(1).page());
            assertEquals(generation(region, 6), handler.calls.get(1).generation());

            region.punchHole(2L * PAGE, PAGE);
            assertEquals("CLEAN", state(region, 2));
            assertEquals(1, handler.reservations.stream().filter(t -> t.page == 2 && t.released.get() == 1).count());
            region.putByte(2L * PAGE, (byte) 2);
            assertEquals(3, handler.calls(), "the punched page is prepared again");
        }
        assertEquals(0, handler.live());
        assertEquals(0, handler.endedTwice());
    }

    /** A shrink that leaves a PREPARED page partly covered: it was prepared for a whole page, so it ends. */
    @Test
    void shouldDropAPreparedPageWhoseExtentATruncateChanges() throws IOException {
        TrackingHandler handler = takingAll();
        try (MappedRegion region = open(Backing.MEMORY_SEGMENT, 64L * PAGE, handler)) {
            region.putByte(0, (byte) 1);
            region.truncate(3L * PAGE + 100);
            assertEquals("CLEAN", state(region, 3));
            region.putByte(3L * PAGE + 5, (byte) 1);
            assertEquals(2, handler.calls());
            assertEquals(100, handler.calls.get(1).length());
        }
        assertEquals(0, handler.live());
        assertEquals(0, handler.endedTwice());
    }

    /** The offer holds only pages wholly inside the region. */
    @Test
    void shouldNotOfferAPartlyCoveredLastPage() throws IOException {
        TrackingHandler handler = takingAll();
        try (MappedRegion region = open(Backing.MEMORY_SEGMENT, 4L * PAGE + 10, handler)) {
            region.putByte(0, (byte) 1);
            assertEquals("PREPARED", state(region, 3));
            assertEquals("CLEAN", state(region, 4));
            region.putByte(4L * PAGE + 9, (byte) 1);
            assertEquals(2, handler.calls());
            assertEquals(10, handler.calls.get(1).length());
        }
        assertEquals(0, handler.live());
    }

    /** A write over many pages takes them all in one fault, and publishes them together. */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldTakeTheWritesOwnPagesInOneFault(Backing backing) throws IOException {
        TrackingHandler handler = takingAll();
        try (MappedRegion region = open(backing, 128L * PAGE, handler)) {
            try (WriteSpan span = region.write(PAGE, 40L * PAGE)) {
                span.segment().fill((byte) 7);
            }
            assertEquals(1, handler.calls());
            for (long p = 1; p <= 40; p++) {
                assertEquals("WRITABLE", state(region, p), "page " + p);
            }
            assertEquals("CLEAN", state(region, 41));
            assertEquals(40, region.flush());
        }
        assertEquals(0, handler.live());
        assertEquals(40, handler.consumed());
    }

    /** A failed fault leaves nothing of its run behind (K7); a dropped lock gives the run back too (K4, K5). */
    @Test
    void shouldGiveTheRunBackWhenTheHandlerFailsOrDropsTheLock() throws IOException {
        AtomicReference<String> mode = new AtomicReference<>("fail");
        AtomicReference<MappedRegion> opened = new AtomicReference<>();
        AtomicReference<String> whileDropped = new AtomicReference<>();
        TrackingHandler handler = new TrackingHandler((fault, h) -> {
            if (!fault.isRetry()) {
                fault.prepareAround(fault.aroundPages(), page -> {
                    TrackingHandler.Tracked t = new TrackingHandler.Tracked(page, fault.generation(), PAGE, h);
                    h.reservations.add(t);
                    return t;
                });
            }
            if (mode.get().equals("fail")) {
                throw new IllegalStateException("boom");
            }
            if (mode.get().equals("drop") && fault.mayDropLock()) {
                fault.dropLock();
                whileDropped.set(state(opened.get(), 1) + " " + fault.aroundPages());
                return FaultResult.RETRY;
            }
            return h.reserve(fault);
        });
        try (MappedRegion region = open(Backing.MEMORY_SEGMENT, 64L * PAGE, handler)) {
            opened.set(region);
            assertThrows(HandlerFailedException.class, () -> region.putByte(0, (byte) 1));
            for (long p = 0; p <= Around.PAGES; p++) {
                assertEquals("CLEAN", state(region, p), "page " + p);
            }
            assertEquals(0, handler.live());
            assertEquals(0, region.stats().preparingPages());
            mode.set("drop");
            region.putByte(0, (byte) 1);
            assertEquals("WRITABLE", state(region, 0));
            assertEquals("CLEAN 0", whileDropped.get(), "the run went back when the lock was dropped (G7)");
            assertEquals("CLEAN", state(region, 1));
            assertEquals(1, handler.live());
        }
        assertEquals(0, handler.live());
        assertEquals(0, handler.endedTwice());
    }

    @Test
    void shouldCheckPrepareAroundsArguments() throws IOException {
        List<Throwable> seen = new ArrayList<>();
        java.util.concurrent.atomic.AtomicInteger taken = new java.util.concurrent.atomic.AtomicInteger(-1);
        TrackingHandler handler = new TrackingHandler((fault, h) -> {
            int offered = fault.aroundPages();
            try {
                fault.prepareAround(offered + 1, page -> Reservation.none());
            } catch (IllegalArgumentException e) {
                seen.add(e);
            }
            try {
                fault.prepareAround(1, null);
            } catch (NullPointerException e) {
                seen.add(e);
            }
            taken.set(fault.prepareAround(3, page -> page == 3 ? null : Reservation.none()));
            return h.reserve(fault);
        });
        try (MappedRegion region = open(Backing.MEMORY_SEGMENT, 64L * PAGE, handler)) {
            region.putByte(0, (byte) 1);
            assertEquals(2, seen.size(), seen.toString());
            assertEquals(2, taken.get(), "a null reservation ends the run before its page");
            assertEquals("PREPARED", state(region, 2));
            assertEquals("CLEAN", state(region, 3), "the page whose reservation was null");
            assertEquals(0, region.stats().preparingPages());
            region.putByte(3L * PAGE, (byte) 3); // faults: the page went back
            assertEquals(2, handler.calls());
        }
    }

    /** The built-in no-op handler takes every page offered. */
    @Test
    void shouldTakeTheRunWithTheNoOpHandler() throws IOException {
        try (MappedRegion region = open(Backing.MEMORY_SEGMENT, 64L * PAGE, WriteFaultHandler.none())) {
            region.putByte(0, (byte) 1);
            assertEquals("PREPARED", state(region, Around.PAGES));
            assertEquals(1, region.stats().faults());
        }
    }

    /** The fallocate handler takes no pages around a fault unless asked to. */
    @Test
    void shouldTakeNothingWithTheFallocateHandlerByDefault() throws IOException {
        try (StorageHandler storage = StorageHandlers.fallocate(8 * PAGE);
             MappedRegion region = open(Backing.MEMORY_SEGMENT, 64L * PAGE, storage)) {
            region.putByte(2L * PAGE, (byte) 1);
            assertEquals("CLEAN", state(region, 3));
        }
    }

    /**
     * With fault-around on, the fallocate handler takes the pages its granule allocated, and no further. On
     * tmpfs, whose folio unit is a page: on a disk a file's granule is at least its folio unit (up to 2 MiB,
     * see {@code FolioUnit}), beyond the 16 pages fault-around offers.
     */
    @Test
    void shouldTakeTheGranuleWithTheFallocateHandler() throws IOException {
        Path shm = Path.of("/dev/shm");
        assumeTrue(java.nio.file.Files.isDirectory(shm) && java.nio.file.Files.isWritable(shm)
                && java.nio.file.Files.getFileStore(shm).type().equals("tmpfs"), "needs a tmpfs at /dev/shm");
        Path file = java.nio.file.Files.createTempFile(shm, "mkwrite-around-", ".dat");
        try (StorageHandler storage = StorageHandlers.fallocate(8 * PAGE).faultAround(true);
             MappedRegion region = MappedRegion.builder(file).size(64L * PAGE).pageSize(PAGE)
                     .backing(Backing.MEMORY_SEGMENT).handler(storage).open()) {
            region.putByte(2L * PAGE, (byte) 1);
            assertEquals("WRITABLE", state(region, 2));
            for (long p = 3; p < 8; p++) {
                assertEquals("PREPARED", state(region, p), "page " + p);
            }
            assertEquals("CLEAN", state(region, 8), "the next granule is not allocated");
            region.putByte(7L * PAGE, (byte) 1);
            assertEquals("WRITABLE", state(region, 7));
            assertEquals(6, region.stats().reservationsOutstanding(), "pages 2 to 7, each its own");
        } finally {
            java.nio.file.Files.deleteIfExists(file);
        }
    }

    /**
     * The api's storage handlers turn it on too (a user codes against dev.mkwrite alone), off by default. The
     * file is a whole number of the largest folio unit (2 MiB): the end of a file cuts no folio unit then,
     * and only a cut one goes without fault-around (its pages are prepared in part).
     */
    @Test
    void shouldTurnOnThroughTheApisStorageHandlers() throws IOException {
        try (dev.mkwrite.WriteFaultHandlers.Storage storage = dev.mkwrite.WriteFaultHandlers.fallocate(8 * PAGE);
             MappedRegion region = open(Backing.MEMORY_SEGMENT, 2L << 20, storage)) {
            region.putByte(0, (byte) 1);
            assertEquals("CLEAN", state(region, 1), "off by default");
            assertTrue(storage.faultAround(true) == storage, "returns the handler");
            region.putByte(8L * PAGE, (byte) 1);
            for (long p = 9; p < 16; p++) {
                assertEquals("PREPARED", state(region, p), "page " + p);
            }
            long faults = region.stats().faults();
            for (long p = 9; p < 16; p++) {
                region.putByte(p * PAGE, (byte) 1);
            }
            assertEquals(faults, region.stats().faults(), "entering a PREPARED page is no fault");
        }
    }
}
