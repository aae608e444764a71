package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A mapping a grow retired waits for the pins through the pages' state words that may use it, and for no
 * others ({@link Pins#allEndedSince}): the prepare-ahead thread's pins, and spans whose thread found no
 * hazard slot. Before, it waited until no state-word pin at all was held, so pins taken after the grow,
 * through the new mapping, kept the old one mapped for as long as one of them was held.
 *
 * <p>The pins here are taken as the prepare-ahead thread takes them ({@link Pins#tryPinStateWords}), on a
 * page made WRITABLE first. "Kept" is checked after 20 ms, 40 rounds of the unmapper.
 */
class StatePinEpochTest {

    static final int PAGE = 4096;
    /** Past a native mapping's room to grow: each grow by this much maps anew, and the old mapping retires. */
    static final long STEP = 2 * Mapping.NativeMapping.MIN_CAPACITY;

    @TempDir
    Path dir;

    private MappedRegion region;
    private Region impl;
    private Pins pins;
    /** The pins not yet ended: a failed test ends them, so that its close does not wait for them. */
    private final java.util.List<Hazards.Slot> held = new java.util.concurrent.CopyOnWriteArrayList<>();

    @BeforeEach
    void open() throws Exception {
        region = MappedRegion.builder(dir.resolve("epochs.dat")).size(4 * PAGE).pageSize(PAGE)
                .backing(Backing.MEMORY_SEGMENT).handler(new TrackingHandler()).open();
        impl = RegionHandle.regionOf(region);
        pins = impl.pinsForTests();
        region.putLong(0, 1); // page 0 WRITABLE: the pins below pin it
    }

    @AfterEach
    void close() throws Exception {
        pins.epochReadForTests(null);
        for (Hazards.Slot pin : held) {
            pins.unpin(0, 0, pin);
        }
        region.close();
    }

    @Test
    void shouldUnmapARetiredMappingWhileAStatePinTakenAfterTheGrowIsHeld() throws Exception {
        Hazards.Slot before = pin();
        region.grow(STEP);
        Hazards.Slot after = pin(); // through the new mapping: the old one need not wait for it
        kept(1, "a state-word pin from before the grow holds the old mapping");
        unpin(before);
        awaitRetired(0, "the pin from before the grow ended; the one after it must not hold the old mapping");
        unpin(after);
    }

    @Test
    void shouldKeepEveryRetiredMappingWhileAStatePinFromBeforeThemIsHeld() throws Exception {
        Hazards.Slot oldest = pin();
        region.grow(STEP);
        Hazards.Slot middle = pin();
        region.grow(2 * STEP);
        kept(2, "the first pin may use either mapping (it reads no older one than when it began)");
        unpin(oldest);
        awaitRetired(1, "the first mapping is free; the second is held by the pin taken after the first grow");
        kept(1, "the pin taken between the grows holds the second mapping");
        unpin(middle);
        awaitRetired(0, "every pin ended");
    }

    /**
     * A pin that read the epoch before a grow ended it, and counts itself only after two grows' old mappings
     * were unmapped (its epoch seen drained, and forgotten by the second check), moves to the current epoch:
     * the mapping it then reads is the newest, and the next grow's retirement must wait for it. Counted in
     * the forgotten epoch, it would not: seen failing with the move taken out of {@link Pins#enterEpoch}.
     */
    @Test
    void shouldCountAPinThatReadAnEndedEpochInTheCurrentOne() throws Exception {
        CountDownLatch read = new CountDownLatch(1);
        CountDownLatch go = new CountDownLatch(1);
        pins.epochReadForTests(() -> {
            if (Thread.currentThread().getName().equals("late-pin") && read.getCount() != 0) {
                read.countDown();
                await(go);
            }
        });
        AtomicReference<Hazards.Slot> late = new AtomicReference<>();
        Thread pinner = Thread.ofPlatform().name("late-pin").start(() -> late.set(pins.tryPinStateWords(0, 0)));
        assertTrue(read.await(10, TimeUnit.SECONDS));
        region.grow(STEP); // ends the epoch the pinner read
        awaitRetired(0, "no pin was counted when the old mapping retired");
        region.grow(2 * STEP); // its retirement's check forgets the epoch the pinner read
        awaitRetired(0, "no pin was counted when the second mapping retired");
        go.countDown();
        pinner.join(10_000);
        assertNotNull(late.get(), "the late pin");
        held.add(late.get());
        region.grow(3 * STEP); // retires the mapping the late pin may use
        kept(1, "the late pin holds the mapping it read");
        unpin(late.get());
        awaitRetired(0, "the late pin ended");
    }

    private Hazards.Slot pin() {
        Hazards.Slot pin = pins.tryPinStateWords(0, 0);
        assertNotNull(pin, "page 0 is WRITABLE");
        held.add(pin);
        return pin;
    }

    private void unpin(Hazards.Slot pin) {
        held.remove(pin);
        pins.unpin(0, 0, pin);
    }

    private void kept(int count, String why) throws InterruptedException {
        Thread.sleep(20);
        assertEquals(count, impl.retiredMappings(), why);
    }

    private void awaitRetired(int count, String why) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (impl.retiredMappings() != count) {
            assertTrue(System.nanoTime() < deadline, why + ": " + impl.retiredMappings() + " retired mappings");
            Thread.sleep(1);
        }
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
