/*
 * G5/G6 (K2, K8): a RegionWriter's pin through its own slot against a drainer, Dekker's handshake.
 *
 * Page 0 starts WRITABLE. A writer made before the race (RegionWriter: a hazard slot of its own, scanned by
 * drainers with the home table's, and the page's chunk remembered from its last write) pins the page as its
 * fast path does: it publishes the page in its own slot, then reads the page's state through the chunk it
 * keeps, its slot's mode and the size (Pins.tryPinWriter). A flush's first step races it: it takes the page
 * from WRITABLE to WRITEBACK, calls fenceWriters, then reads once whether a writer still pins the page
 * (Pins.drained, the same check that flush and every exclusive operation make).
 *
 *   r1: 1 if the writer kept its pin, 0 if it met WRITEBACK and backed off;
 *   r2: 1 if the drainer saw the page drained, 0 if it saw the writer's pin, -1 if it found the page not
 *       WRITABLE (never here).
 *
 * Forbidden: 1, 1: the writer holds a pin the drainer did not see; the flush would write back (or an
 * exclusive operation unmap) a page under a writer.
 *
 * Two tests. Kept: the writer's slot was made before the race, as by a writer that has written before. Its
 * owner is a stand-in, a live thread that is neither actor: a slot's owner is the thread that writes through
 * it, never the drainer, and jcstress may build the state on either actor's thread (the drainer, finding
 * itself the owner, would rightly skip the membarrier on its own account; an early form of this test did,
 * and failed 11 times in 317,832 samples). The drainer's membarrier reaches every thread of the process, the
 * writer actor's too. Made: the writer makes its slot in the race, just before its pin, as a writer's first
 * write does: a drainer that read the scanned slots before the new one was added must find its page taken by
 * the writer's state read (Hazards.addWriter).
 *
 * Fail with WRITER_SLOT_UNSCANNED (the writer's slot is not among those drainers scan: 1, 1 whenever the
 * writer pins first). Kept fails with PIN_WITHOUT_FENCE too, in both forms of the pair: with native access
 * the drainer leaves out its membarrier; with -Ddev.mkwrite.impl.symmetricPins=true (the build runs that form
 * too) the writer publishes with a release store instead of a volatile one, which x86 may order after its
 * state read.
 *
 * Run: ./dev jcstress -t Protocol_16
 */
package dev.mkwrite.impl;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.II_Result;

import java.nio.file.Path;
import java.util.concurrent.locks.LockSupport;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE_INTERESTING;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/** G5/G6: a writer's own slot against a drainer. */
public final class Protocol_16_WriterSlot {

    private Protocol_16_WriterSlot() {
    }

    /** Kept's slots' owner: alive for the whole run, and neither actor. */
    static final Thread OWNER = Thread.ofPlatform().daemon().name("Protocol_16 slot owner").start(() -> {
        for (;;) {
            LockSupport.park();
        }
    });

    /** The writer's slot made before the race. */
    @JCStressTest
    @Outcome(id = "1, 0", expect = ACCEPTABLE, desc = "the writer pinned first; the drainer saw its pin")
    @Outcome(id = "0, 1", expect = ACCEPTABLE, desc = "the drainer took the page first; the writer backed off")
    @Outcome(id = "0, 0", expect = ACCEPTABLE_INTERESTING,
            desc = "both published at once: the drainer saw the pin of a writer that then backed off")
    @Outcome(id = "1, 1", expect = FORBIDDEN, desc = "the writer holds a pin the drainer did not see")
    @Outcome(expect = FORBIDDEN, desc = "the page was not WRITABLE when the drainer came (r2 -1)")
    @State
    public static class Kept {
        private final WriterPair pair = new WriterPair("Protocol_16_WriterSlot.Kept", OWNER);

        @Actor
        public void writer() {
            pair.pin();
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

    /** The writer makes its slot in the race, then pins: a writer's first write. */
    @JCStressTest
    @Outcome(id = "1, 0", expect = ACCEPTABLE, desc = "the writer pinned first; the drainer saw its pin")
    @Outcome(id = "0, 1", expect = ACCEPTABLE, desc = "the drainer took the page first; the writer backed off")
    @Outcome(id = "0, 0", expect = ACCEPTABLE_INTERESTING,
            desc = "both published at once: the drainer saw the pin of a writer that then backed off")
    @Outcome(id = "1, 1", expect = FORBIDDEN, desc = "the writer holds a pin the drainer did not see")
    @Outcome(expect = FORBIDDEN, desc = "the page was not WRITABLE when the drainer came (r2 -1)")
    @State
    public static class Made {
        private final WriterPair pair = new WriterPair("Protocol_16_WriterSlot.Made", null);

        @Actor
        public void writer() {
            pair.make();
            pair.pin();
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

    /** A one-slot home table, page 0 WRITABLE, no file, no mapping, and a writer's slot; new each sample. */
    static final class WriterPair {
        private final RegionState region;
        /** One home slot, never used here: the drainer scans it and the writer's own. */
        private final Hazards hazards = new Hazards(1);
        private final Pins pins;
        private final Chunk chunk;
        private Hazards.Slot slot;
        private boolean pinned;
        private int drained;
        private long seen;

        /** With the writer's slot made now for {@code owner}, or, if null, by {@link #make} in the race. */
        WriterPair(String name, Thread owner) {
            region = RegionState.bare(Path.of(name), Fixture.PAGE, Fixture.PAGE);
            pins = new Pins(region, hazards);
            chunk = region.table.chunkOrCreate(0, region.epoch());
            AsymmetricFence.registerDrainer(); // as every drainer does at its entry: fenceWriters needs it
            chunk.setStateVolatile(0, PageState.withState(chunk.stateAcquire(0), PageState.WRITABLE));
            if (owner != null) {
                slot = hazards.addWriter(owner);
            }
        }

        /** The writer's slot, made on the writer's thread as RegionWriter makes it. */
        void make() {
            slot = hazards.addWriter(Thread.currentThread());
        }

        /** The writer: its fast path's pin, through its own slot and the chunk it keeps. */
        void pin() {
            pinned = Pins.tryPinWriter(slot, Hazards.value(0, 0), chunk, Chunk.index(0), Long.BYTES, region);
        }

        /** The drainer: takes page 0 (volatile CAS), fenceWriters, then looks for pins once. */
        void drain() {
            // Read a slot first, as the drain before this one did (see Protocol_09_HazardPin.PinPair.drain).
            seen = pins.hazardVolatile(0);
            drained = Fixture.drainOnce(pins, chunk);
        }

        /** r1: the writer kept its pin; r2: the drainer saw the page drained (-1: not WRITABLE). */
        void check(II_Result r) {
            r.r1 = pinned ? 1 : 0;
            r.r2 = drained;
            if (pinned) {
                Hazards.clearRelease(slot);
            }
        }
    }
}
