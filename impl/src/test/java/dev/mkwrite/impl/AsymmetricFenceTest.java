package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.RegionClosedException;
import dev.mkwrite.impl.os.Errno;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A drainer whose registration for the expedited membarrier fails ({@link AsymmetricFence}): it throws
 * before it changes a page, so the region goes on as if the operation had not been called, and the same
 * operation succeeds once the registration does. The registration is made to fail through
 * {@link AsymmetricFence#registerThroughForTests}.
 *
 * <p>The tests close their region at the end, not in a {@code finally}: a refused drain that left a page
 * under writeback or FROZEN (what these tests guard against) would make the close wait for it forever,
 * and hide the assertion that failed behind a timeout.
 */
class AsymmetricFenceTest {

    static final int PAGE = 4096;
    static final int PAGES = 8;
    /** Pages 0 .. DIRTY - 1 are written before the refused operations. */
    static final int DIRTY = 4;
    /** Past a native mapping's room to grow: the grow maps anew, and the old mapping retires. */
    static final long BEYOND_CAPACITY = 2 * Mapping.NativeMapping.MIN_CAPACITY;

    @TempDir
    Path dir;

    private final TrackingHandler handler = new TrackingHandler();

    @BeforeEach
    void onlyWithTheFence() {
        assumeTrue(AsymmetricFence.ON && BrokenRule.fencesPin(),
                "drainers register only with the asymmetric fence (native access, expedited membarrier)");
    }

    @AfterEach
    void registerThroughTheSystemCall() {
        AsymmetricFence.registerThroughForTests(null);
        AsymmetricFence.barrierThroughForTests(null);
    }

    private static void refuseRegistration() {
        AsymmetricFence.registerThroughForTests(() -> -Errno.ENOMEM);
    }

    private MappedRegion openDirty(Backing backing) throws IOException {
        MappedRegion region = MappedRegion.builder(dir.resolve("fence.dat")).size((long) PAGES * PAGE).pageSize(PAGE)
                .backing(backing).handler(handler).open();
        for (int p = 0; p < DIRTY; p++) {
            region.putLong((long) p * PAGE, p + 1);
        }
        return region;
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldRefuseAFlushBeforeItTakesAPageWhenTheRegistrationFails(Backing backing) throws Exception {
        MappedRegion region = openDirty(backing); // closed at the end, not on failure: see the class comment
        refuseRegistration();
        assertRefused(region::flush, "flush");
        assertUnchanged(region, "after the refused flush");
        assertRefused(() -> region.flush(0, PAGE), "flush of page 0");
        assertUnchanged(region, "after the refused flush of page 0");
        region.putLong(PAGE + 8, 42); // writers go on: no page was left under writeback
        assertEquals(42, region.getLong(PAGE + 8));

        AsymmetricFence.registerThroughForTests(null);
        assertEquals(DIRTY, region.flush(), "the next flush writes back every dirty page");
        for (int p = 0; p < DIRTY; p++) {
            assertEquals("CLEAN", ReliabilityProbe.state(region, p), "page " + p + " after the flush");
        }
        assertEquals(DIRTY, handler.consumed());
        region.close();
        assertEquals(0, handler.live());
        assertEquals(0, handler.endedTwice());
    }

    /**
     * An open whose path was replaced while it opened closes the region it opened over the old file, which
     * no handle reached, and opens the new one. That close needs no fence: with the registration failing,
     * it still lets the old file go (before, it threw from the registration and left the old file open).
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldLetAnUnusedRegionsFileGoWhenTheRegistrationFails(Backing backing) throws Exception {
        Path path = dir.resolve("replaced.dat");
        Files.write(path, new byte[PAGE]);
        refuseRegistration();
        RegionRegistry.afterOpenForTests(() -> {
            try { // a new file under the same name: the open finds its path naming another file
                Files.delete(path);
                Files.write(path, new byte[PAGE]);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        MappedRegion region = MappedRegion.builder(path).size(2L * PAGE).pageSize(PAGE).backing(backing)
                .handler(handler).open();
        assertEquals(0, deletedFilesOpen(path), "descriptors still open on the replaced file");
        region.putLong(0, 7);
        assertEquals(7, region.getLong(0));
        AsymmetricFence.registerThroughForTests(null);
        region.close();
    }

    /** Descriptors of this process on a deleted file that was at {@code path}. */
    private static long deletedFilesOpen(Path path) throws IOException {
        String deleted = path.toRealPath().getParent().resolve(path.getFileName()) + " (deleted)";
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.filter(fd -> {
                try {
                    return Files.readSymbolicLink(fd).toString().equals(deleted);
                } catch (IOException e) {
                    return false; // closed meanwhile
                }
            }).count();
        }
    }

    @Test
    void shouldThrowWhenADrainerFencesWithoutRegisteringFirst() {
        AsymmetricFence.registerThroughForTests(null); // forgets that the process registered
        IllegalStateException e = assertThrows(IllegalStateException.class, AsymmetricFence::heavy);
        assertTrue(String.valueOf(e.getMessage()).contains("registerDrainer"), e.getMessage());
        AsymmetricFence.registerDrainer();
        AsymmetricFence.heavy(); // registered: the barrier runs
    }

    /**
     * A drainer that needs no barrier (no other thread owns a slot) still throws if it missed its
     * registration: the mistake shows on its own, not only beside other writers, where it would throw
     * after the drainer's CAS.
     */
    @Test
    void shouldThrowWhenADrainerThatNeedsNoBarrierHasNotRegistered() {
        Pins pins = new Pins(RegionState.bare(dir.resolve("bare"), PAGE, PAGE), new Hazards(1));
        AsymmetricFence.registerThroughForTests(null); // forgets that the process registered
        IllegalStateException e = assertThrows(IllegalStateException.class, pins::fenceWriters);
        assertTrue(String.valueOf(e.getMessage()).contains("registerDrainer"), e.getMessage());
        AsymmetricFence.registerDrainer();
        pins.fenceWriters(); // registered, and alone: no barrier
        assertEquals(0, pins.fencesMade());
    }

    /**
     * The membarrier stands in for the fence of writers that published without one, so a drainer makes it
     * only when another live thread owns a hazard slot of the region that is not revoked
     * ({@link Hazards#beginRevoking}): a thread that writes and flushes alone (a durable-ack store) never pays
     * it; the first flush while another thread that wrote is alive does, and revokes that thread's slot, so
     * the flushes after it do not, while the thread lives on without writing or writes fewer than
     * {@link Hazards#REBIAS_AFTER} times (each such write fences itself); once it has, its slot is biased
     * again and the next flush pays once more.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldFenceOncePerRevocationOfAnotherLiveThreadsSlot(Backing backing) throws Exception {
        assumeTrue(!Boolean.getBoolean("dev.mkwrite.impl.testing.stateWordPins"), "no slot is owned when every"
                + " pin takes the state words, and no fence is needed then");
        MappedRegion region = openDirty(backing); // this thread wrote: it owns a slot
        Region r = RegionHandle.regionOf(region);
        for (int i = 0; i < 3; i++) {
            region.putLong(8L * i, i);
            assertEquals(1, region.flush(0, PAGE), "flush " + i + " of page 0");
        }
        assertEquals(DIRTY - 1, region.flush(), "the other dirty pages");
        assertEquals(0, r.fencesMade(), "membarriers made while this thread wrote alone");

        java.util.concurrent.SynchronousQueue<Integer> writes = new java.util.concurrent.SynchronousQueue<>();
        java.util.concurrent.SynchronousQueue<Boolean> done = new java.util.concurrent.SynchronousQueue<>();
        Thread other = new Thread(() -> {
            try {
                for (int n; (n = writes.take()) >= 0; ) {
                    for (int i = 0; i < n; i++) {
                        region.putLong(5L * PAGE + 8L * (i % 64), i); // claims a slot, and keeps it while it lives
                    }
                    done.put(true);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "other-writer");
        other.start();
        writes.put(1);
        done.take();
        region.putLong(0, 42);
        assertEquals(1, region.flush(0, PAGE));
        assertEquals(1, r.fencesMade(), "the first flush while another thread that wrote is alive");
        for (int i = 0; i < 3; i++) {
            region.putLong(0, 42 + i);
            assertEquals(1, region.flush(0, PAGE));
        }
        assertEquals(1, r.fencesMade(), "flushes after the other thread's slot was revoked");

        writes.put(Hazards.REBIAS_AFTER - 1); // fenced writes, each: the slot stays revoked
        done.take();
        assertEquals(1, region.flush(), "the other thread's page");
        assertEquals(1, r.fencesMade(), "flushes after fewer than REBIAS_AFTER writes of the revoked thread");
        assertEquals(Hazards.REBIAS_AFTER - 2, region.getLong(5L * PAGE + 8L * ((Hazards.REBIAS_AFTER - 2) % 64)));

        writes.put(1); // its REBIAS_AFTER-th fenced write: biased again
        done.take();
        region.putLong(0, 7);
        assertEquals(2, region.flush());
        assertEquals(2, r.fencesMade(), "the flush after the other thread's slot was biased again");
        region.putLong(0, 8);
        assertEquals(1, region.flush());
        assertEquals(2, r.fencesMade(), "and the flush after that, which found it revoked again");

        writes.put(-1);
        other.join();
        region.putLong(0, 43);
        assertEquals(1, region.flush());
        assertEquals(2, r.fencesMade(), "membarriers made once that thread had ended");
        assertEquals(43, region.getLong(0));
        region.close();
    }

    /**
     * The prepare-ahead daemon pins the pages it populates through their state words, so it owns no slot:
     * a thread that writes and flushes alone, with the daemon working ahead of it, still makes no membarrier
     * (the daemon lives on for seconds after its last step, and a slot stays owned while its thread lives).
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldNotFenceOnThePrepareAheadThreadsAccount(Backing backing) throws Exception {
        assumeTrue(!Boolean.getBoolean("dev.mkwrite.impl.testing.stateWordPins"), "as above");
        MappedRegion region = MappedRegion.builder(dir.resolve("ahead.dat")).size(256L * PAGE).pageSize(PAGE)
                .backing(backing).prepareAhead(32L * PAGE).handler(handler).open();
        region.putLong(0, 1);
        region.putLong(PAGE, 2); // page 1 continues page 0: the daemon prepares and populates pages 2..33
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
        while (region.stats().writablePages() < 34 && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        assertEquals(34, region.stats().writablePages(), "pages prepared by the daemon");
        Thread.sleep(100); // its last step populates (and pins) after it prepared
        region.putLong(2L * PAGE, 3);
        assertEquals(34, region.flush());
        assertEquals(0, RegionHandle.regionOf(region).fencesMade(), "membarriers made on the daemon's account");
        region.close();
    }

    /** The exclusive operations, each as the test calls it, and what it leaves once it succeeds. */
    enum Exclusive {
        FLUSH {
            @Override
            void run(MappedRegion region) throws IOException {
                region.flush();
            }

            @Override
            void assertDone(MappedRegion region) {
                for (int p = 0; p < DIRTY; p++) {
                    assertEquals("CLEAN", ReliabilityProbe.state(region, p), "page " + p + " after the flush");
                }
            }
        },
        PUNCH_HOLE {
            @Override
            void run(MappedRegion region) throws IOException {
                region.punchHole(0, PAGE);
            }

            @Override
            void assertDone(MappedRegion region) throws IOException {
                assertEquals(0, region.getLong(0), "page 0 punched");
                assertEquals(DIRTY - 1, region.flush(), "the dirty pages left written back");
            }
        },
        TRUNCATE {
            @Override
            void run(MappedRegion region) throws IOException {
                region.truncate(2L * PAGE);
            }

            @Override
            void assertDone(MappedRegion region) throws IOException {
                assertEquals(2L * PAGE, region.size());
                assertEquals(2, region.flush(), "the dirty pages left written back");
            }
        },
        /** Past the native mapping's room: a new mapping, the old one retired (its hazards snapshot). */
        GROW {
            @Override
            void run(MappedRegion region) throws IOException {
                region.grow(BEYOND_CAPACITY);
            }

            @Override
            void assertDone(MappedRegion region) throws IOException {
                assertEquals(BEYOND_CAPACITY, region.size());
                assertEquals(DIRTY, region.flush(), "the dirty pages written back");
            }
        },
        CLOSE {
            @Override
            void run(MappedRegion region) throws IOException {
                region.close();
            }

            @Override
            void assertDone(MappedRegion region) {
                assertTrue(RegionHandle.regionOf(region).isClosed(), "the region closed");
                assertThrows(RegionClosedException.class, () -> region.putLong(0, 1), "a write after close");
            }
        };

        abstract void run(MappedRegion region) throws IOException;

        abstract void assertDone(MappedRegion region) throws IOException;
    }

    static Stream<Arguments> backingsAndOperations() {
        return Stream.of(Backing.values())
                .flatMap(b -> Stream.of(Exclusive.values()).map(op -> Arguments.of(b, op)));
    }

    @ParameterizedTest
    @MethodSource("backingsAndOperations")
    void shouldRefuseAnExclusiveOperationBeforeItFreezesAPageWhenTheRegistrationFails(Backing backing, Exclusive op)
            throws Exception {
        MappedRegion region = openDirty(backing); // closed at the end, not on failure: see the class comment
        refuseRegistration();
        assertRefused(() -> op.run(region), op.name());
        assertUnchanged(region, "after the refused " + op);
        assertEquals(0, RegionHandle.regionOf(region).retiredMappings(), "mappings retired by the refused " + op);
        region.putLong(PAGE + 8, 42); // still open, and writable
        assertEquals(42, region.getLong(PAGE + 8));

        AsymmetricFence.registerThroughForTests(null);
        op.run(region);
        op.assertDone(region);
        region.close();
        assertEquals(0, handler.live(), "close ended every reservation");
        assertEquals(0, handler.endedTwice());
    }

    /**
     * The drainer's barrier itself failing (registered, the kernel still refuses: ENOMEM, say), where another
     * thread's slot needs it: the operation has already taken its pages (flush: to WRITEBACK; truncate and
     * punchHole: FROZEN) and throws. The barrier used to run before the try whose catch or finally gives the
     * pages back, so they stayed so for good: a later flush waited for them forever, a write into a FROZEN
     * page threw. Now every page goes back as it was, and the operation succeeds once the barrier does.
     */
    @ParameterizedTest
    @MethodSource("backingsAndDrainers")
    void shouldGiveEveryPageBackWhenTheBarrierFails(Backing backing, Exclusive op) throws Exception {
        assumeTrue(!Boolean.getBoolean("dev.mkwrite.impl.testing.stateWordPins"), "the other thread needs a slot");
        MappedRegion region = openDirty(backing); // closed at the end, not on failure: see the class comment
        try (AutoCloseable _ = otherWriter(region)) {
            AsymmetricFence.barrierThroughForTests(() -> -Errno.ENOMEM);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> op.run(region), op.name());
            assertTrue(String.valueOf(e.getMessage()).contains("MEMBARRIER_CMD_PRIVATE_EXPEDITED"), e.getMessage());
            AsymmetricFence.barrierThroughForTests(null);
            assertUnchanged(region, "after the " + op + " whose barrier failed");
            region.putLong(PAGE + 8, 42);
            assertEquals(42, region.getLong(PAGE + 8));
            op.run(region);
            op.assertDone(region);
        } finally {
            AsymmetricFence.barrierThroughForTests(null);
        }
        region.close();
        assertEquals(0, handler.live(), "close ended every reservation");
        assertEquals(0, handler.endedTwice());
    }

    /**
     * A close whose barrier fails as it drains the writers: its quiesce had frozen the dirty pages, and the
     * close skipped the writeback, and with it the drop of the FROZEN pages that ends their reservations
     * when the writeback fails: the reservations were never released nor consumed. The close still fails,
     * and ends every reservation.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldEndEveryReservationWhenACloseBarrierFails(Backing backing) throws Exception {
        assumeTrue(!Boolean.getBoolean("dev.mkwrite.impl.testing.stateWordPins"), "the other thread needs a slot");
        MappedRegion region = openDirty(backing);
        try (AutoCloseable _ = otherWriter(region)) {
            AsymmetricFence.barrierThroughForTests(() -> -Errno.ENOMEM);
            Exception e = assertThrows(Exception.class, region::close);
            assertTrue(String.valueOf(e).contains("MEMBARRIER_CMD_PRIVATE_EXPEDITED")
                    || String.valueOf(e.getCause()).contains("MEMBARRIER_CMD_PRIVATE_EXPEDITED"), String.valueOf(e));
        } finally {
            AsymmetricFence.barrierThroughForTests(null);
        }
        assertEquals(0, handler.live(), "reservations of the dirty pages after the close whose barrier failed");
        assertEquals(0, handler.endedTwice());
    }

    /**
     * A grow that maps anew, whose barrier fails after the swap, as it snapshots the writers' hazards for the
     * old mapping's retirement: the grow has happened and returns; the old mapping, whose writers it could not
     * tell, stays retired (not polled for) until a drain of every writer unmaps it. Before, the grow threw
     * after the swap and the old mapping was never retired: mapped until the JVM ended.
     */
    @Test
    void shouldKeepTheOldMappingUntilADrainWhenAGrowsBarrierFails() throws Exception {
        assumeTrue(!Boolean.getBoolean("dev.mkwrite.impl.testing.stateWordPins"), "the other thread needs a slot");
        MappedRegion region = openDirty(Backing.MEMORY_SEGMENT);
        Region r = RegionHandle.regionOf(region);
        try (AutoCloseable _ = otherWriter(region)) {
            AsymmetricFence.barrierThroughForTests(() -> -Errno.ENOMEM);
            region.grow(BEYOND_CAPACITY);
            AsymmetricFence.barrierThroughForTests(null);
            assertEquals(BEYOND_CAPACITY, region.size(), "the grow happened");
            assertEquals(1, r.retiredMappings(), "the old mapping is retired");
            Thread.sleep(20); // 40 rounds of the unmapper: it must not unmap what it cannot tell is unused
            assertEquals(1, r.retiredMappings(), "kept until a drain");
            region.putLong(BEYOND_CAPACITY - 8, 7);
            assertEquals(7, region.getLong(BEYOND_CAPACITY - 8));
            assertEquals(2, region.getLong(PAGE)); // written by openDirty, through the old mapping

            assertEquals(2, r.pinsForTests().epochsLinkedForTests(), "the grow ended an epoch of state-word pins");
            region.truncate(BEYOND_CAPACITY - PAGE); // drains every writer: the old mapping goes
            assertEquals(0, r.retiredMappings(), "unmapped by the drain");
            assertEquals(1, r.pinsForTests().epochsLinkedForTests(), "no retired mapping left to wait for the ended"
                    + " epoch, never checked (no snapshot): forgotten by the drain");
        } finally {
            AsymmetricFence.barrierThroughForTests(null);
        }
        region.close();
        assertEquals(0, handler.live(), "close ended every reservation");
    }

    /**
     * Another thread that has written into {@code region}, so it owns a slot that every drainer must fence
     * while it lives; it lives until the returned handle is closed.
     */
    private static AutoCloseable otherWriter(MappedRegion region) throws InterruptedException {
        java.util.concurrent.CountDownLatch wrote = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch end = new java.util.concurrent.CountDownLatch(1);
        Thread other = Thread.ofPlatform().name("other-writer").start(() -> {
            region.putLong(0, 1);
            wrote.countDown();
            TrackingHandler.awaitQuietly(end);
        });
        wrote.await();
        return () -> {
            end.countDown();
            other.join();
        };
    }

    /** The drainers whose barrier runs once they have taken pages: flush and the two that quiesce pages. */
    static Stream<Arguments> backingsAndDrainers() {
        return Stream.of(Backing.values()).flatMap(b -> Stream.of(Exclusive.FLUSH, Exclusive.PUNCH_HOLE,
                Exclusive.TRUNCATE).map(op -> Arguments.of(b, op)));
    }

    private static void assertRefused(Executable operation, String what) {
        IllegalStateException e = assertThrows(IllegalStateException.class, operation, what);
        String message = String.valueOf(e.getMessage());
        assertTrue(message.contains("MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED") && message.contains("ENOMEM"),
                what + " threw: " + message);
    }

    /** The region as {@link #openDirty} left it: its size, the dirty pages WRITABLE with their data, nothing else. */
    private static void assertUnchanged(MappedRegion region, String when) {
        assertEquals((long) PAGES * PAGE, region.size(), "the size " + when);
        for (int p = 0; p < PAGES; p++) {
            assertEquals(p < DIRTY ? "WRITABLE" : "CLEAN", ReliabilityProbe.state(region, p),
                    "page " + p + " " + when + ": " + ReliabilityProbe.describe(region, p));
        }
        for (int p = 0; p < DIRTY; p++) {
            assertEquals(p + 1, region.getLong((long) p * PAGE), "page " + p + "'s data " + when);
        }
        assertEquals(DIRTY, region.stats().writablePages(), "pages counted WRITABLE " + when);
        assertEquals(0, region.stats().writebackPages(), "pages counted under writeback " + when);
    }
}
