package dev.mkwrite.impl.storage;

import dev.mkwrite.FaultInterruptedException;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.Reservation;
import dev.mkwrite.WriteFaultHandler;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A thread interrupt ends at most the one fault it interrupted, with {@link FaultInterruptedException}, and
 * never breaks a storage handler: zero-fill's file I/O must not close the handler's channel (as an
 * interruptible {@code FileChannel} does when its user is interrupted), or every later fault on the file
 * fails, from every thread (issue 14).
 */
class InterruptedFaultTest {

    private static final int PAGE = 4096;
    private static final int GRANULE = 64 << 10;
    private static final int LATER_WRITES = 2048;

    @TempDir
    Path dir;

    @Test
    void shouldServeEveryLaterFaultAfterAWriterWasInterruptedDuringZeroFill() throws Exception {
        Path file = dir.resolve("region");
        AtomicBoolean interruptNext = new AtomicBoolean(true);
        // Interrupts the writing thread once, just before the storage handler runs: as if the interrupt
        // arrived while the fault was in the handler.
        WriteFaultHandler interrupter = fault -> {
            if (interruptNext.getAndSet(false)) {
                Thread.currentThread().interrupt();
            }
            return Reservation.none();
        };
        try (StorageHandler storage = StorageHandlers.zeroFill(GRANULE);
             MappedRegion region = MappedRegion.builder(file).size((long) (LATER_WRITES + 1) * PAGE)
                     .handler(StorageHandlers.chain(interrupter, storage)).open()) {
            FaultInterruptedException first = assertThrows(FaultInterruptedException.class,
                    () -> region.putLong(0, 1));
            assertTrue(Thread.interrupted(), "the interrupt status is set again");
            assertEquals(file, first.path());
            assertEquals(0, region.stats().reservationsOutstanding());
            // Closing any descriptor of a file drops the process's POSIX locks on it: an interrupt that
            // closed the handler's channel would silently unlock the region's file for other processes.
            assertTrue(dev.mkwrite.impl.FileLocks.held(file), "the interrupt dropped the region's file lock");

            // Fresh pages, from this thread and another: every one must take its write.
            AtomicInteger failed = new AtomicInteger();
            ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
            Runnable writeHalf = () -> {
                boolean odd = Thread.currentThread().getName().equals("other");
                for (int p = 1; p <= LATER_WRITES; p++) {
                    if ((p & 1) == (odd ? 1 : 0)) {
                        try {
                            region.putLong((long) p * PAGE, p);
                        } catch (RuntimeException e) {
                            failed.incrementAndGet();
                            failures.add(e);
                        }
                    }
                }
            };
            Thread other = Thread.ofPlatform().name("other").start(writeHalf);
            writeHalf.run();
            other.join();
            assertEquals(0, failed.get(), () -> failed.get() + " of " + LATER_WRITES
                    + " later writes into fresh pages failed after one interrupt; first: " + failures.peek());
            for (int p = 1; p <= LATER_WRITES; p++) {
                assertEquals(p, region.getLong((long) p * PAGE));
            }
            region.putLong(0, 1); // the interrupted write, once more
            assertEquals(1, region.getLong(0));
        }
    }

    @Test
    void shouldFailOnlyTheInterruptedWriterWhileOthersZeroFillTheSameFile() throws Exception {
        Path file = dir.resolve("shared");
        int writers = 3;
        int pagesEach = 128; // one page in each granule: every fault zero-fills
        int stride = GRANULE / PAGE;
        try (StorageHandler storage = StorageHandlers.zeroFill(GRANULE);
             MappedRegion region = MappedRegion.builder(file).size((long) writers * pagesEach * GRANULE)
                     .handler(storage).open()) {
            CountDownLatch start = new CountDownLatch(1);
            AtomicBoolean done = new AtomicBoolean();
            ConcurrentLinkedQueue<Throwable> bystanderFailures = new ConcurrentLinkedQueue<>();
            ConcurrentLinkedQueue<Throwable> victimFailures = new ConcurrentLinkedQueue<>();
            AtomicInteger interrupted = new AtomicInteger();
            List<Thread> threads = new ArrayList<>();
            for (int w = 0; w < writers; w++) {
                int id = w;
                threads.add(Thread.ofPlatform().name("writer-" + w).start(() -> {
                    while (start.getCount() > 0) {
                        Thread.onSpinWait(); // not start.await(): the interrupter may already be running
                    }
                    for (int k = 0; k < pagesEach; k++) {
                        long page = ((long) k * writers + id) * stride;
                        for (;;) {
                            try {
                                region.putLong(page * PAGE, page + 1);
                                break;
                            } catch (FaultInterruptedException e) {
                                Thread.interrupted();
                                interrupted.incrementAndGet();
                                if (id != 0) {
                                    bystanderFailures.add(e);
                                    break;
                                }
                            } catch (RuntimeException e) {
                                (id == 0 ? victimFailures : bystanderFailures).add(e);
                                break;
                            }
                        }
                    }
                    Thread.interrupted();
                }));
            }
            Thread victim = threads.get(0);
            Thread interrupter = Thread.ofPlatform().name("interrupter").start(() -> {
                try {
                    start.await();
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
                while (!done.get()) {
                    victim.interrupt();
                    LockSupport.parkNanos(200_000);
                }
            });
            start.countDown();
            for (Thread t : threads) {
                t.join();
            }
            done.set(true);
            interrupter.join();

            System.out.printf("interrupted faults of writer 0: %d; failures: writer 0 %d, writers 1-%d %d%n",
                    interrupted.get(), victimFailures.size(), writers - 1, bystanderFailures.size());
            assertEquals(0, bystanderFailures.size(), () -> "writers never interrupted failed "
                    + bystanderFailures.size() + " times; first: " + bystanderFailures.peek());
            assertEquals(0, victimFailures.size(), () -> "the interrupted writer failed "
                    + victimFailures.size() + " times with something other than FaultInterruptedException; first: "
                    + victimFailures.peek());
            for (int w = 0; w < writers; w++) {
                for (int k = 0; k < pagesEach; k++) {
                    long page = ((long) k * writers + w) * stride;
                    assertEquals(page + 1, region.getLong(page * PAGE), "page " + page + " of writer " + w);
                }
            }
        }
    }
}
