package dev.mkwrite.impl.storage;

import dev.mkwrite.FaultResult;
import dev.mkwrite.HandlerFailedException;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.NoSpaceException;
import dev.mkwrite.Reservation;
import dev.mkwrite.WriteFaultHandler;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The quota's accounting: charged once per page across clean cycles, given back on release, never exceeded. */
class SpaceQuotaTest {

    private static final int PAGE = 4096;

    @Test
    void shouldChargeAPageOnceHoweverOftenItIsWrittenBack(@TempDir Path dir) throws Exception {
        SpaceQuota quota = StorageHandlers.quota(1 << 20);
        try (MappedRegion region = MappedRegion.builder(dir.resolve("a")).size(1 << 20).handler(quota).open()) {
            for (int cycle = 0; cycle < 5; cycle++) {
                region.putLong(0, cycle);
                region.putLong(PAGE, cycle);
                assertEquals(cycle == 0 ? 2 * PAGE : 0, quota.reserved(), "cycle " + cycle);
                region.flush(); // consumes: the bytes are charged; the page stays prepared
                assertEquals(2 * PAGE, quota.charged(), "cycle " + cycle);
                assertEquals(2 * PAGE, quota.used(), "cycle " + cycle);
            }
            assertEquals(0, quota.reserved());
            // An overwrite takes nothing from the quota, so it keeps written-back pages prepared: each holds
            // mkwrite's empty reservation, and its next write takes no fault.
            assertEquals(2, region.stats().reservationsOutstanding());
        }
        assertEquals(2 * PAGE, quota.charged(), "closing the region keeps the data, and its charge");
    }

    /**
     * A fault that dropped the lock holds its reservation while a punch (or a truncate and a grow) renews the
     * page, and a fault of the new generation prepares it: the new fault found the old one's pending bytes
     * and took nothing, then the old reservation was released (its claim stale), and the page was written
     * with no byte of the quota held for it. A page now holds the longest of its open reservations until
     * each ends.
     */
    @Test
    void shouldTakeThePageAgainForANewGenerationWhileAStaleFaultStillHoldsIts(@TempDir Path dir) {
        SpaceQuota quota = StorageHandlers.quota(1 << 20);
        Path file = dir.resolve("a");
        Reservation stale = (Reservation) quota.prepare(new TestFault(file, 0, PAGE, PAGE, 0, MemorySegment.NULL));
        Reservation renewed = (Reservation) quota.prepare(new TestFault(file, 0, PAGE, PAGE, 1, MemorySegment.NULL));
        assertEquals(PAGE, quota.used(), "the page counts once");
        stale.release(); // the stale fault's retry finds its claim gone
        assertEquals(PAGE, quota.used(), "the new generation's fault holds the page now");
        renewed.consume();
        assertEquals(PAGE, quota.charged());
        assertEquals(0, quota.reserved());
    }

    /**
     * The last page of a region, written to 1000 bytes, ends its writeback; before its reservation is
     * consumed, a grow renews the page and a fault of the new generation takes the whole page. The page must
     * count once, at its new length: 1000 bytes, then the rest. (Keyed by generation, the new fault took the
     * whole page beside the old reservation's 1000 bytes, which the consume then charged as well.)
     */
    @Test
    void shouldChargeAGrownLastPageOnceWhenItsOldReservationIsConsumedLate(@TempDir Path dir) {
        SpaceQuota quota = StorageHandlers.quota(1 << 20);
        Path file = dir.resolve("a");
        Reservation old = (Reservation) quota.prepare(new TestFault(file, 0, PAGE, 1000, 0, MemorySegment.NULL));
        Reservation grown = (Reservation) quota.prepare(new TestFault(file, 0, PAGE, PAGE, 1, MemorySegment.NULL));
        assertEquals(PAGE - 1000, grown.bytes(), "the grown page's fault takes the difference");
        old.consume();
        assertEquals(PAGE, quota.used());
        grown.consume();
        assertEquals(PAGE, quota.used());
        assertEquals(PAGE, quota.charged());
        assertEquals(0, quota.reserved());
        assertEquals(PAGE, quota.punched(file, 0, PAGE), "the whole page given back");
        assertEquals(0, quota.used());
    }

