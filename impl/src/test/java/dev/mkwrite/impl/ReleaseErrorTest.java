package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.NoSpaceException;
import dev.mkwrite.RegionStats;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A {@code Reservation.release()} that throws an Error (an assertion in the application's code, say) in the
 * middle of a loop over pages: a truncate's, a punch's, a failed write's giving back of its claims. The loop
 * settles every page first, then throws the first Error, the others suppressed in it. Thrown at once, it left
 * the rest of the loop's pages as they were: past the new end and FROZEN, or claimed PREPARING for good (the
 * next write of such a page waited forever), their reservations never released.
 */
class ReleaseErrorTest {

    private static final int PAGE = 4096;

    @TempDir
    Path dir;

    /** Pages whose reservation's release throws, and the pages whose release was called (each once). */
    private final Set<Long> throwing = ConcurrentHashMap.newKeySet();
    private final Set<Long> releaseCalled = ConcurrentHashMap.newKeySet();

    private TrackingHandler handler(long noSpacePage) {
        TrackingHandler h = new TrackingHandler((fault, t) -> {
            if (fault.page() == noSpacePage) {
                throw new NoSpaceException("test: no space", fault.path(), fault.offset(), fault.page());
            }
            return t.reserve(fault);
        });
        h.endHook = (reservation, consumed) -> {
            if (!consumed) {
                assertTrue(releaseCalled.add(reservation.page), "page " + reservation.page + " released twice");
                if (throwing.contains(reservation.page)) {
                    throw new AssertionError("test: release() of page " + reservation.page);
                }
            }
        };
        return h;
    }

    private MappedRegion open(Backing backing, TrackingHandler handler) throws IOException {
        return MappedRegion.builder(dir.resolve("release-error.dat")).size(4L * PAGE).pageSize(PAGE)
                .backing(backing).handler(handler).open();
    }

    private static void writeAll(MappedRegion region) {
        for (int p = 0; p < 4; p++) {
            region.putLong((long) p * PAGE + 8, p + 1);
        }
    }

