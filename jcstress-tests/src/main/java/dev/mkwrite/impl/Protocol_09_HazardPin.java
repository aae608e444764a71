/*
 * G5/G6 (K2, K8): the fast path's hazard pin against a drainer, Dekker's handshake.
 *
 * Page 0 starts WRITABLE. A writer opens a span over it on the lock-free fast path: it publishes the page
 * in its hazard slot, then reads the page's state. A flush's first step races it: it takes the page from
 * WRITABLE to WRITEBACK, then reads once whether a writer still pins the page (Region.probeWriteback, the
 * same take and drained() check that flush and every exclusive operation make). The span stays open until
 * the arbiter, so a pin that was taken is still held when the flush looks.
 *
 *   r1: 1 if the writer got its span on the fast path (tryWrite returned it), 0 if it met WRITEBACK;
 *   r2: 1 if the flush saw the page drained, 0 if it saw the writer's pin, -1 if it found the page
 *       not WRITABLE (never here);
 * and one slot per check, each 0 in a correct run, so a FORBIDDEN result names the check that failed:
 *   r3: 1 if the writer's tryWrite threw;
 *   r4: 1 if pins were left behind once both had ended (the region is then not closed).
 *
 * Forbidden: 1, 1, 0, 0: the writer holds a pin the flush did not see; the flush would write back (or an
 * exclusive operation unmap) a page under a writer. Both sides read after a volatile write (the writer's
 * slot CAS, the flush's state CAS), so at least one sees the other.
 *
 * Two tests. ThroughApi goes through the api (tryWrite against the flush's first step), as above. Bare runs
 * the same handshake on the Pins alone, over a page-state table with no file and no mapping: its state
 * costs a few allocations where ThroughApi's opens a region, so it collects a hundred times the samples, and
 * the StoreLoad reordering it looks for is a window of some nanoseconds. Bare: r1 as above (the writer's
 * tryPinPage, or else tryPin, kept its pin), r2 as above (the drainer took the page, called fenceWriters,
 * saw it drained).
 *
 * The pair has two forms (dev.mkwrite.impl.AsymmetricFence): with native access the writer publishes
 * without a fence and the drainer calls membarrier; with -Ddev.mkwrite.impl.symmetricPins=true (and
 * without native access) the writer's CAS is the fence. The build runs both.
 *
 * Fails with PIN_WITHOUT_FENCE: 1, 1, 0, 0 (ThroughApi), 1, 1 (Bare). In the asymmetric form the drainer
 * leaves out its membarrier; in the symmetric form the writer publishes with a release store, which x86
 * may order after the state read.
 *
 * Revoked runs Bare's handshake with the writer's slot revoked (Hazards.beginRevoking), as a drainer's
 * membarrier leaves the slot of a thread that wrote before: the drainer then goes without the system call
 * on the writer's account, and the writer fences its pin itself once its check of the slot's mode, after
 * the state read, finds it revoked. Fails with REVOKED_PIN_WITHOUT_FENCE: 1, 1 (the revoked writer keeps a
 * pin published without a fence; nobody made the StoreLoad).
 *
 * Run: ./dev jcstress -t Protocol_09
 */
package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.FaultResult;
import dev.mkwrite.Reservation;
import dev.mkwrite.WriteFault;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.WriteSpan;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.IIII_Result;
import org.openjdk.jcstress.infra.results.II_Result;

import java.nio.file.Path;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE_INTERESTING;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/** G5/G6: the hazard slot's Dekker handshake, through the api and on the pins alone. */
public final class Protocol_09_HazardPin {

    private Protocol_09_HazardPin() {
    }

    /** Through the api: tryWrite against the flush's first step. */
    @JCStressTest
    @Outcome(id = "1, 0, 0, 0", expect = ACCEPTABLE, desc = "the writer pinned first; the flush saw its pin")
    @Outcome(id = "0, 1, 0, 0", expect = ACCEPTABLE, desc = "the flush took the page first; the writer backed off")
    @Outcome(id = "0, 0, 0, 0", expect = ACCEPTABLE_INTERESTING,
            desc = "both published at once: the flush saw the hazard of a writer that then backed off")
    @Outcome(id = "1, 1, 0, 0", expect = FORBIDDEN, desc = "the writer holds a pin the flush did not see")
    @Outcome(expect = FORBIDDEN, desc = "the page was not WRITABLE (r2 -1), or a check failed: r3 the writer threw,"
            + " r4 pins left")
    @State
    public static class ThroughApi {

        /**
         * With stable pages: a writer that meets the page under writeback must back off. (Without them it may
         * enter the page and mark it REDIRTIED, which Protocol_10 covers.)
         */
        private final Region region = Fixture.open(Backing.MEMORY_SEGMENT, Fixture.PAGE, new WriteFaultHandler() {
            @Override
            public FaultResult prepare(WriteFault fault) {
                return Reservation.none();
            }

            @Override
            public boolean needsStablePages() {
                return true;
            }
        });
        private WriteSpan span;
        private int drained;
        private int writerFailed;

        public ThroughApi() {
            region.putLong(0, 0); // page 0 WRITABLE before the race
        }

        @Actor
        public void writer() {
            try {
                span = region.tryWrite(0, 8); // null if it met WRITEBACK and would have had to wait
            } catch (RuntimeException e) {
                writerFailed = 1;
            }
        }

