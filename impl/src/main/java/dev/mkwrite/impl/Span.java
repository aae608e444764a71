package dev.mkwrite.impl;

import dev.mkwrite.WriteSpan;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * A pinned range of pages; confined to the thread that opened it.
 *
 * <p>Five fields, 40 bytes with the header: an appender that keeps its span in a field between records
 * allocates it and its segment once per span, where escape analysis cannot remove them (row 1b). The
 * pages, the region's state and the byte order are the {@link Writes}' to compute or give.
 */
final class Span implements WriteSpan {

    /**
     * The region's writes: the views read the state's memory and mapping through them when asked, not
     * when the span opened. Any mapping they find then is mapped until the pins end: one the span's pins
     * began under waits for them to retire, and a newer one is the current mapping. Either maps the same
     * file pages.
     */
    private final Writes writes;
    private final long offset;
    private final long length;
    /** How the pages are pinned: a hazard slot, a {@link Pins.StatePins} or {@link Pins#NO_PINS}; null once closed. */
    private Hazards.Slot pin;
    /**
     * Who may close it ({@link Pins#opener}): the opening thread, or its note of a pin no scan of the slots
     * finds, or null for a span that pins nothing. The thread itself, not its slot's owner, which may change
     * once the opener has ended.
     */
    private final Object opener;

    Span(Writes writes, long offset, long length, Hazards.Slot pin, Object opener) {
        this.writes = writes;
        this.offset = offset;
        this.length = length;
        this.pin = pin;
        this.opener = opener;
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
        MemorySegment memory = writes.state().memory; // volatile: see the field's comment
        return memory.asSlice(at(memory.byteSize()), length);
    }

    @Override
    public ByteBuffer buffer() {
        ensureOpen();
        if (length > Integer.MAX_VALUE) {
            throw new UnsupportedOperationException("buffer(): a span of " + length + " bytes does not fit a"
                    + " ByteBuffer; use segment() " + writes.state().where(offset));
        }
        Mapping mapping = writes.state().mapping; // volatile: as segment()
        return mapping.buffer(at(mapping.segment().byteSize()), length).order(writes.order());
    }

    /**
     * Ends the pins, on the thread that opened the span: another thread's close would race the opener's (both
     * unpinning, the second clearing the opener's next pin, or borrowing from a state word's count), so it
     * is refused with {@link WrongThreadException}, nothing changed. A second close does nothing.
     */
    @Override
    public void close() {
        Hazards.Slot p = pin;
        if (p != null) {
            if (opener != null && (opener instanceof Pins.Held h ? !Pins.forgetHeld(h) : opener != Thread.currentThread())) {
                throw closedByAnotherThread();
            }
            pin = null;
            writes.unpin(offset, length, p);
        }
    }

    /**
     * Closes the span on behalf of the thread that opened it, from a thread ordered after everything that
     * thread did (a jcstress arbiter, after the actor that opened the span): {@link #close()} without its
     * check of the calling thread. For the concurrency tests only.
     */
    void closeForOpener() {
        Hazards.Slot p = pin;
        if (p != null) {
            if (opener instanceof Pins.Held h) {
                h.end(); // marked ended only: the opener, at work on other spans, alone edits its list
            }
            pin = null;
            writes.unpin(offset, length, p);
        }
    }

    /** Out of line: the close the JIT inlines is the test and the unpin. */
    private WrongThreadException closedByAnotherThread() {
        return new WrongThreadException("span [" + offset + ", " + (offset + length) + ") of " + writes.state().path
                + " was opened by another thread, which alone may close it " + writes.state().where(offset));
    }

    /**
     * Where the views start in memory of {@code mapped} bytes: the offset. An empty span pins nothing, so
     * the region may have shrunk below its offset since it opened; its empty views then sit at the end.
     */
    private long at(long mapped) {
        return length == 0 ? Math.min(offset, mapped) : offset;
    }

    private void ensureOpen() {
        if (pin == null) {
            throw new IllegalStateException("span [" + offset + ", " + (offset + length) + ") of "
                    + writes.state().path + " is closed " + writes.state().where(offset));
        }
    }

    @Override
    public String toString() {
        return "WriteSpan[" + writes.state().path + ", offset=" + offset + ", length=" + length
                + (pin != null ? "" : ", closed") + "]";
    }
}
