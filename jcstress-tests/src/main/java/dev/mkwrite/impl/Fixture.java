package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.Reservation;
import dev.mkwrite.WriteFaultHandler;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What every jcstress state shares: a small region over a fresh file in {@code /dev/shm} (a tmpfs, so
 * opening and forcing cost no IO), and reservations that count how they ended.
 *
 * <p>One region per state object: each file gets a unique name because a file may be open in only one
 * region per JVM. The arbiter closes the region and deletes the file.
 */
final class Fixture {

    /** The unit of preparation in every test: the smallest the OS allows, so regions stay small. */
    static final int PAGE = OsPage.size();

    private static final Path DIR = Files.isDirectory(Path.of("/dev/shm")) ? Path.of("/dev/shm")
            : Path.of(System.getProperty("java.io.tmpdir"));
    private static final String PREFIX = "mkwrite-jcstress-" + ProcessHandle.current().pid() + "-";
    private static final AtomicLong FILES = new AtomicLong();

    private Fixture() {
    }

    /** Opens a region of {@code size} bytes over a fresh file. */
    static Region open(Backing backing, long size, WriteFaultHandler handler) {
        Path path = DIR.resolve(PREFIX + FILES.incrementAndGet());
        try {
            // Region.open, not the builder's open: the registry would hand out a handle and keep an entry. It
            // opens the file the registry would have looked up: created first, its key given.
            java.nio.file.Files.createFile(path);
            return Region.open(MappedRegion.builder(path).size(size).pageSize(PAGE).backing(backing).handler(handler),
                    RegionRegistry.keyOf(path));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The arbiter's last step: closes the region and deletes its file. Returns 1 if the actors left pins
     * behind (never in a correct run), else 0. Close would wait for such pins forever, so the region is
     * then abandoned unclosed and the test reports the violation instead of hanging.
     */
    static int dispose(MappedRegion region) {
        boolean pinsLeft = region.stats().pins() != 0;
        try {
            if (!pinsLeft) {
                region.close();
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            try {
                Files.deleteIfExists(region.path());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return pinsLeft ? 1 : 0;
    }

    /** Closes the region, returning 0, or 1 if close threw (it must not in any of these tests). */
    static int closeQuietly(MappedRegion region) {
        try {
            region.close();
            return 0;
        } catch (IOException | RuntimeException e) {
            return 1;
        }
    }

    /** The state of {@code page}: {@link PageState#CLEAN}, {@link PageState#WRITABLE}, ... */
    static int state(Region region, long page) {
        return PageState.state(region.stateWord(page));
    }

    /** The generation of {@code page}. */
    static long generation(Region region, long page) {
        return PageState.generation(region.stateWord(page));
    }

    /**
     * A flush's first step on page 0 of a bare page table, as Writeback takes it: the page from WRITABLE to
     * WRITEBACK (volatile CAS), {@link Pins#fenceWriters()}, then one look for pins ({@link Pins#drained}).
     * Returns 1 if drained, 0 if a pin was seen, -1 if the page was not WRITABLE.
     */
    static int drainOnce(Pins pins, Chunk chunk) {
        if (chunk.move(0, PageState.WRITABLE, PageState.WRITEBACK) != PageState.WRITABLE) {
            return -1;
        }
        pins.fenceWriters();
        return pins.drained(0) ? 1 : 0;
    }

    /** Busy work of a few hundred nanoseconds: widens a race window the way a handler's real work does. */
    static void work(int rounds) {
        for (int k = 0; k < rounds; k++) {
            Thread.onSpinWait();
        }
    }

    /**
     * Spins until {@code done} reports true or {@code rounds} spins have passed; never blocks forever.
     * Lets a handler give another actor the chance to act while the lock is dropped, without making the
     * test depend on it.
     */
    static void spinUntil(java.util.function.BooleanSupplier done, int rounds) {
        for (int k = 0; k < rounds && !done.getAsBoolean(); k++) {
            Thread.onSpinWait();
            if ((k & 63) == 63) {
                Thread.yield();
            }
        }
    }

    /** A reservation that counts its ends; each must end exactly once, by consume or by release. */
    static final class Tracked implements Reservation {
        final long page;
        final long generation;
        final AtomicInteger consumed = new AtomicInteger();
        final AtomicInteger released = new AtomicInteger();
        /** The thread that released it, to tell a truncate's release from a retry's. */
        volatile Thread releasedBy;

        Tracked(long page, long generation) {
            this.page = page;
            this.generation = generation;
        }

        @Override
        public long bytes() {
            return PAGE;
        }

        @Override
        public void consume() {
            consumed.incrementAndGet();
        }

        @Override
        public void release() {
            releasedBy = Thread.currentThread();
            released.incrementAndGet();
        }

        int ends() {
            return consumed.get() + released.get();
        }
    }

    /** Every reservation a handler made, to check at the end that each ended exactly once. */
    static final class Ledger {
        private final Queue<Tracked> made = new ConcurrentLinkedQueue<>();

        Tracked reserve(long page, long generation) {
            Tracked r = new Tracked(page, generation);
            made.add(r);
            return r;
        }

        /** Reservations that did not end exactly once: leaked (0 ends) or ended twice. */
        int unbalanced() {
            int bad = 0;
            for (Tracked r : made) {
                if (r.ends() != 1) {
                    bad++;
                }
            }
            return bad;
        }

        /** Reservations for {@code page} made before {@code generation}. */
        int madeBefore(long page, long generation) {
            int n = 0;
            for (Tracked r : made) {
                if (r.page == page && r.generation < generation) {
                    n++;
                }
            }
            return n;
        }

        /** Reservations for {@code page} made before {@code generation} that were consumed: stale work adopted. */
        int consumedBefore(long page, long generation) {
            int n = 0;
            for (Tracked r : made) {
                if (r.page == page && r.generation < generation && r.consumed.get() > 0) {
                    n++;
                }
            }
            return n;
        }
    }
}
