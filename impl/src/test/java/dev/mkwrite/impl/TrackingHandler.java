package dev.mkwrite.impl;

import dev.mkwrite.FaultResult;
import dev.mkwrite.Reservation;
import dev.mkwrite.WriteFault;
import dev.mkwrite.WriteFaultHandler;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A handler for tests: records every call and hands out reservations that count how they end, so a test
 * can check that each one ends exactly once. Its behaviour is a replaceable {@link Behaviour}.
 */
final class TrackingHandler implements WriteFaultHandler {

    /** What the handler does for one call; {@code reserve} makes a tracked reservation. */
    @FunctionalInterface
    interface Behaviour {
        FaultResult prepare(WriteFault fault, TrackingHandler handler) throws IOException, InterruptedException;
    }

    /** A snapshot of one handler call. */
    record Call(long page, long offset, int length, long generation, boolean retry, boolean noWait,
                boolean mayDropLock, Reservation cached, Thread thread) {
    }

    final List<Call> calls = new CopyOnWriteArrayList<>();
    final List<Tracked> reservations = new CopyOnWriteArrayList<>();
    final List<Long> writebacks = new CopyOnWriteArrayList<>();
    volatile Behaviour behaviour = (fault, h) -> h.reserve(fault);
    volatile WritebackHook writebackHook = (page, contents) -> { };
    volatile EndHook endHook = (reservation, consumed) -> { };
    /** What {@link #preparesOverwrites} answers; asked when a region opens. */
    volatile boolean preparesOverwrites = true;

    /** Called from beforeWriteback. */
    @FunctionalInterface
    interface WritebackHook {
        void accept(long page, MemorySegment contents);
    }

    /** Called when a reservation this handler made ends, on the thread that ends it, before it is counted. */
    @FunctionalInterface
    interface EndHook {
        void ended(Tracked reservation, boolean consumed);
    }

    TrackingHandler() {
    }

    TrackingHandler(Behaviour behaviour) {
        this.behaviour = behaviour;
    }

    @Override
    public boolean preparesOverwrites(Path path) {
        return preparesOverwrites;
    }

    @Override
    public FaultResult prepare(WriteFault fault) throws IOException, InterruptedException {
        calls.add(new Call(fault.page(), fault.offset(), fault.length(), fault.generation(), fault.isRetry(),
                fault.isNoWait(), fault.mayDropLock(), fault.cachedReservation(), Thread.currentThread()));
        return behaviour.prepare(fault, this);
    }

    /**
     * Whether the region gives stable pages: true by default, since most tests here check what a
     * writeback saw; the tests of writes during writeback turn it off.
     */
    volatile boolean stablePages = true;

    @Override
    public boolean needsStablePages() {
        return stablePages;
    }

    /** How many times a region told this handler it closed. */
    final java.util.concurrent.atomic.AtomicInteger regionsClosed = new java.util.concurrent.atomic.AtomicInteger();

    @Override
    public void regionClosed(Path path) {
        regionsClosed.incrementAndGet();
    }

    @Override
    public void beforeWriteback(long page, MemorySegment contents) {
        writebacks.add(page);
        writebackHook.accept(page, contents);
    }

    /** Waits for {@code latch}, keeping the interrupt status: for hooks and handlers that block in tests. */
    static void awaitQuietly(java.util.concurrent.CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** A new tracked reservation of the fault's length. */
    Tracked reserve(WriteFault fault) {
        Tracked t = new Tracked(fault.page(), fault.generation(), fault.length(), this);
        reservations.add(t);
        return t;
    }

    int calls() {
        return calls.size();
    }

    long consumed() {
        return reservations.stream().filter(t -> t.consumed.get() > 0).count();
    }

    long released() {
        return reservations.stream().filter(t -> t.released.get() > 0).count();
    }

    long live() {
        return reservations.stream().filter(t -> t.ends() == 0).count();
    }

    /** Reservations that ended more than once, or both ways: must always be zero. */
    long endedTwice() {
        return reservations.stream().filter(t -> t.ends() > 1).count();
    }

    /** A reservation that counts its ends. */
    static final class Tracked implements Reservation {
        final long page;
        final long generation;
        final long bytes;
        final AtomicInteger consumed = new AtomicInteger();
        final AtomicInteger released = new AtomicInteger();
        static final AtomicLong SEQUENCE = new AtomicLong();
        final long id = SEQUENCE.incrementAndGet();
        private final TrackingHandler owner;

        Tracked(long page, long generation, long bytes, TrackingHandler owner) {
            this.page = page;
            this.generation = generation;
            this.bytes = bytes;
            this.owner = owner;
        }

        @Override
        public long bytes() {
            return bytes;
        }

        @Override
        public void consume() {
            owner.endHook.ended(this, true);
            consumed.incrementAndGet();
        }

        @Override
        public void release() {
            owner.endHook.ended(this, false);
            released.incrementAndGet();
        }

        int ends() {
            return consumed.get() + released.get();
        }

        @Override
        public String toString() {
            return "Tracked#" + id + "[page=" + page + ", gen=" + generation + ", consumed=" + consumed
                    + ", released=" + released + "]";
        }
    }
}
