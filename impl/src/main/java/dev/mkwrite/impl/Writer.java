package dev.mkwrite.impl;

import dev.mkwrite.MappedRegion;
import dev.mkwrite.RegionWriter;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A {@link RegionWriter}: one thread's writes through a hazard slot of its own ({@link Hazards#addWriter})
 * and the page table's chunk of its last write's page (4,096 pages), kept between calls.
 *
 * <p>A write within one page of that chunk is the region's fast path with two chains of loads cut: the
 * thread's id, its hash and its home slot, and the table's directory and chunk. Nothing else changes: the write publishes
 * its page in the slot, reads the page's state, the slot's mode and the size, copies, and clears the slot
 * (release), so it is pinned for the copy only, and every drainer scans the writers' slots with the home
 * table's ({@link Hazards#scanned()}). An idle writer holds no pin. A chunk remembered from before a shrink
 * dropped it holds its pages CLEAN, which fails the state test. A write within one page of another chunk
 * looks that chunk up and pins the page the same way ({@link #pinOtherChunk}); any write neither takes goes
 * through the region's own {@code put} (its checks, faults and exceptions) and then forgets the chunk, so
 * that the next write looks its own up: a chunk a shrink dropped fails the state test on every write, and
 * only a lookup replaces it.
 *
 * <p>Confined to its thread: only the owner stores into its slot, which the protocol needs (an unpin by
 * another thread could clear a pin a drainer must see), so every write checks the caller's id, in the fast
 * path's one test.
 */
final class Writer implements RegionWriter {

    /** The handle or region it came from: the slow path's writes, with their checks. */
    private final MappedRegion target;
    /** The handle it came from, whose close ends the fast path too; null for the region's own. */
    private final RegionHandle handle;
    private final RegionState state;
    private final Waiters waiters;
    private final Hazards hazards;
    private final Hazards.Slot slot;
    private final Layouts layouts;
    private final int pageShift;
    private final long ownerId;

    /**
     * The directory slot of the chunk the last fast write looked up, or -1 (none, forgotten after a write
     * through the region, or closed): a write within
     * one page of that chunk takes the fast path. A chunk covers {@value Chunk#PAGES} pages, so a writer that
     * moves from page to page stays on it.
     */
    private long chunkSlot = -1;
    /** That chunk, as the table held it then. */
    private Chunk chunk;
    private boolean closed;

    Writer(MappedRegion target, RegionHandle handle, RegionState state, Hazards hazards, Layouts layouts) {
        this.target = target;
        this.handle = handle;
        this.state = state;
        this.waiters = state.waiters;
        this.hazards = hazards;
        this.layouts = layouts;
        this.pageShift = state.pageShift;
        Thread me = Thread.currentThread();
        this.ownerId = me.threadId();
        this.slot = hazards.addWriter(me);
    }

    @Override
    public void put(long offset, MemorySegment src) {
        if (src == null) {
            // As the slow path: another thread or a closed writer is told that first, then the region
            // refuses it in its own order (a closed handle before the argument).
            checkCaller(offset);
            target.put(offset, src);
            return;
        }
        long length = src.byteSize();
        RegionState st = state; // once: as Writes.put
        if (pinFast(offset, offset + length, st)) {
            try {
                MemorySegment.copy(src, 0, st.memory, offset, length); // memory read after the pin
            } catch (IllegalStateException | WrongThreadException e) { // pinned, the region's memory stays: the source's
                throw st.unusableSegment("put", "source", offset, e);
            } finally {
                Pins.unpinHazard(slot, waiters);
            }
            return;
        }
        checkCaller(offset);
        target.put(offset, src);
        chunkSlot = -1; // forget the chunk: the next write looks its own up (class comment)
    }

    @Override
    public void put(long offset, byte[] src, int srcOffset, int length) {
        // Writes.put's tests, term for term, so that the JIT folds the copy's own into it
        if (src == null) {
            checkCaller(offset); // as for a null segment: the region throws in its own order
            target.put(offset, src, srcOffset, length);
            return;
        }
        if ((src.length | srcOffset | length) < 0 || length > src.length - srcOffset) {
            checkCaller(offset);
            target.put(offset, src, srcOffset, length);
            return;
        }
        RegionState st = state;
        if (pinFast(offset, offset + length, st)) {
            try {
                MemorySegment.copy(src, srcOffset, st.memory, ValueLayout.JAVA_BYTE, offset, length);
            } finally {
                Pins.unpinHazard(slot, waiters);
            }
            return;
        }
        checkCaller(offset);
        target.put(offset, src, srcOffset, length);
        chunkSlot = -1; // forget the chunk: the next write looks its own up (class comment)
    }

    @Override
    public void putLong(long offset, long value) {
        RegionState st = state;
        if (pinFast(offset, offset + Long.BYTES, st)) {
            try {
                layouts.setLong(st.memory, offset, value);
            } finally {
                Pins.unpinHazard(slot, waiters);
            }
            return;
        }
        checkCaller(offset);
        target.putLong(offset, value);
        chunkSlot = -1; // forget the chunk: the next write looks its own up (class comment)
    }

    /**
     * Pins the page of the write {@code [offset, end)} through the writer's slot if the write lies within one
     * page of the remembered chunk, the caller is the owner and the handle is open, and the page is WRITABLE
     * within the region's size. One test for the first three: a negative offset names no chunk, an
     * overflowing end or a write across pages sets a bit above the page offset, and a write of no bytes at a
     * page's start spans the page before it. A write into another chunk looks it up ({@link #pinOtherChunk}).
     */
    private boolean pinFast(long offset, long end, RegionState st) {
        long page = offset >>> pageShift;
        if (((page >>> Chunk.SHIFT ^ chunkSlot) | (offset ^ (end - 1)) >>> pageShift
                | (Thread.currentThread().threadId() ^ ownerId)) == 0 && (handle == null || handle.writesOrNull() != null)) {
            // checks the size after the pin
            return Pins.tryPinWriter(slot, Hazards.value(page, page), chunk, Chunk.index(page), end, st);
        }
        return pinOtherChunk(offset, end, st);
    }

    /**
     * {@link #pinFast} for a write within one page of a chunk other than the remembered one: looks the chunk up
     * in the table, remembers it, and pins the page the same way. Out of line: the remembered chunk's path
     * stays small enough to inline.
     */
    private boolean pinOtherChunk(long offset, long end, RegionState st) {
        long page = offset >>> pageShift;
        if (closed || offset < 0 || end <= offset || (end - 1) >>> pageShift != page
                || Thread.currentThread().threadId() != ownerId || (handle != null && handle.writesOrNull() == null)) {
            return false; // the slow path checks and throws, or writes over several pages
        }
        Chunk c = st.table.chunkAcquire(page);
        if (c == null) {
            return false;
        }
        chunkSlot = page >>> Chunk.SHIFT;
        chunk = c;
        return Pins.tryPinWriter(slot, Hazards.value(page, page), c, Chunk.index(page), end, st);
    }

    /** The slow path's own checks before the region's write: the owner, then the writer's close. */
    private void checkCaller(long offset) {
        if (Thread.currentThread().threadId() != ownerId) {
            throw new WrongThreadException("a writer of " + state.path + " is confined to the thread that made it"
                    + " (thread id " + ownerId + "), not " + Thread.currentThread() + ": nothing written "
                    + state.where(offset));
        }
        if (closed) {
            throw new IllegalStateException("the writer of " + state.path + " is closed: a write at offset " + offset
                    + (offset >= 0 ? " (page " + (offset >>> pageShift) + ")" : ""));
        }
    }

    private void checkOwner() {
        if (Thread.currentThread().threadId() != ownerId) {
            throw new WrongThreadException("a writer of " + state.path + " is confined to the thread that made it"
                    + " (thread id " + ownerId + "), not " + Thread.currentThread());
        }
    }

    @Override
    public MappedRegion region() {
        return target;
    }

    @Override
    public void close() {
        checkOwner();
        if (!closed) {
            closed = true;
            chunkSlot = -1; // no fast path from here on: the slot is no longer scanned
            hazards.removeWriter(slot); // EMPTY: every write cleared it before it returned
        }
    }

    @Override
    public String toString() {
        return "RegionWriter[" + state.path + (closed ? ", closed" : "") + "]";
    }
}
