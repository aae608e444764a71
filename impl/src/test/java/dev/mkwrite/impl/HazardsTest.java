package dev.mkwrite.impl;

import org.junit.jupiter.api.Test;

import java.util.concurrent.CountDownLatch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The hazard slots on their own: encoding, probing, fallback and the drainer's reads. */
class HazardsTest {

    /** The fallbacks execution makes every pin take the state words: the slots are then never used. */
    @org.junit.jupiter.api.BeforeEach
    void slotsInUse() {
        assumeFalse(Boolean.getBoolean("dev.mkwrite.impl.testing.stateWordPins"), "every pin takes the state words");
    }

    @Test
    void aSlotHoldsItsRangeUntilCleared() {
        Hazards h = new Hazards(16);
        Hazards.Slot pin = h.publish(5, 7);
        int slot = h.indexOf(pin);
        assertTrue(slot >= 0);
        long v = h.slotVolatile(slot);
        assertEquals(5, Hazards.first(v));
        assertEquals(7, Hazards.last(v));
        assertTrue(h.coversVolatile(5) && h.coversVolatile(6) && h.coversVolatile(7));
        assertFalse(h.coversVolatile(4) || h.coversVolatile(8));
        assertEquals(3, h.pinnedPages());
        Hazards.clearRelease(pin);
        assertEquals(Hazards.EMPTY, h.slotVolatile(slot));
        assertFalse(h.coversVolatile(6));
        assertEquals(0, h.pinnedPages());
    }

    /**
     * A writer's own slot ({@link Hazards#addWriter}) is scanned by every drainer's read while the writer is
     * open: coverage, the retirement's snapshot, the statistics, and a revocation on another live owner's
     * account; once removed it is not, and a snapshot taken before still reads it.
     */
    @Test
    void aWritersOwnSlotIsScannedWhileItIsOpen() throws Exception {
        Hazards h = new Hazards(16);
        Thread me = Thread.currentThread();
        Hazards.Slot own = h.addWriter(me);
        assertEquals(1, h.writerSlots());
        assertEquals(-1, h.indexOf(own), "not one of the home table's slots");
        Hazards.publishOwn(own, Hazards.value(9, 9));
        assertTrue(h.coversVolatile(9));
        assertEquals(1, h.pinnedPages());
        Hazards.Snapshot before = h.snapshotVolatile();
        assertFalse(h.allChangedSince(before), "the retirement waits for the writer's pin");
        if (AsymmetricFence.ON) {
            assertNull(h.beginRevoking(me), "the drainer's own writer needs no barrier");
        }
        Hazards.clearRelease(own);
        assertTrue(h.allChangedSince(before));
        assertFalse(h.coversVolatile(9));

        Hazards.Slot[] theirs = new Hazards.Slot[1];
        CountDownLatch made = new CountDownLatch(1);
        CountDownLatch end = new CountDownLatch(1);
        Thread other = new Thread(() -> {
            theirs[0] = h.addWriter(Thread.currentThread());
            Hazards.publishOwn(theirs[0], Hazards.value(3, 4));
            made.countDown();
            TrackingHandler.awaitQuietly(end);
        });
        other.start();
        made.await();
        assertTrue(h.coversVolatile(4), "another thread's writer, pinned");
        if (AsymmetricFence.ON) {
            Hazards.Revocation r = h.beginRevoking(me);
            assertTrue(r != null && r.slots().length == 1 && r.slots()[0] == theirs[0],
                    "another live thread's writer needs the barrier");
            h.finishRevoking(r);
            assertTrue(Hazards.revoked(theirs[0]));
        }
        Hazards.Snapshot pinned = h.snapshotVolatile();
        h.removeWriter(own);
        assertEquals(1, h.writerSlots());
        assertFalse(h.allChangedSince(pinned), "a snapshot keeps the slots it read");
        Hazards.clearRelease(theirs[0]);
        assertTrue(h.allChangedSince(pinned));
        h.removeWriter(theirs[0]);
        h.removeWriter(theirs[0]); // again: nothing
        assertEquals(0, h.writerSlots());
        end.countDown();
        other.join();
    }

