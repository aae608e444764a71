package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.WriteFaultHandler;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A read without the lock whose arena is closed under it (a shrink or a grow that maps anew) leaves its
 * thread as it found it: HotSpot interrupts a thread it stops with the asynchronous exception of a
 * shared arena's close, and {@link Reads} clears that interrupt, and only that one.
 */
class ReadInterruptTest {

    private static final int PAGE = 4096;
    /** Shrink-and-grow cycles: each shrink closes the arena the readers read through. */
    private static final int CYCLES = 3000;

    @TempDir
    Path dir;

    /**
     * Two readers copy 16 KiB at a time from the region's first pages, which every size keeps, while this
     * thread shrinks and grows it {@value #CYCLES} times; no reader may find itself interrupted after a
     * read. With {@link BrokenRule#READS_KEEP_CLOSERS_INTERRUPT} (the reads keep HotSpot's interrupt) it
     * fails: 21 (segment backing) and 4 (buffer backing) interrupted reads in 3,000 cycles on this
     * project's two-core machines.
     */
    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldLeaveNoInterruptOnAReaderWhoseArenaWasClosedUnderIt(Backing backing) throws Exception {
        try (MappedRegion region = MappedRegion.builder(dir.resolve("interrupt.dat")).size(64L * PAGE)
                .pageSize(PAGE).backing(backing).handler(WriteFaultHandler.none()).open()) {
            for (long p = 0; p < 8; p++) {
                region.putLong(p * PAGE, p + 1);
            }
            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong interrupted = new AtomicLong();
            AtomicLong reads = new AtomicLong();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            List<Thread> readers = new ArrayList<>();
            for (int t = 0; t < 2; t++) {
                readers.add(Thread.ofPlatform().daemon().start(() -> {
                    byte[] dst = new byte[4 * PAGE];
                    try {
                        while (!stop.get()) {
                            region.get(0, dst, 0, dst.length); // within the smallest size: never past the end
                            if (Thread.interrupted()) { // nobody interrupts the readers
                                interrupted.incrementAndGet();
                            }
                            reads.incrementAndGet();
                        }
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                    }
                }));
            }
            for (int k = 0; k < CYCLES && failure.get() == null; k++) {
                region.truncate(8L * PAGE);
                region.grow(64L * PAGE);
            }
            stop.set(true);
            for (Thread r : readers) {
                r.join(10_000);
            }
            if (failure.get() != null) {
                throw new AssertionError("a reader failed", failure.get());
            }
            assertTrue(reads.get() > CYCLES, "the readers ran beside the cycles: " + reads.get() + " reads");
            assertEquals(0, interrupted.get(), "reads left their thread interrupted (of " + reads.get() + " reads)");
        }
    }

    @Test
    void shouldClearOnlyAnInterruptThatCameWithAClosedArena() {
        assertFalse(Thread.interrupted());
        try {
            Thread.currentThread().interrupt();
            Reads.clearClosersInterrupt(new IllegalStateException("Already closed"), false);
            assertFalse(Thread.currentThread().isInterrupted(), "set during a read that met a closed arena: cleared");

            Thread.currentThread().interrupt();
            Reads.clearClosersInterrupt(new IllegalStateException("Already closed"), true);
            assertTrue(Thread.currentThread().isInterrupted(), "set before the read: the application's, kept");

            Reads.clearClosersInterrupt(new IndexOutOfBoundsException("past the end"), false);
            assertTrue(Thread.currentThread().isInterrupted(), "no arena closed: kept");
        } finally {
            Thread.interrupted();
        }
    }
}
