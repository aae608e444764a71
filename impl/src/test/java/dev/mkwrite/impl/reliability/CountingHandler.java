package dev.mkwrite.impl.reliability;

import dev.mkwrite.FaultResult;
import dev.mkwrite.ForwardingWriteFault;
import dev.mkwrite.Reservation;
import dev.mkwrite.WriteFault;
import dev.mkwrite.WriteFaultHandler;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Wraps a handler and counts the reservations it hands to mkwrite, returned or
 * {@linkplain WriteFault#cacheReservation cached}, and how each one ends, so that {@link LeakCheck} can
 * check the handler-side balance: every reservation issued was consumed or released exactly once.
 *
 * <p>The inner handler sees a fault that wraps the real one; {@link WriteFault#cachedReservation()}
 * gives it back its own reservation, not the counting wrapper. Thread-safe.
 */
final class CountingHandler implements WriteFaultHandler {

    private final WriteFaultHandler inner;
    private final Queue<Counted> all = new ConcurrentLinkedQueue<>();
    /** The reservations not ended yet: few at any time, where {@link #all} grows with the test. */
    private final Set<Counted> alive = ConcurrentHashMap.newKeySet();
    private final AtomicLong issued = new AtomicLong();
    private final AtomicLong consumed = new AtomicLong();
    private final AtomicLong released = new AtomicLong();

    CountingHandler(WriteFaultHandler inner) {
        this.inner = inner;
    }

    @Override
    public FaultResult prepare(WriteFault fault) throws IOException, InterruptedException {
        FaultResult result = inner.prepare(new CountingFault(fault));
        return result instanceof Reservation r ? count(r, fault, false) : result;
    }

    @Override
    public void beforeWriteback(long page, MemorySegment contents) {
        inner.beforeWriteback(page, contents);
    }

    /** The inner handler's answer: whether a written-back page goes CLEAN, or stays prepared, is its to say. */
    @Override
    public boolean preparesOverwrites(Path path) {
        return inner.preparesOverwrites(path);
    }

    /** The inner handler's answer: counting must not turn a stable-pages handler into one without them. */
    @Override
    public boolean needsStablePages() {
        return inner.needsStablePages();
    }

    @Override
    public void regionClosed(Path path) {
        inner.regionClosed(path);
    }

    /** Reservations handed to mkwrite so far. */
    long issued() {
        return issued.get();
    }

    /** Reservations that have not ended yet, by the counters (cheap; exact once nothing is in flight). */
    long live() {
        return issued.get() - consumed.get() - released.get();
    }

    long consumed() {
        return consumed.get();
    }

    long released() {
        return released.get();
    }

    /**
     * The page of every reservation that has not ended yet, one entry per reservation. Once nothing is in
     * flight each is held by its page, WRITABLE; a page kept prepared after writeback, or written again
     * since, holds mkwrite's {@link Reservation#none()}, which no handler issued, and is not among these.
     */
    List<Long> livePages() {
        List<Long> pages = new ArrayList<>();
        for (Counted c : alive) {
            pages.add(c.page);
        }
        return pages;
    }

    /** Every reservation that did not end exactly once, described; empty when the balance is right. */
    List<String> unbalanced() {
        List<String> bad = new ArrayList<>();
        for (Counted c : all) {
            if (c.ends.get() != 1) {
                bad.add(c.toString());
            }
        }
        return bad;
    }

    private Counted count(Reservation r, WriteFault fault, boolean cached) {
        Counted c = new Counted(r, fault.page(), fault.generation(), fault.isRetry(), cached);
        all.add(c);
        alive.add(c);
        issued.incrementAndGet();
        return c;
    }

    /** A reservation that counts its ends and passes them on. */
    private final class Counted implements Reservation {
        final Reservation inner;
        final long page;
        final long generation;
        final boolean retry;
        final boolean cached;
        final AtomicInteger consumes = new AtomicInteger();
        final AtomicInteger releases = new AtomicInteger();
        final AtomicInteger ends = new AtomicInteger();

        Counted(Reservation inner, long page, long generation, boolean retry, boolean cached) {
            this.inner = inner;
            this.page = page;
            this.generation = generation;
            this.retry = retry;
            this.cached = cached;
        }

        @Override
        public long bytes() {
            return inner.bytes();
        }

        @Override
        public void consume() {
            consumes.incrementAndGet();
            ends.incrementAndGet();
            alive.remove(this);
            consumed.incrementAndGet();
            inner.consume();
        }

        @Override
        public void release() {
            releases.incrementAndGet();
            ends.incrementAndGet();
            alive.remove(this);
            released.incrementAndGet();
            inner.release();
        }

        @Override
        public String toString() {
            return "reservation[page " + page + ", gen " + generation + (retry ? ", on a retry" : "")
                    + (cached ? ", cached with the lock dropped" : ", returned") + ": consumed " + consumes
                    + ", released " + releases + "]";
        }
    }

    /** The real fault, with cacheReservation counting what is cached. */
    private final class CountingFault extends ForwardingWriteFault {
        CountingFault(WriteFault fault) {
            super(fault);
        }

        @Override
        public void cacheReservation(Reservation reservation) {
            if (reservation == null) {
                super.cacheReservation(null); // let mkwrite report it
                return;
            }
            Counted c = new Counted(reservation, page(), generation(), isRetry(), true);
            super.cacheReservation(c); // throws before we count it if caching is not allowed now
            all.add(c);
            alive.add(c);
            issued.incrementAndGet();
        }

        @Override
        public Reservation cachedReservation() {
            Reservation r = super.cachedReservation();
            return r instanceof Counted c ? c.inner : r;
        }
    }
}