    @Test
    void theLargestPageNumbersOfARegionEncode() {
        long first = (1L << 43) - 2; // the last pages of the largest possible page table
        long v = Hazards.value(first, first + 1);
        assertEquals(first, Hazards.first(v));
        assertEquals(first + 1, Hazards.last(v));
        assertTrue(v > 0);
    }

    @Test
    void aThreadHoldingTwoSlotsFallsBackForTheThird() {
        Hazards h = new Hazards(16);
        Hazards.Slot a = h.publish(0, 0);
        Hazards.Slot b = h.publish(1, 1);
        assertTrue(h.indexOf(a) >= 0 && h.indexOf(b) >= 0);
        assertNotEquals(a, b);
        assertNull(h.publish(2, 2), "both probes taken: the caller pins through the state words");
        assertNull(Hazards.publishHome(h.slots(), Hazards.value(2, 2)), "nor does the fast path's home slot take it");
        Hazards.clearRelease(a);
        Hazards.Slot c = h.publish(2, 2);
        assertSame(a, c, "a cleared slot is reused");
        Hazards.clearRelease(b);
        Hazards.clearRelease(c);
    }

    @Test
    void aLiveOwnersSlotsAreItsOwnAndAnEndedOwnersEmptySlotIsTakenOver() throws Exception {
        assumeTrue(AsymmetricFence.ON, "slots have owners only with the asymmetric fence (native access)");
        Hazards h = new Hazards(16);
        int[] held = new int[2];
        CountDownLatch published = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Thread owner = Thread.ofPlatform().start(() -> {
            held[0] = h.indexOf(h.publish(0, 0)); // both of this thread's probes: owned from now on
            Hazards.Slot second = h.publish(1, 1);
            held[1] = h.indexOf(second);
            Hazards.clearRelease(second); // one EMPTY, one held
            published.countDown();
            awaitQuietly(release);
        });
        published.await();
        Thread me = Thread.currentThread();
        assertFalse(h.claim(held[1], me), "a live owner's slot, even EMPTY, is not taken");
        assertFalse(h.claim(held[0], me));
        release.countDown();
        owner.join();
        assertFalse(h.claim(held[0], me), "an ended owner's slot that still holds a pin is not taken");
        assertTrue(h.claim(held[1], me), "an ended owner's EMPTY slot is");
        assertTrue(h.claim(held[1], me), "and stays this thread's");
        assertEquals(Hazards.value(0, 0), h.slotVolatile(held[0]), "a pin not ended stays");
    }

    private static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    void aRangeLongerThanASlotHoldsFallsBack() {
        Hazards h = new Hazards(16);
        assertNull(h.publish(0, Hazards.MAX_PAGES));
        Hazards.Slot slot = h.publish(0, Hazards.MAX_PAGES - 1);
        assertTrue(h.indexOf(slot) >= 0);
        assertEquals(Hazards.MAX_PAGES, h.pinnedPages());
        Hazards.clearRelease(slot);
    }

    @Test
    void overlapsIsInclusiveAndEmptyOverlapsNothing() {
        long v = Hazards.value(10, 12);
        assertTrue(Hazards.overlaps(v, 12, 20));
        assertTrue(Hazards.overlaps(v, 0, 10));
        assertFalse(Hazards.overlaps(v, 13, 20));
        assertFalse(Hazards.overlaps(v, 0, 9));
        assertFalse(Hazards.overlaps(Hazards.EMPTY, 0, Long.MAX_VALUE));
    }

    @Test
    void theSlotCountIsAPowerOfTwo() {
        assertThrows(IllegalArgumentException.class, () -> new Hazards(12));
        int n = Hazards.forThisMachine().slotCount();
        assertEquals(1, Integer.bitCount(n));
        assertTrue(n >= 16 && n <= 1024);
    }

