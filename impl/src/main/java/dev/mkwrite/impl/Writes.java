package dev.mkwrite.impl;

import dev.mkwrite.WouldBlock;
import dev.mkwrite.WriteFaultException;
import dev.mkwrite.WriteSpan;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Objects;

/**
 * Writes: pin the pages (faulting in those that are not WRITABLE), store, unpin; and preparing pages
 * without writing them, on the caller's thread ({@code prepare}) or ahead of sequential writers on
 * {@link Ahead}'s. The pins are {@link Pins}'s, the faults {@link FaultPath}'s: this class is the loop that
 * joins them, which never waits while it holds a pin.
 */
final class Writes implements Ahead.Preparer {

    /** {@link #pin}'s answer to a no-wait write that would have had to wait. */
    private static final int WOULD_BLOCK = -2;

    private final RegionState state;
    private final Pins pins;
    private final FaultPath faults;
    private final ByteOrder order;
    private final Layouts layouts;
    /** The region's, copied: every write computes its pages with it, one load nearer. */
    private final int pageShift;
    /** Prepare-ahead for sequential writers, or null. */
    private final Ahead ahead;

    Writes(RegionState state, Pins pins, FaultPath faults, ByteOrder order, long prepareAheadBytes) {
        this.state = state;
        this.pins = pins;
        this.faults = faults;
        this.order = order;
        this.layouts = new Layouts(order);
        this.pageShift = state.pageShift;
        long aheadPages = state.pagesFor(prepareAheadBytes);
        this.ahead = aheadPages > 0 ? new Ahead(this, aheadPages) : null;
    }

    WriteSpan write(long offset, long length) {
        return span(offset, length, false, null);
    }

    WriteSpan tryWrite(long offset, long length) {
        return span(offset, length, true, null);
    }

    WriteSpan tryWrite(long offset, long length, WouldBlock why) {
        return span(offset, length, true, Objects.requireNonNull(why, "why"));
    }

    private Span span(long offset, long length, boolean noWait, WouldBlock why) {
        state.checkRange("write", offset, length);
        if (length == 0) {
            state.checkEmpty(offset);
            return new Span(pins, state.path, state.mapping, order, offset, 0, 0, -1, Pins.NO_PINS);
        }
        int pin = pin(offset, length, noWait, why);
        if (pin == WOULD_BLOCK) {
            return null;
        }
        // The mapping is read after the pins: a grow that replaces it retires the old one until they end.
        return new Span(pins, state.path, state.mapping, order, offset, length, first(offset), last(offset, length),
                pin);
    }

    void put(long offset, byte[] src, int srcOffset, int length) {
        Objects.checkFromIndexSize(srcOffset, length, src.length);
        if (length == 0) {
            putNothing("put", offset);
            return;
        }
        int pin = pinForWrite("put", offset, length);
        try {
            // From the array itself: no heap segment over it to check as well. Mapping read after the pins.
            MemorySegment.copy(src, srcOffset, state.mapping.segment(), ValueLayout.JAVA_BYTE, offset, length);
        } catch (Throwable t) {
            unpinAfter(offset, length, pin);
            throw t;
        }
        pins.unpin(first(offset), last(offset, length), pin);
    }

    void put(long offset, MemorySegment src) {
        copyIn("put", offset, src, 0, src.byteSize());
    }

    void put(long offset, ByteBuffer src) {
        int length = src.remaining();
        copyIn("put", offset, MemorySegment.ofBuffer(src), 0, length);
        src.position(src.position() + length);
    }

    void putByte(long offset, byte value) {
        int pin = pinForWrite("putByte", offset, 1);
        try {
            state.mapping.segment().set(ValueLayout.JAVA_BYTE, offset, value);
        } catch (Throwable t) {
            unpinAfter(offset, 1, pin);
            throw t;
        }
        pins.unpin(first(offset), last(offset, 1), pin);
    }

    void putInt(long offset, int value) {
        int pin = pinForWrite("putInt", offset, Integer.BYTES);
        try {
            layouts.setInt(state.mapping.segment(), offset, value);
        } catch (Throwable t) {
            unpinAfter(offset, Integer.BYTES, pin);
            throw t;
        }
        pins.unpin(first(offset), last(offset, Integer.BYTES), pin);
    }

    void putLong(long offset, long value) {
        int pin = pinForWrite("putLong", offset, Long.BYTES);
        try {
            layouts.setLong(state.mapping.segment(), offset, value);
        } catch (Throwable t) {
            unpinAfter(offset, Long.BYTES, pin);
            throw t;
        }
        pins.unpin(first(offset), last(offset, Long.BYTES), pin);
    }

    /** Every put: pins the pages, copies, unpins. */
    private void copyIn(String op, long offset, MemorySegment src, long srcOffset, long length) {
        if (length == 0) {
            putNothing(op, offset);
            return;
        }
        int pin = pinForWrite(op, offset, length);
        try {
            MemorySegment.copy(src, srcOffset, state.mapping.segment(), offset, length); // mapping read after the pins
        } catch (Throwable t) {
            unpinAfter(offset, length, pin);
            throw t;
        }
        pins.unpin(first(offset), last(offset, length), pin);
    }