    /**
     * A flush still holding a page's reservation when the region's close returns (its pages already CLEAN,
     * its consume not yet run), and the application forgets the deleted file: the late consume charged the
     * page to the forgotten file's record, which nothing could give back, so the quota stayed short by it.
     */
    @Test
    void shouldGiveBackWhatAReservationConsumedAfterItsFileWasForgottenHeld(@TempDir Path dir) {
        SpaceQuota quota = StorageHandlers.quota(1 << 20);
        Path file = dir.resolve("a");
        Reservation late = (Reservation) quota.prepare(new TestFault(file, 0, PAGE, PAGE, 0, MemorySegment.NULL));
        assertEquals(0, quota.forget(file), "nothing charged yet");
        late.consume();
        assertEquals(0, quota.used(), "the forgotten file's page holds nothing of the budget");
        assertEquals(0, quota.reserved());
    }

    /**
     * A page goes CLEAN when its writeback ends, just before its reservation is consumed: a fault on the page
     * in between (held open here by a handler before the quota in the chain, whose consume waits) must not
     * take the page from the budget again. Before, it did, and the page stayed charged twice.
     */
    @Test
    void shouldNotChargeAPageTwiceWhenItFaultsBeforeItsLastReservationIsConsumed(@TempDir Path dir) throws Exception {
        SpaceQuota quota = StorageHandlers.quota(1 << 20);
        CountDownLatch consuming = new CountDownLatch(1);
        CountDownLatch mayConsume = new CountDownLatch(1);
        AtomicInteger prepared = new AtomicInteger();
        WriteFaultHandler slowConsumer = fault -> {
            if (prepared.getAndIncrement() > 0) {
                return Reservation.none();
            }
            return new Reservation() {
                @Override
                public long bytes() {
                    return 0;
                }

                @Override
                public void consume() {
                    consuming.countDown();
                    try {
                        mayConsume.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            };
        };
        try (MappedRegion region = MappedRegion.builder(dir.resolve("a")).size(1 << 20)
                .handler(StorageHandlers.chain(slowConsumer, quota)).open()) {
            region.putLong(0, 1);
            Thread flusher = Thread.ofPlatform().start(() -> {
                try {
                    region.flush();
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            try {
                assertTrue(consuming.await(10, java.util.concurrent.TimeUnit.SECONDS), "the flush never consumed");
                region.putLong(0, 2); // the page is CLEAN: a fault, while its last reservation is not consumed
            } finally {
                mayConsume.countDown();
                flusher.join();
            }
            region.flush();
            assertEquals(PAGE, quota.charged(), "the page was charged twice");
            assertEquals(PAGE, quota.used());
            assertEquals(0, quota.reserved());
        }
    }

    @Test
    void shouldRefuseAPageThatDoesNotFitTheBudgetAndTakeItOnceSpaceIsGivenBack(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("a");
        SpaceQuota quota = StorageHandlers.quota(2 * PAGE);
        try (MappedRegion region = MappedRegion.builder(file).size(1 << 20).handler(quota).open()) {
            region.putLong(0, 1);
            region.putLong(PAGE, 2);
            NoSpaceException e = assertThrows(NoSpaceException.class, () -> region.putLong(2 * PAGE, 3));
            assertTrue(e.getMessage().contains("quota"), e.getMessage());
            assertEquals(2 * PAGE, e.offset());
            assertEquals(0, quota.available());
            region.putLong(8, 4); // prepared pages still take writes

            region.flush();
            region.truncate(PAGE); // page 1 is gone; mkwrite has nothing to release (it was flushed)
            assertEquals(PAGE, quota.truncated(file, PAGE), "the application gives page 1's charge back");
            region.grow(1 << 20);
            region.putLong(2 * PAGE, 3);
            assertEquals(2 * PAGE, quota.used());
        }
        assertEquals(2 * PAGE, quota.forget(file));
        assertEquals(0, quota.used());
    }

    @Test
    void shouldGiveBackTheChargesOfAPunchedHoleAndTheReservationsOfItsDirtyPages(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("a");
        SpaceQuota quota = StorageHandlers.quota(4 * PAGE);
        try (MappedRegion region = MappedRegion.builder(file).size(8 * PAGE).handler(quota).open()) {
            for (int p = 0; p < 4; p++) {
                region.putLong((long) p * PAGE, p);
            }
            region.flush(); // pages 0-3 charged
            region.putLong(2 * PAGE, 9); // a charged page takes nothing more when written again
            assertEquals(0, quota.available());
            assertThrows(NoSpaceException.class, () -> region.putLong(4 * PAGE, 1));
            region.punchHole(0, 2 * PAGE);
            assertEquals(0, quota.available(), "the punch alone cannot know the data is gone from the budget");
            assertEquals(2 * PAGE, quota.punched(file, 0, 2 * PAGE), "the application gives pages 0 and 1 back");
            assertEquals(0, quota.punched(file, 0, 2 * PAGE), "only once");
            region.putLong(4 * PAGE, 1);
            region.putLong(0, 1);
            assertEquals(0, quota.available());
            assertThrows(IllegalArgumentException.class, () -> quota.punched(file, -1, PAGE));
        }
    }

    @Test
    void shouldGiveBackTheReservationOfAWriteThatFailsInALaterHandler(@TempDir Path dir) throws Exception {
        SpaceQuota quota = StorageHandlers.quota(1 << 20);
        WriteFaultHandler failing = fault -> {
            throw new IOException("disk on fire");
        };
        try (MappedRegion region = MappedRegion.builder(dir.resolve("a")).size(1 << 20)
                .handler(StorageHandlers.chain(quota, failing)).open()) {
            HandlerFailedException e = assertThrows(HandlerFailedException.class, () -> region.putLong(0, 1));
            assertTrue(e.getMessage().contains("disk on fire"), e.getMessage());
            assertEquals(0, quota.used(), "the quota kept the bytes of a write that failed");
            assertEquals(0, region.stats().reservationsOutstanding());
        }
    }

    @Test
    void shouldGiveBackTheReservationsOfPagesTruncatedBeforeWriteback(@TempDir Path dir) throws Exception {
        SpaceQuota quota = StorageHandlers.quota(1 << 20);
        try (MappedRegion region = MappedRegion.builder(dir.resolve("a")).size(1 << 20).handler(quota).open()) {
            for (int p = 0; p < 8; p++) {
                region.putLong((long) p * PAGE, p);
            }
            assertEquals(8 * PAGE, quota.reserved());
            region.truncate(2 * PAGE); // mkwrite releases pages 2..7, still WRITABLE
            assertEquals(2 * PAGE, quota.used());
        }
        assertEquals(2 * PAGE, quota.charged(), "close wrote back and consumed the two pages left");
    }

    @Test
    void shouldChargeOnlyTheGrowthOfAPartialLastPage() {
        SpaceQuota quota = StorageHandlers.quota(1 << 20);
        Path file = Path.of("f");
        Reservation partial = (Reservation) quota.prepare(new TestFault(file, 0, PAGE, 1000, 0, null));
        assertEquals(1000, partial.bytes());
        partial.consume();
        Reservation growth = (Reservation) quota.prepare(TestFault.page(file, 0)); // the region grew
        assertEquals(PAGE - 1000, growth.bytes());
        growth.consume();
        assertEquals(PAGE, quota.charged());
        assertSame(Reservation.none(), quota.prepare(TestFault.page(file, 0)), "a charged page was charged again");
        assertEquals(PAGE, quota.truncated(file, 0));
        assertEquals(0, quota.used());
    }

    @Test
    void shouldNeverLetConcurrentFaultsExceedTheBudget() throws Exception {
        int pages = 64;
        SpaceQuota quota = StorageHandlers.quota(pages * PAGE);
        int threads = 4;
        AtomicInteger granted = new AtomicInteger();
        AtomicInteger refused = new AtomicInteger();
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> all = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int id = t;
            all.add(Thread.ofPlatform().start(() -> {
                try {
                    start.await();
                    for (int p = 0; p < pages; p++) {
                        try {
                            FaultResult r = quota.prepare(TestFault.page(Path.of("f" + id), p));
                            assertTrue(r instanceof Reservation);
                            granted.incrementAndGet();
                            assertTrue(quota.used() <= quota.budget());
                        } catch (NoSpaceException e) {
                            refused.incrementAndGet();
                        }
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }));
        }
        start.countDown();
        for (Thread t : all) {
            t.join();
        }
        assertEquals(pages, granted.get());
        assertEquals(pages * (threads - 1), refused.get());
        assertEquals(quota.budget(), quota.used());
        assertEquals(quota.budget(), quota.reserved());
    }

    @Test
    void shouldRejectANegativeBudget() {
        assertThrows(IllegalArgumentException.class, () -> StorageHandlers.quota(-1));
    }
}
