/*
 * Reads without the lock: a read races a resize and never reaches past the file's end.
 *
 * A read without the region lock copies from one published slice of the mapping's read memory, sized to
 * the region (Reads.memory): the copy's bounds check is its range, size and closed check. A native
 * MEMORY_SEGMENT mapping has room to grow in place, and its memory past the file's end is mapped: a read
 * there faults (SIGBUS, which the JVM turns into an InternalError). So the slice must be exactly the
 * region's size, and a grow must publish its larger slice only after the file grew.
 *
 * Grow_: the region is one page. A reader reads 8 bytes at the start of page 1 (past the end) while
 * grow(2 pages) races; the grow extends the file beneath the mapping, in place.
 *   r1: the reader: 0 read 0 (the grown page), 1 OutOfRegionException, 2 anything else;
 *   r2: 1 if the grow threw, or the actors left pins.
 * Shrink_: the region is two pages, page 1 holds 0x55..; truncate(1 page) races the same read. The shrink
 * maps the smaller size anew (with room to grow), unmaps the old mapping, then truncates the file.
 *   r1: the reader: 0 read the old bytes, 1 OutOfRegionException, 2 anything else;
 *   r2: as in Grow_.
 * Fail with READS_UNSIZED (the slice is the whole mapping, room included): a read past the region's end
 * faults; in Grow_ before the grow, in Shrink_ after it. Grow_ fails with READS_BEFORE_GROW (the grow
 * publishes its slice before the file grows, then stops a millisecond as a stand-in for a preemption).
 * A fault may instead surface outside the read's catch, or crash the forked VM: both fail the run too.
 *
 * Run: ./dev jcstress -t Protocol_15
 */
package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.OutOfRegionException;
import dev.mkwrite.Reservation;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.II_Result;

import java.io.IOException;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/** Reads without the lock against grow and truncate: never past the file's end. */
public final class Protocol_15_ReadsWithoutLock {

    private static final long OLD = 0x5555_5555_5555_5555L;

    private Protocol_15_ReadsWithoutLock() {
    }

    /** The read at the start of page 1: 0 if it read {@code expected}, 1 if past the end, 2 otherwise. */
    static int read(Region region, long expected) {
        try {
            return region.getLong(Fixture.PAGE) == expected ? 0 : 2;
        } catch (OutOfRegionException e) {
            return 1;
        } catch (Throwable t) { // an InternalError from a fault past the file's end, among others
            return 2;
        }
    }

    @JCStressTest
    @Outcome(id = "0, 0", expect = ACCEPTABLE, desc = "the read came after the grow: zeros")
    @Outcome(id = "1, 0", expect = ACCEPTABLE, desc = "the read came before the grow: past the end")
    @Outcome(expect = FORBIDDEN, desc = "r1 2: the read faulted or read something else; r2: the grow threw, or pins left")
    @State
    public static class Grow_ {
        final Region region = Fixture.open(Backing.MEMORY_SEGMENT, Fixture.PAGE, fault -> Reservation.none());
        int failed;

        @Actor
        public void grow() {
            try {
                region.grow(2L * Fixture.PAGE);
            } catch (IOException | RuntimeException e) {
                failed = 1;
            }
        }

        @Actor
        public void reader(II_Result r) {
            r.r1 = read(region, 0);
        }

        @Arbiter
        public void check(II_Result r) {
            r.r2 = failed | Fixture.dispose(region);
        }
    }

    @JCStressTest
    @Outcome(id = "0, 0", expect = ACCEPTABLE, desc = "the read came before the shrink: the old bytes")
    @Outcome(id = "1, 0", expect = ACCEPTABLE, desc = "the read came after the shrink: past the end")
    @Outcome(expect = FORBIDDEN, desc = "r1 2: the read faulted or read something else; r2: the truncate threw, or pins left")
    @State
    public static class Shrink_ {
        final Region region = Fixture.open(Backing.MEMORY_SEGMENT, 2L * Fixture.PAGE, fault -> Reservation.none());
        int failed;

        public Shrink_() {
            region.putLong(Fixture.PAGE, OLD);
        }

        @Actor
        public void shrink() {
            try {
                region.truncate(Fixture.PAGE);
            } catch (IOException | RuntimeException e) {
                failed = 1;
            }
        }

        @Actor
        public void reader(II_Result r) {
            r.r1 = read(region, OLD);
        }

        @Arbiter
        public void check(II_Result r) {
            r.r2 = failed | Fixture.dispose(region);
        }
    }
}