    /** A put of no bytes: checks the offset, writes nothing. */
    private void putNothing(String op, long offset) {
        state.checkRange(op, offset, 0);
        state.checkEmpty(offset);
    }

    /**
     * A store that threw after its pages were pinned (it should not: the range was checked and the pins
     * keep the mapping) unpins them, so no drainer waits for this write, and the caller rethrows. Out of
     * line: the writes inline an unpin for their normal path only.
     */
    private void unpinAfter(long offset, long length, int pin) {
        pins.unpin(first(offset), last(offset, length), pin);
    }

    /**
     * Checks a blocking write of {@code length > 0} bytes and pins its pages, faulting as needed. With
     * {@code length > 0}, a negative offset or an end that overflows is the only bad range: one branch.
     */
    private int pinForWrite(String op, long offset, long length) {
        if ((offset | (offset + length)) < 0) {
            state.checkRange(op, offset, length); // throws, naming the file, the offset and its page
        }
        return pin(offset, length, false, null);
    }

    /**
     * Pins every page of the write, faulting in those that are not WRITABLE. Returns how they are pinned
     * (see {@link Pins#tryPin}), or {@link #WOULD_BLOCK} for a no-wait write that would have had to wait;
     * then nothing is pinned.
     */
    private int pin(long offset, long length, boolean noWait, WouldBlock why) {
        // The fast path, kept small so the JIT inlines it into every write: all pages WRITABLE, the range
        // inside the region. A range past the end meets pages that are not WRITABLE, or the size check.
        long first = first(offset);
        long last = last(offset, length);
        int pin = pins.tryPin(first, last);
        if (pin != Pins.NOT_WRITABLE && offset + length <= state.size) { // size read after the pins: the
            return pin;                                                   // region cannot shrink under them
        }
        return pinSlowly(offset, length, noWait, why, pin);
    }

    /**
     * {@link #pin} when a page is not WRITABLE or the range is past the end: faults, or throws. Ends
     * {@code held}, the fast path's pins of a range past the end, first.
     */
    private int pinSlowly(long offset, long length, boolean noWait, WouldBlock why, int held) {
        long first = first(offset);
        long last = last(offset, length);
        if (held != Pins.NOT_WRITABLE) {
            pins.unpin(first, last, held);
        }
        long end = offset + length;
        if (end > state.size) {
            throw state.closed ? state.closedException(offset, first) : state.outOfRegion(offset, length);
        }
        for (;;) {
            int pin = pins.tryPin(first, last);
            if (pin != Pins.NOT_WRITABLE) {
                if (end <= state.size) { // read after the pins: the region cannot shrink while they are held
                    return pin;
                }
                pins.unpin(first, last, pin);
                throw state.outOfRegion(offset, length);
            }
            // With no pin held, fault in every page that is not WRITABLE, then pin again: a span over n
            // clean pages costs n faults and two pin passes, not n passes.
            if (!faults.faultIn(first, last, offset, length, noWait, why)) {
                return WOULD_BLOCK;
            }
            if (ahead != null) {
                ahead.faulted(first, last);
            }
        }
    }

    void prepare(long offset, long length) {
        state.checkRange("prepare", offset, length);
        if (length == 0) {
            state.checkEmpty(offset);
            return;
        }
        int pin = pin(offset, length, false, null);
        try {
            state.mapping.populate(offset, length); // the pins keep the mapping
        } finally {
            pins.unpin(first(offset), last(offset, length), pin);
        }
    }

    /**
     * For {@link Ahead}, on its thread: makes the pages of {@code [first, last]} WRITABLE without
     * waiting (a page that would need a wait is left to its writer), then populates those it can pin.
     */
    @Override
    public boolean prepareAhead(long first, long last) {
        long pages = state.pageCount;
        if (state.closed || first >= pages) {
            return false;
        }
        long end = Math.min(last, pages - 1);
        try {
            for (long page = first; page <= end; page++) {
                faults.faultIn(page, page, page << state.pageShift, 1, true, null);
            }
        } catch (WriteFaultException e) {
            return false; // no space, closed, truncated: the writers will meet it themselves
        }
        long offset = first << state.pageShift;
        long length = Math.min(state.size, (end + 1) << state.pageShift) - offset;
        if (length > 0) {
            int pin = pins.tryPin(first, end);
            if (pin != Pins.NOT_WRITABLE) {
                try {
                    state.mapping.populate(offset, length); // the pins keep the mapping
                } finally {
                    pins.unpin(first, end, pin);
                }
            }
        }
        return true;
    }

    private long first(long offset) {
        return offset >>> pageShift;
    }

    private long last(long offset, long length) {
        return (offset + length - 1) >>> pageShift;
    }
}