    /**
     * The revocation's modes ({@link Hazards#beginRevoking}): a drainer revokes another live owner's BIASED
     * slot (REVOKING) and finishes it after its barrier (FENCED); a second drainer that reads it REVOKING
     * needs a barrier of its own and may finish it too; a FENCED slot needs none; the owner's
     * {@link Hazards#REBIAS_AFTER}-th kept fenced pin makes it BIASED again, and a revocation that was under
     * way then leaves it so, even once a later revocation has begun (the epoch); the drainer's own slot and a
     * dead owner's never need one.
     */
    @Test
    void aDrainerRevokesAnotherLiveOwnersSlotOnceItsBarrierReturned() throws Exception {
        assumeTrue(AsymmetricFence.ON, "slots are owned only with the asymmetric fence");
        Hazards h = new Hazards(16);
        Thread me = Thread.currentThread();
        Hazards.Slot mine = h.publish(0, 0); // the drainer's own slot: never revoked on its own account
        Hazards.clearRelease(mine);
        assertNull(h.beginRevoking(me), "only the drainer's own slot is owned");

        CountDownLatch claimed = new CountDownLatch(1);
        CountDownLatch end = new CountDownLatch(1);
        Hazards.Slot[] theirs = new Hazards.Slot[1];
        Thread owner = new Thread(() -> {
            theirs[0] = h.publish(1, 1);
            Hazards.clearRelease(theirs[0]);
            claimed.countDown();
            try {
                end.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        owner.start();
        claimed.await();
        int slot = h.indexOf(theirs[0]);
        assertEquals(Hazards.BIASED, h.modeVolatile(slot));
        assertFalse(Hazards.revoked(theirs[0]));

        Hazards.Revocation first = h.beginRevoking(me);
        assertTrue(first != null && first.slots().length == 1 && first.slots()[0] == theirs[0], "the other owner's slot needs the barrier");
        assertEquals(Hazards.REVOKING, h.modeVolatile(slot));
        assertTrue(Hazards.revoked(theirs[0]), "its owner fences from the revoking CAS on");
        Hazards.Revocation second = h.beginRevoking(me);
        assertTrue(second != null && second.slots().length == 1 && second.slots()[0] == theirs[0],
                "a revocation under way: a second drainer needs a barrier of its own");
        h.finishRevoking(second);
        assertEquals(Hazards.FENCED, h.modeVolatile(slot));
        h.finishRevoking(first); // the revoker's own finish finds it done
        assertEquals(Hazards.FENCED, h.modeVolatile(slot));
        assertNull(h.beginRevoking(me), "a revoked slot needs no barrier");

        rebias(theirs[0], h, slot);
        Hazards.Revocation during = h.beginRevoking(me);
        assertTrue(during != null && during.slots().length == 1);
        rebias(theirs[0], h, slot); // biased again while that revocation is under way
        h.finishRevoking(during);
        assertEquals(Hazards.BIASED, h.modeVolatile(slot), "a revocation overtaken by the owner leaves it biased");
        Hazards.Revocation later = h.beginRevoking(me);
        assertTrue(later != null, "and the next drainer fences");
        assertEquals(Hazards.REVOKING, h.modeVolatile(slot));
        h.finishRevoking(during); // a stale finish: its barrier returned before this revocation began
        assertEquals(Hazards.REVOKING, h.modeVolatile(slot), "a finish stands only for its own revocation");
        h.finishRevoking(later);
        assertEquals(Hazards.FENCED, h.modeVolatile(slot));

        end.countDown();
        owner.join();
        assertNull(h.beginRevoking(me), "a dead owner publishes nothing more");
    }

    /** The owner's {@link Hazards#REBIAS_AFTER} kept fenced pins, made on this thread as the test's stand-in. */
    private static void rebias(Hazards.Slot slot, Hazards h, int index) {
        for (int i = 1; i < Hazards.REBIAS_AFTER; i++) {
            Hazards.fencedPinKept(slot);
        }
        assertTrue(h.modeVolatile(index) != Hazards.BIASED, "fewer than REBIAS_AFTER kept fenced pins");
        Hazards.fencedPinKept(slot);
        assertEquals(Hazards.BIASED, h.modeVolatile(index), "biased again after REBIAS_AFTER kept fenced pins");
    }
}