    private static AssertionError assertReleaseError(Throwable e, long page, long suppressedPage) {
        AssertionError a = (AssertionError) e;
        assertEquals("test: release() of page " + page, a.getMessage());
        assertTrue(java.util.Arrays.stream(a.getSuppressed())
                        .anyMatch(s -> ("test: release() of page " + suppressedPage).equals(s.getMessage())),
                "page " + suppressedPage + "'s error is suppressed in page " + page + "'s");
        return a;
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldFinishATruncateWhoseReservationsThrowFromRelease(Backing backing) throws IOException {
        TrackingHandler handler = handler(-1);
        try (MappedRegion region = open(backing, handler)) {
            writeAll(region);
            throwing.add(2L);
            throwing.add(3L);
            Throwable e = assertThrows(AssertionError.class, () -> region.truncate(2L * PAGE));
            assertEquals(Set.of(2L, 3L), releaseCalled, "both removed pages' reservations go back");
            assertEquals(2L * PAGE, region.size(), "the truncate went through");
            assertReleaseError(e, 2, 3);
            RegionStats stats = region.stats();
            assertEquals(2, stats.writablePages(), stats.toString());
            assertEquals(2, stats.reservationsOutstanding(), stats.toString());

            // Usable, with every byte below the new end; the removed pages come back empty and fault again.
            assertEquals(2, region.getLong(PAGE + 8));
            region.grow(4L * PAGE);
            assertEquals(0, region.getLong(3L * PAGE + 8));
            assertEquals("CLEAN", ReliabilityProbe.state(region, 3));
            region.putLong(3L * PAGE + 8, 33);
            assertEquals(3, region.flush());
            assertEquals(33, region.getLong(3L * PAGE + 8));
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldFinishAPunchWhoseReservationsThrowFromRelease(Backing backing) throws IOException {
        TrackingHandler handler = handler(-1);
        try (MappedRegion region = open(backing, handler)) {
            writeAll(region);
            throwing.add(1L);
            throwing.add(2L);
            Throwable e = assertThrows(AssertionError.class, () -> region.punchHole(PAGE, 2L * PAGE));
            assertEquals(Set.of(1L, 2L), releaseCalled);
            assertEquals("CLEAN", ReliabilityProbe.state(region, 1));
            assertEquals("CLEAN", ReliabilityProbe.state(region, 2), "the page after the first error's");
            assertReleaseError(e, 1, 2);
            assertEquals("WRITABLE", ReliabilityProbe.state(region, 3));
            assertEquals(0, region.getLong(2L * PAGE + 8));
            region.putLong(2L * PAGE + 8, 22); // faults again: prepared anew
            assertEquals(5, handler.calls(), "page 2 was prepared again");
            assertEquals(3, region.flush());
            assertEquals(22, region.getLong(2L * PAGE + 8));
            assertEquals(4, region.getLong(3L * PAGE + 8));
        }
    }

    /**
     * A write over pages 0 to 2 whose page 2 finds no space: pages 0 and 1, claimed and prepared, go back.
     * Page 0's reservation throws from release; page 1's claim went back all the same, and its next write
     * does not wait for it.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldGiveEveryClaimBackWhenAReservationThrowsFromRelease(Backing backing) throws IOException {
        TrackingHandler handler = handler(2);
        try (MappedRegion region = open(backing, handler)) {
            throwing.add(0L);
            throwing.add(1L);
            Throwable e = assertThrows(AssertionError.class, () -> region.put(0, new byte[3 * PAGE], 0, 3 * PAGE));
            assertEquals(Set.of(0L, 1L), releaseCalled);
            RegionStats stats = region.stats();
            assertEquals(0, stats.preparingPages(), stats.toString());
            assertEquals(0, stats.writablePages(), stats.toString());
            assertEquals(0, stats.reservationsOutstanding(), stats.toString());
            assertEquals("CLEAN", ReliabilityProbe.state(region, 1), "the claim after the first error's");
            assertReleaseError(e, 0, 1);

            throwing.clear();
            region.putLong(PAGE + 8, 11); // prepared anew
            assertEquals(11, region.getLong(PAGE + 8));
            assertEquals(1, region.flush());
        }
    }

    /**
     * A reservation's {@code release()} that calls back into its region, here a grow from inside a truncate's
     * removal of its page: the region lock, held exclusive by the truncate, let the same thread in again, and
     * the grow ran in the middle of the truncate's work. Refused now, as from inside the handler, naming the
     * file; the truncate goes on.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldRefuseACallIntoTheRegionFromInsideARelease(Backing backing) throws IOException {
        java.util.concurrent.atomic.AtomicReference<MappedRegion> self = new java.util.concurrent.atomic.AtomicReference<>();
        java.util.concurrent.atomic.AtomicReference<Throwable> refused = new java.util.concurrent.atomic.AtomicReference<>();
        TrackingHandler handler = new TrackingHandler();
        handler.endHook = (reservation, consumed) -> {
            if (!consumed && reservation.page == 3) {
                try {
                    self.get().grow(8L * PAGE);
                } catch (Throwable t) {
                    refused.set(t);
                }
            }
        };
        try (MappedRegion region = open(backing, handler)) {
            self.set(region);
            writeAll(region);
            region.truncate(3L * PAGE);
            assertTrue(refused.get() instanceof IllegalStateException, String.valueOf(refused.get()));
            assertTrue(refused.get().getMessage().contains("grow()")
                    && refused.get().getMessage().contains("release()")
                    && refused.get().getMessage().contains("release-error.dat"), refused.get().getMessage());
            assertEquals(3L * PAGE, region.size(), "the truncate alone happened");
            assertEquals(3, region.getLong(2L * PAGE + 8));
        }
    }

    /**
     * A reservation's {@code bytes()}, read as the fault that got it takes it over, with the region lock held
     * shared: a grow from there waited for the exclusive lock its own thread's shared hold kept from it, for
     * good. Refused now; the write goes on.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldRefuseACallIntoTheRegionFromInsideBytes(Backing backing) throws Exception {
        java.util.concurrent.atomic.AtomicReference<MappedRegion> self = new java.util.concurrent.atomic.AtomicReference<>();
        java.util.concurrent.atomic.AtomicReference<Throwable> refused = new java.util.concurrent.atomic.AtomicReference<>();
        dev.mkwrite.Reservation growing = () -> {
            try {
                self.get().grow(8L * PAGE);
            } catch (Throwable t) {
                refused.compareAndSet(null, t);
            }
            return PAGE;
        };
        TrackingHandler handler = new TrackingHandler((fault, h) -> growing);
        try (MappedRegion region = open(backing, handler)) {
            self.set(region);
            Blocking.within("writer", () -> {
                region.putLong(8, 5);
                return null;
            });
            assertTrue(refused.get() instanceof IllegalStateException, String.valueOf(refused.get()));
            assertTrue(refused.get().getMessage().contains("grow()"), refused.get().getMessage());
            assertEquals(5, region.getLong(8));
            assertEquals(4L * PAGE, region.size());
        }
    }
}