        @Actor
        public void flush() {
            drained = region.probeWriteback(0);
        }

        @Arbiter
        public void check(IIII_Result r) {
            r.r1 = span != null ? 1 : 0;
            r.r2 = drained;
            if (span != null) {
                // The arbiter is not the thread that opened it (a span is confined to its opener), but runs
                // after the writer's actor ended: it closes the span on the writer's behalf.
                ((Span) span).closeForOpener();
            }
            if (drained >= 0) {
                region.probeWritebackEnd(0);
            }
            r.r3 = writerFailed;
            r.r4 = Fixture.dispose(region);
        }
    }

    /** The pins alone: Pins.tryPin against a take, fenceWriters and drained, as Writeback makes them. */
    @JCStressTest
    @Outcome(id = "1, 0", expect = ACCEPTABLE, desc = "the writer pinned first; the drainer saw its pin")
    @Outcome(id = "0, 1", expect = ACCEPTABLE, desc = "the drainer took the page first; the writer backed off")
    @Outcome(id = "0, 0", expect = ACCEPTABLE_INTERESTING,
            desc = "both published at once: the drainer saw the hazard of a writer that then backed off")
    @Outcome(id = "1, 1", expect = FORBIDDEN, desc = "the writer holds a pin the drainer did not see")
    @Outcome(expect = FORBIDDEN, desc = "the page was not WRITABLE when the drainer came (r2 -1)")
    @State
    public static class Bare {
        private final PinPair pair = new PinPair("Protocol_09_HazardPin.Bare");

        @Actor
        public void writer() {
            pair.pin(false);
        }

        @Actor
        public void drainer() {
            pair.drain();
        }

        @Arbiter
        public void check(II_Result r) {
            pair.check(r);
        }
    }

    /**
     * The pins alone, the writer's slot revoked: Bare's handshake where the drainer goes without the
     * membarrier on the writer's account, so the writer's own fence is the only StoreLoad on its side.
     */
    @JCStressTest
    @Outcome(id = "1, 0", expect = ACCEPTABLE, desc = "the writer pinned first; the drainer saw its pin")
    @Outcome(id = "0, 1", expect = ACCEPTABLE, desc = "the drainer took the page first; the writer backed off")
    @Outcome(id = "0, 0", expect = ACCEPTABLE_INTERESTING,
            desc = "both published at once: the drainer saw the hazard of a writer that then backed off")
    @Outcome(id = "1, 1", expect = FORBIDDEN, desc = "the revoked writer holds a pin the drainer did not see")
    @Outcome(expect = FORBIDDEN, desc = "the page was not WRITABLE when the drainer came (r2 -1)")
    @State
    public static class Revoked {
        private final PinPair pair = new PinPair("Protocol_09_HazardPin.Revoked");

        @Actor
        public void writer() {
            pair.pin(true);
        }

        @Actor
        public void drainer() {
            pair.drain(); // no membarrier on a revoked owner's account
        }

        @Arbiter
        public void check(II_Result r) {
            pair.check(r);
        }
    }

    /**
     * Bare's and Revoked's state and steps: a one-slot table with page 0 WRITABLE, no file, no mapping.
     * Each sample's is new.
     */
    static final class PinPair {
        private final RegionState region;
        /** One hazard slot: both actors meet on one line, and the drainer scans nothing else. */
        private final Hazards hazards = new Hazards(1);
        private final Pins pins;
        private final Chunk chunk;
        /** The writer's pin, or null if it backed off. */
        private Hazards.Slot pin;
        private int drained;
        private long seen;

        PinPair(String name) {
            region = RegionState.bare(Path.of(name), Fixture.PAGE, Fixture.PAGE);
            pins = new Pins(region, hazards);
            chunk = region.table.chunkOrCreate(0, region.epoch());
            AsymmetricFence.registerDrainer(); // as every drainer does at its entry: fenceWriters needs it
            chunk.setStateVolatile(0, PageState.withState(chunk.stateAcquire(0), PageState.WRITABLE));
        }

        /**
         * The writer: pins page 0 as a write of one page does (the fast path, then the general one). With
         * the asymmetric fence its slot is owned first, as by a thread that has written before, so the fast
         * path publishes with publishHome's opaque store, not the claiming path's; {@code revoked}: and a
         * drainer's membarrier has revoked it since, so the writer must fence its pin itself.
         */
        void pin(boolean revoked) {
            if (AsymmetricFence.ON) {
                hazards.claim(0, Thread.currentThread());
                if (revoked) {
                    hazards.fenceForTests(0);
                }
            }
            pin = pins.tryPinPage(0);
            if (pin == null) {
                pin = pins.tryPin(0, 0);
            }
        }

        /** The drainer: takes page 0 (volatile CAS), fenceWriters, then looks for pins once. */
        void drain() {
            // Read the slot first, as the drain before this one did: the writer's slot store then needs the
            // line back from this core, and stays in its store buffer the longer, which widens the window.
            seen = pins.hazardVolatile(0); // kept in a field, so the read is not dropped; its value is not checked
            drained = Fixture.drainOnce(pins, chunk);
        }

        /** r1: the writer kept its pin; r2: the drainer saw the page drained (-1: not WRITABLE). */
        void check(II_Result r) {
            r.r1 = pin != null ? 1 : 0;
            r.r2 = drained;
            if (pin != null) {
                pins.unpin(0, 0, pin);
            }
        }
    }
}
