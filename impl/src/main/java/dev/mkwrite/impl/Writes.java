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

    /** {@link #pin}'s answer to a no-wait write that would have had to wait; nothing is pinned. */
    private static final Hazards.Slot WOULD_BLOCK = new Hazards.Slot();

    private final RegionState state;
    private final Pins pins;
    private final FaultPath faults;
    private final ByteOrder order;
    private final Layouts layouts;
    /** The region's, copied: every write computes its pages with it, one load nearer. */
    private final int pageShift;
    /** Prepare-ahead for sequential writers, or null. */
    private final Ahead ahead;
    // The fast path's pin reads these three straight from here, not through pins: each is one dependent
    // load nearer the page state it checks, which is the latency every small write waits for.
    private final Hazards.Slot[] slots;
    private final PageTable table;
    private final Waiters waiters;

    Writes(RegionState state, Pins pins, FaultPath faults, ByteOrder order, long prepareAheadBytes) {
        this.state = state;
        this.pins = pins;
        this.faults = faults;
        this.order = order;
        this.layouts = new Layouts(order);
        this.pageShift = state.pageShift;
        long aheadPages = state.pagesFor(prepareAheadBytes);
        this.ahead = aheadPages > 0 ? new Ahead(this, aheadPages) : null;
        this.slots = pins.slots();
        this.table = state.table;
        this.waiters = state.waiters;
    }

    WriteSpan write(long offset, long length) {
        return span(offset, length, false, null);
    }

    WriteSpan tryWrite(long offset, long length) {
        return span(offset, length, true, null);
    }

    WriteSpan tryWrite(long offset, long length, WouldBlock why) {
        if (why == null) {
            throw state.nullArgument("tryWrite", "WouldBlock", offset);
        }
        return span(offset, length, true, why);
    }

    private Span span(long offset, long length, boolean noWait, WouldBlock why) {
        Hazards.Slot pin = pinFast(state, offset, length); // checks the range itself: null for every bad one
        if (pin == null) {
            return spanSlowly(offset, length, noWait, why);
        }
        return new Span(this, offset, length, pin, pins.opener(pin, first(offset), last(offset, length)));
    }

    /** {@link #span} past the fast path: the checks that throw, empty spans, faults, spans of pages. */
    private Span spanSlowly(long offset, long length, boolean noWait, WouldBlock why) {
        state.checkRange("write", offset, length);
        if (length == 0) {
            state.checkEmpty(offset);
            return new Span(this, offset, 0, Pins.NO_PINS, null);
        }
        Hazards.Slot pin = pin(offset, length, noWait, why);
        if (pin == WOULD_BLOCK) {
            return null;
        }
        return new Span(this, offset, length, pin, pins.opener(pin, first(offset), last(offset, length)));
    }

    // Each write has two halves. The first, small enough for the JIT to inline into the caller, pins through
    // pinFast, stores and unpins; it covers a write within one WRITABLE page inside the region. The second,
    // ...Slowly, does everything else: the checks that throw, faults, spans of pages, pins through the
    // state words. The store is written in both, so that neither half carries the other's branches.

    void put(long offset, byte[] src, int srcOffset, int length) {
        // Objects.checkFromIndexSize's test, term for term, with an exception that names the file: the copy
        // below makes the same test, and the JIT folds it into this one only when the two match. With
        // src.length left out of the or (it cannot be negative), a 64 B put took 0.5 ns more. The null test
        // costs nothing: never taken, it becomes the implicit null check of src.length.
        if (src == null) {
            throw state.nullArgument("put", "source", offset);
        }
        if ((src.length | srcOffset | length) < 0 || length > src.length - srcOffset) {
            throw state.arrayOutOfBounds(true, offset, srcOffset, length, src.length);
        }
        RegionState st = state; // once: the JIT does not trust a final field's load across the pin's volatile reads
        Hazards.Slot pin = pinFast(st, offset, length);
        if (pin == null) {
            putSlowly(offset, src, srcOffset, length);
            return;
        }
        try {
            // From the array itself: no heap segment over it to check as well. Memory read after the pin.
            MemorySegment.copy(src, srcOffset, st.memory, ValueLayout.JAVA_BYTE, offset, length);
        } finally {
            unpinFast(pin);
        }
    }

    private void putSlowly(long offset, byte[] src, int srcOffset, int length) {
        if (length == 0) {
            putNothing("put", offset);
            return;
        }
        Hazards.Slot pin = pinForWrite("put", offset, length);
        try {
            MemorySegment.copy(src, srcOffset, state.memory, ValueLayout.JAVA_BYTE, offset, length);
        } catch (Throwable t) {
            unpinAfter(offset, length, pin);
            throw t;
        }
        pins.unpin(first(offset), last(offset, length), pin);
    }

    void put(long offset, MemorySegment src) {
        if (src == null) {
            throw state.nullArgument("put", "source", offset);
        }
        copyIn(offset, src, src.byteSize());
    }

    void put(long offset, ByteBuffer src) {
        if (src == null) {
            throw state.nullArgument("put", "source", offset);
        }
        int length = src.remaining();
        copyIn(offset, MemorySegment.ofBuffer(src), length);
        src.position(src.position() + length);
    }

    /** Both puts of a segment's or a buffer's bytes. */
    private void copyIn(long offset, MemorySegment src, long length) {
        RegionState st = state; // once, as put's
        Hazards.Slot pin = pinFast(st, offset, length);
        if (pin == null) {
            copyInSlowly(offset, src, length);
            return;
        }
        try {
            MemorySegment.copy(src, 0, st.memory, offset, length); // memory read after the pin
        } catch (IllegalStateException | WrongThreadException e) { // the pins keep the region's memory: the source's
            throw st.unusableSegment("put", "source", offset, e);
        } finally {
            unpinFast(pin);
        }
    }

    private void copyInSlowly(long offset, MemorySegment src, long length) {
        if (length == 0) {
            putNothing("put", offset);
            return;
        }
        Hazards.Slot pin = pinForWrite("put", offset, length);
        try {
            MemorySegment.copy(src, 0, state.memory, offset, length);
        } catch (IllegalStateException | WrongThreadException e) {
            unpinAfter(offset, length, pin);
            throw state.unusableSegment("put", "source", offset, e);
        } catch (Throwable t) {
            unpinAfter(offset, length, pin);
            throw t;
        }
        pins.unpin(first(offset), last(offset, length), pin);
    }

    void putByte(long offset, byte value) {
        putValue("putByte", offset, Byte.BYTES, value);
    }

    void putInt(long offset, int value) {
        putValue("putInt", offset, Integer.BYTES, value);
    }

    void putLong(long offset, long value) {
        putValue("putLong", offset, Long.BYTES, value);
    }

    /**
     * The puts of one value of {@code size} bytes. Each caller passes a constant size, so that once the JIT
     * inlines this into it, {@link #store}'s switch is gone.
     */
    private void putValue(String op, long offset, int size, long value) {
        RegionState st = state; // once, as put's
        Hazards.Slot pin = pinFast(st, offset, size);
        if (pin == null) {
            putValueSlowly(op, offset, size, value);
            return;
        }
        try {
            store(st.memory, offset, size, value); // memory read after the pin
        } finally {
            unpinFast(pin);
        }
    }

    private void putValueSlowly(String op, long offset, int size, long value) {
        Hazards.Slot pin = pinForWrite(op, offset, size);
        try {
            store(state.memory, offset, size, value);
        } catch (Throwable t) {
            unpinAfter(offset, size, pin);
            throw t;
        }
        pins.unpin(first(offset), last(offset, size), pin);
    }

    /** Stores the low {@code size} bytes of {@code value} (1, 4 or 8) at {@code offset} of {@code memory}, in the region's order. */
    private void store(MemorySegment memory, long offset, int size, long value) {
        switch (size) {
            case Byte.BYTES -> memory.set(ValueLayout.JAVA_BYTE, offset, (byte) value);
            case Integer.BYTES -> layouts.setInt(memory, offset, (int) value);
            default -> layouts.setLong(memory, offset, value);
        }
    }

    /** A put of no bytes: checks the offset, writes nothing. */
    private void putNothing(String op, long offset) {
        state.checkRange(op, offset, 0);
        state.checkEmpty(offset);
    }

    /**
     * A store that threw after its pages were pinned (it should not: the range was checked and the pins
     * keep the mapping) unpins them, so no drainer waits for this write, and the caller rethrows. Out of
     * line: the slow halves inline an unpin for their normal path only.
     */
    private void unpinAfter(long offset, long length, Hazards.Slot pin) {
        pins.unpin(first(offset), last(offset, length), pin);
    }

    /**
     * The fast path, kept small so that the JIT inlines it, and the write that calls it, into the caller:
     * a write of {@code length > 0} bytes within one page that is WRITABLE and inside the region, pinned
     * through this thread's home hazard slot ({@link Pins#tryPinPage}); {@link Pins#unpinHazard} ends the pin.
     * Returns null, with nothing pinned, for every other write, which the slow half then checks.
     */
    private Hazards.Slot pinFast(RegionState st, long offset, long length) {
        long end = offset + length;
        long page = offset >>> pageShift;
        // One test, one branch: length > 0, offset >= 0, an end that does not overflow (a sign bit in any of
        // the three is a bad range), and the first and last byte in the same page.
        if ((((length - 1) | offset | end) >>> 63 | (offset ^ (end - 1)) >>> pageShift) == 0) {
            return Pins.tryPinPage(slots, table, page, end, st); // checks the size after the pin
        }
        return null;
    }

    /** Ends {@link #pinFast}'s pin. */
    private void unpinFast(Hazards.Slot pin) {
        Pins.unpinHazard(pin, waiters);
    }

    /**
     * The slow halves' pin: checks a blocking write of {@code length > 0} bytes (the exception names the
     * file, the offset and its page) and pins its pages, faulting as needed.
     */
    private Hazards.Slot pinForWrite(String op, long offset, long length) {
        if ((offset | (offset + length)) < 0) {
            state.checkRange(op, offset, length); // throws
        }
        return pin(offset, length, false, null);
    }

    /**
     * Pins every page of the write, faulting in those that are not WRITABLE, or throws if the range is past
     * the end. Returns the pin (see {@link Pins#tryPin}), or {@link #WOULD_BLOCK} for a no-wait write that
     * would have had to wait; then nothing is pinned. The writes call it once {@link #pinFast} has failed,
     * so its loop starts with the pin itself: one pass over the pages' states before a fault, not two.
     */
    private Hazards.Slot pin(long offset, long length, boolean noWait, WouldBlock why) {
        long first = first(offset);
        long last = last(offset, length);
        long end = offset + length;
        if (end > state.size) {
            throw state.closed ? state.closedException(offset, first) : state.outOfRegion(offset, length);
        }
        for (;;) {
            Hazards.Slot pin = pins.tryPin(first, last);
            if (pin != null) {
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
        Hazards.Slot pin = pin(offset, length, false, null);
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
            Hazards.Slot pin = pins.tryPinStateWords(first, end); // the daemon owns no slot: see Pins
            if (pin != null) {
                try {
                    state.mapping.populate(offset, length); // the pins keep the mapping
                } finally {
                    pins.unpin(first, end, pin);
                }
            }
        }
        return true;
    }

    @Override
    public long pageCount() {
        return state.pageCount;
    }

    /** A new {@link Writer} for this thread, writing through {@code target} on its slow path. */
    Writer writer(dev.mkwrite.MappedRegion target, RegionHandle handle) {
        if (state.closed) { // a handle's last close under way: its writes are not gone yet, the region is closed
            throw state.closedException(-1, -1);
        }
        return new Writer(target, handle, state, pins.hazards(), layouts);
    }

    /** The region's state, for a {@link Span}'s views. */
    RegionState state() {
        return state;
    }

    /** The region's byte order, for a {@link Span}'s buffer. */
    ByteOrder order() {
        return order;
    }

    /** Ends a {@link Span}'s pin of {@code [offset, offset + length)} ({@link Pins#unpin}). */
    void unpin(long offset, long length, Hazards.Slot pin) {
        pins.unpin(first(offset), last(offset, length), pin); // an empty span's NO_PINS ends nothing
    }

    private long first(long offset) {
        return offset >>> pageShift;
    }

    private long last(long offset, long length) {
        return (offset + length - 1) >>> pageShift;
    }
}
