package dev.mkwrite.impl;

import dev.mkwrite.WriteSpan;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/** A pinned range of pages; confined to the thread that opened it. */
final class Span implements WriteSpan {

    private final Pins pins;
    private final Path path;
    private final Mapping mapping;
    private final java.nio.ByteOrder order;
    private final long offset;
    private final long length;
    private final long firstPage;
    private final long lastPage;
    /** How the pages are pinned: a hazard slot, {@link Pins#STATE_PINS} or {@link Pins#NO_PINS}. */
    private final Hazards.Slot pin;
    private boolean open = true;

    Span(Pins pins, Path path, Mapping mapping, java.nio.ByteOrder order, long offset, long length, long firstPage,
         long lastPage, Hazards.Slot pin) {
        this.pins = pins;
        this.path = path;
        this.order = order;
        this.mapping = mapping;
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
        return mapping.segment(offset, length);
    }

    @Override
    public ByteBuffer buffer() {
        ensureOpen();
        return mapping.buffer(offset, length).order(order);
    }

    @Override
    public void close() {
        if (open) {
            open = false;
            pins.unpin(firstPage, lastPage, pin);
        }
    }

    private void ensureOpen() {
        if (!open) {
            throw new IllegalStateException("span [" + offset + ", " + (offset + length) + ") of " + path
                    + " is closed");
        }
    }

    @Override
    public String toString() {
        return "WriteSpan[" + path + ", offset=" + offset + ", length=" + length + (open ? "" : ", closed") + "]";
    }
}
