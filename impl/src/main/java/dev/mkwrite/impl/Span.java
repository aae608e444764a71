package dev.mkwrite.impl;

import dev.mkwrite.WriteSpan;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/** A pinned range of pages; confined to the thread that opened it. */
final class Span implements WriteSpan {

    private final Pins pins;
    /**
     * The region's state: the views read its memory and mapping when asked, not when the span opened. Any
     * mapping they find then is mapped until the pins end: one the span's pins began under waits for them
     * to retire, and a newer one is the current mapping. Either maps the same file pages.
     */
    private final RegionState state;
    private final java.nio.ByteOrder order;
    private final long offset;
    private final long length;
    private final long firstPage;
    private final long lastPage;
    /** How the pages are pinned: a hazard slot, {@link Pins#STATE_PINS} or {@link Pins#NO_PINS}. */
    private final Hazards.Slot pin;
    private boolean open = true;

    Span(Pins pins, RegionState state, java.nio.ByteOrder order, long offset, long length, long firstPage,
         long lastPage, Hazards.Slot pin) {
        this.pins = pins;
        this.state = state;
        this.order = order;
        this.offset = offset;
        this.length = length;
        this.firstPage = firstPage;
        this.lastPage = lastPage;
        this.pin = pin;
    }

    @Override
    public long offset() {
        return offset;
    }

    @Override
    public long length() {
        return length;
    }

    @Override
    public MemorySegment segment() {
        ensureOpen();
        MemorySegment memory = state.memory; // volatile: see the field's comment
        return memory.asSlice(at(memory.byteSize()), length);
    }

    @Override
    public ByteBuffer buffer() {
        ensureOpen();
        Mapping mapping = state.mapping; // volatile: as segment()
        return mapping.buffer(at(mapping.segment().byteSize()), length).order(order);
    }

    @Override
    public void close() {
        if (open) {
            open = false;
            pins.unpin(firstPage, lastPage, pin);
        }
    }

    /**
     * Where the views start in memory of {@code mapped} bytes: the offset. An empty span pins nothing, so
     * the region may have shrunk below its offset since it opened; its empty views then sit at the end.
     */
    private long at(long mapped) {
        return length == 0 ? Math.min(offset, mapped) : offset;
    }

    private void ensureOpen() {
        if (!open) {
            throw new IllegalStateException("span [" + offset + ", " + (offset + length) + ") of " + state.path
                    + " is closed");
        }
    }

    @Override
    public String toString() {
        return "WriteSpan[" + state.path + ", offset=" + offset + ", length=" + length + (open ? "" : ", closed") + "]";
    }
}
