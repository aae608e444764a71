package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.RegionBuilder;
import dev.mkwrite.RangeConsumer;
import dev.mkwrite.RegionStats;
import dev.mkwrite.WouldBlock;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.WriteSpan;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Objects;

/**
 * The {@link MappedRegion} of one file: the facade that checks each call's arguments and hands it to the
 * part of the protocol that owns it. The parts, and the state they share ({@link RegionState}):
 * <ul>
 *   <li>{@link RegionFile}: the file, its lock and descriptors;</li>
 *   <li>{@link Pins}: the lock-free fast path's pins, and the drains that wait for them;</li>
 *   <li>{@link FaultPath}: the write fault, with its one lock drop and retry;</li>
 *   <li>{@link Writeback}: flush;</li>
 *   <li>{@link Resizing}: grow, truncate and punchHole, generations, quiesce and thaw;</li>
 *   <li>{@link Retirement}: mappings a grow replaced, unmapped once their writers leave;</li>
 *   <li>{@link Ledger}: the reservations mkwrite owns.</li>
 * </ul>
 *
 * <h2>Deadlock freedom</h2>
 * A thread never waits while it holds pins: a write that meets a page it cannot pin releases the pins
 * it has before it faults. Flush completes the pages that have drained before waiting for the rest, so
 * a writer waiting on one page under writeback never blocks a flush waiting on another. Exclusive
 * operations wait for pins and writeback, neither of which needs the region lock to end.
 */
final class Region implements MappedRegion, Ahead.Preparer {

    private static final Logger LOG = LoggerFactory.getLogger(Region.class);


    /** {@link #pin}'s answer to a no-wait write that would have had to wait. */
    private static final int WOULD_BLOCK = -2;

    private final RegionState state;
    private final RegionFile file;
    private final Pins pins;
    private final FaultPath faults;
    private final Writeback writeback;
    private final Resizing resizing;
    private final Retirement retirement;
    /** The region's byte order, for the typed accessors and every buffer handed out. */
    private final ByteOrder order;
    private final ValueLayout.OfInt intLayout;
    private final ValueLayout.OfLong longLayout;
    private final WriteFaultHandler handler;
    /** Prepare-ahead for sequential writers, or null. */
    private final Ahead ahead;

    private Region(RegionBuilder spec, RegionState state, RegionFile file) {
        this.state = state;
        this.file = file;
        this.handler = spec.handler();
        this.order = spec.byteOrder();
        this.intLayout = ValueLayout.JAVA_INT_UNALIGNED.withOrder(order);
        this.longLayout = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(order);
        Ledger ledger = new Ledger(state);
        this.pins = new Pins(state);
        this.writeback = new Writeback(state, pins, ledger, spec.handler());
        this.faults = new FaultPath(state, ledger, writeback, spec.handler(), spec.dirtyLimit());
        this.retirement = new Retirement(state, pins);
        this.resizing = new Resizing(state, file, pins, writeback, retirement, ledger);
        long aheadPages = state.pagesFor(spec.prepareAhead());
        this.ahead = aheadPages > 0 ? new Ahead(this, aheadPages) : null;
    }

    /**
     * Opens a new region over {@code spec}'s file. Applications reach it only through {@link RegionRegistry},
     * which shares one region between the opens of a file; a second region over a file open in this JVM
     * fails on the file lock.
     */
    static Region open(RegionBuilder spec) throws IOException {
        int pageSize = RegionSettings.of(spec).pageSize(); // checks the page size and the size
        RegionFile file = RegionFile.open(spec);
        boolean success = false;
        try {
            long size = Math.max(file.size(), spec.size());
            if (size > spec.backing().maxRegionSize()) {
                throw RegionState.tooLarge(size, spec.backing(), spec.path());
            }
            Mapping mapping = file.map(spec.backing(), size); // extends a shorter file sparsely
            Region region = new Region(spec, new RegionState(spec.path(), spec.backing(), pageSize,
                    spec.stablePages() || spec.handler().needsStablePages(), mapping, size), file);
            success = true;
            LOG.debug("opened {}: {} bytes, {}-byte pages, {}", spec.path(), size, pageSize, spec.backing());
            return region;
        } finally {
            if (!success) {
                file.close(null);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Accessors

    @Override
    public Path path() {
        return state.path;
    }

    @Override
    public long size() {
        return state.size;
    }

    @Override
    public int pageSize() {
        return state.pageSize;
    }

    @Override
    public Backing backing() {
        return state.backing;
    }

    @Override
    public boolean isClosed() {
        return state.closed;
    }

    @Override
    public RegionStats stats() {
        boolean nativeMapping = state.mapping instanceof Mapping.NativeMapping;
        return state.counters.snapshot(state.pageCount, pins.pinnedPages(), state.table.metadataBytes(),
                file.hasNativeDescriptor(), nativeMapping);
    }

    // ---------------------------------------------------------------------------------------------
    // Writes: pin the pages (faulting those not WRITABLE), store, unpin.

    @Override
    public WriteSpan write(long offset, long length) {
        return span(offset, length, false, null);
    }

    @Override
    public WriteSpan tryWrite(long offset, long length) {
        return span(offset, length, true, null);
    }

    @Override
    public WriteSpan tryWrite(long offset, long length, WouldBlock why) {
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

    @Override
    public void put(long offset, byte[] src, int srcOffset, int length) {
        Objects.checkFromIndexSize(srcOffset, length, src.length);
        copyIn("put", offset, MemorySegment.ofArray(src), srcOffset, length);
    }

    @Override
    public void put(long offset, MemorySegment src) {
        copyIn("put", offset, src, 0, src.byteSize());
    }

    @Override
    public void put(long offset, ByteBuffer src) {
        int length = src.remaining();
        copyIn("put", offset, MemorySegment.ofBuffer(src), 0, length);
        src.position(src.position() + length);
    }

    @Override
    public void putByte(long offset, byte value) {
        int pin = pinForWrite("putByte", offset, 1);
        try {
            state.mapping.segment().set(ValueLayout.JAVA_BYTE, offset, value);
        } finally {
            pins.unpin(first(offset), last(offset, 1), pin);
        }
    }

    @Override
    public void putInt(long offset, int value) {
        int pin = pinForWrite("putInt", offset, Integer.BYTES);
        try {
            state.mapping.segment().set(intLayout, offset, value);
        } finally {
            pins.unpin(first(offset), last(offset, Integer.BYTES), pin);
        }
    }

    @Override
    public void putLong(long offset, long value) {
        int pin = pinForWrite("putLong", offset, Long.BYTES);
        try {
            state.mapping.segment().set(longLayout, offset, value);
        } finally {
            pins.unpin(first(offset), last(offset, Long.BYTES), pin);
        }
    }

    /** Every put: pins the pages, copies, unpins. */
    private void copyIn(String op, long offset, MemorySegment src, long srcOffset, long length) {
        if (length == 0) {
            state.checkRange(op, offset, 0);
            state.checkEmpty(offset);
            return;
        }
        int pin = pinForWrite(op, offset, length);
        try {
            MemorySegment.copy(src, srcOffset, state.mapping.segment(), offset, length); // mapping read after the pins
        } finally {
            pins.unpin(first(offset), last(offset, length), pin);
        }
    }

    /** Checks a blocking write of {@code length > 0} bytes and pins its pages, faulting as needed. */
    private int pinForWrite(String op, long offset, long length) {
        state.checkRange(op, offset, length);
        return pin(offset, length, false, null);
    }

    /**
     * Pins every page of the write, faulting in those that are not WRITABLE. Returns how they are pinned
     * (see {@link Pins#tryPin}), or {@link #WOULD_BLOCK} for a no-wait write that would have had to wait;
     * then nothing is pinned.
     */
    private int pin(long offset, long length, boolean noWait, WouldBlock why) {
        long end = offset + length;
        if (end > state.size) {
            throw state.closed ? state.closedException(offset, first(offset)) : state.outOfRegion(offset, length);
        }
        long first = first(offset);
        long last = last(offset, length);
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

    @Override
    public void prepare(long offset, long length) {
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
        } catch (dev.mkwrite.WriteFaultException e) {
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
        return offset >>> state.pageShift;
    }

    private long last(long offset, long length) {
        return (offset + length - 1) >>> state.pageShift;
    }

    // ---------------------------------------------------------------------------------------------
    // Reads: never fault, and take no lock. Every mapping's read memory is unmapped by closing a shared
    // arena, which makes a racing read fail with IllegalStateException instead of faulting; such a read
    // retries under the region lock, which keeps the mapping in place (see Mapping.readSegment). A shrink
    // truncates the file only after it unmapped the old mapping, so no read reaches past the file's end.

    @Override
    public void get(long offset, byte[] dst, int dstOffset, int length) {
        Objects.checkFromIndexSize(dstOffset, length, dst.length);
        try {
            MemorySegment.copy(readable("get", offset, length), ValueLayout.JAVA_BYTE, offset, dst, dstOffset, length);
        } catch (IllegalStateException | IndexOutOfBoundsException e) {
            MemorySegment m = lockForRead("get", offset, length);
            try {
                MemorySegment.copy(m, ValueLayout.JAVA_BYTE, offset, dst, dstOffset, length);
            } finally {
                state.lock.readLock().unlock();
            }
        }
    }

    @Override
    public void get(long offset, MemorySegment dst) {
        long length = dst.byteSize();
        try {
            MemorySegment.copy(readable("get", offset, length), offset, dst, 0, length);
        } catch (IllegalStateException | IndexOutOfBoundsException e) {
            MemorySegment m = lockForRead("get", offset, length);
            try {
                MemorySegment.copy(m, offset, dst, 0, length);
            } finally {
                state.lock.readLock().unlock();
            }
        }
    }

    @Override
    public byte getByte(long offset) {
        try {
            return readable("getByte", offset, 1).get(ValueLayout.JAVA_BYTE, offset);
        } catch (IllegalStateException | IndexOutOfBoundsException e) {
            return lockedRead("getByte", offset, 1).get(ValueLayout.JAVA_BYTE, 0);
        }
    }

    @Override
    public int getInt(long offset) {
        try {
            return readable("getInt", offset, Integer.BYTES).get(intLayout, offset);
        } catch (IllegalStateException | IndexOutOfBoundsException e) {
            return lockedRead("getInt", offset, Integer.BYTES).get(intLayout, 0);
        }
    }

    @Override
    public long getLong(long offset) {
        try {
            return readable("getLong", offset, Long.BYTES).get(longLayout, offset);
        } catch (IllegalStateException | IndexOutOfBoundsException e) {
            return lockedRead("getLong", offset, Long.BYTES).get(longLayout, 0);
        }
    }

    @Override
    public MemorySegment view(long offset, long length) {
        try {
            return readable("view", offset, length).asSlice(offset, length).asReadOnly();
        } catch (IllegalStateException | IndexOutOfBoundsException e) {
            MemorySegment m = lockForRead("view", offset, length);
            try {
                return m.asSlice(offset, length).asReadOnly();
            } finally {
                state.lock.readLock().unlock();
            }
        }
    }

    @Override
    public ByteBuffer viewBuffer(long offset, long length) {
        if (length > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("viewBuffer(offset " + offset + ", length " + length
                    + "): a ByteBuffer holds at most " + Integer.MAX_VALUE + " bytes; use view() [file "
                    + state.path + ", offset " + offset + ", page " + first(Math.max(0, offset)) + "]");
        }
        return view(offset, length).asByteBuffer().order(order);
    }

    /**
     * The read memory of the current mapping for a read of {@code [offset, offset + length)}, checked
     * against the size and closed, without a lock. The mapping is read before the size: a shrink stores
     * the size first, so a reader of the new mapping sees the new size. Throws IllegalStateException or
     * IndexOutOfBoundsException where the caller must retry under the lock (a mapping being replaced).
     */
    private MemorySegment readable(String op, long offset, long length) {
        state.checkRange(op, offset, length);
        Mapping m = state.mapping; // volatile: the size read below is at least as new
        if (state.closed) {
            throw state.closedException(offset, first(offset));
        }
        if (offset + length > state.size) {
            throw state.outOfRegion(offset, length);
        }
        try {
            return m.readSegment();
        } catch (IOException e) {
            throw new IllegalStateException(e); // the locked retry says what is wrong
        }
    }

    /** Under the region lock: copies {@code [offset, offset + length)} out (at most 8 bytes), for a typed read. */
    private MemorySegment lockedRead(String op, long offset, int length) {
        MemorySegment m = lockForRead(op, offset, length);
        try {
            return MemorySegment.ofArray(new long[1]).copyFrom(m.asSlice(offset, length));
        } finally {
            state.lock.readLock().unlock();
        }
    }

    /**
     * Checks a read, takes the region lock shared and returns the read memory of the mapping, which the
     * lock keeps in place; the caller unlocks. Throws, with the lock released, if the region is closed,
     * the range past its end, or the read memory cannot be mapped.
     */
    private MemorySegment lockForRead(String op, long offset, long length) {
        state.checkRange(op, offset, length);
        state.lock.readLock().lock();
        boolean ok = false;
        try {
            if (state.closed) {
                throw state.closedException(offset, first(offset));
            }
            if (offset + length > state.size) {
                throw state.outOfRegion(offset, length);
            }
            MemorySegment m;
            try {
                m = state.mapping.readSegment();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException("mapping " + state.path + " for reading failed [file "
                        + state.path + ", offset " + offset + ", page " + first(offset) + "]", e);
            }
            ok = true;
            return m;
        } finally {
            if (!ok) {
                state.lock.readLock().unlock();
            }
        }
    }

    @Override
    public long dirtyRanges(RangeConsumer ranges) {
        Objects.requireNonNull(ranges, "ranges");
        if (state.closed) {
            throw state.closedException(0, -1);
        }
        long size = state.size;
        long[] run = {-1, -1, 0}; // first and last dirty page of the current run, dirty pages in all
        state.table.forEachPage(0, state.pageCount, (c, i, page) -> {
            int s = PageState.state(c.stateAcquire(i)); // a snapshot: acquire is enough
            if (s != PageState.WRITABLE && !PageState.underWriteback(s) && s != PageState.FROZEN) {
                return;
            }
            run[2]++;
            if (run[0] >= 0 && page == run[1] + 1) {
                run[1] = page;
                return;
            }
            emit(ranges, run, size);
            run[0] = page;
            run[1] = page;
        });
        emit(ranges, run, size);
        return run[2];
    }

    private void emit(RangeConsumer ranges, long[] run, long size) {
        if (run[0] >= 0) {
            long start = run[0] << state.pageShift;
            long end = Math.min(size, (run[1] + 1) << state.pageShift);
            if (end > start) {
                ranges.accept(start, end - start);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Writeback and the exclusive operations

    @Override
    public long flush() throws IOException {
        return writeback.flush(0, Long.MAX_VALUE);
    }

    @Override
    public long flush(long offset, long length) throws IOException {
        return writeback.flush(offset, length);
    }

    @Override
    public void grow(long newSize) throws IOException {
        resizing.grow(newSize);
    }

    @Override
    public void truncate(long newSize) throws IOException {
        resizing.truncate(newSize);
    }

    @Override
    public void punchHole(long offset, long length) throws IOException {
        resizing.punchHole(offset, length);
    }

    @Override
    public void close() throws IOException {
        HandlerScope.checkNotInHandler(state, "close");
        IOException failure = null;
        state.lock.writeLock().lock();
        try {
            if (state.closed && !file.isOpen()) {
                return;
            }
            state.closed = true; // volatile: faults see it once they hold the lock, the fast path at once
            resizing.quiesceAll();
            try {
                writeback.writeBackFrozen(state.mapping, 0, state.pageCount);
            } catch (IOException e) {
                failure = e;
                writeback.dropFrozen(); // the data stays in the page cache; the reservations end with the region
            }
            retirement.unmapAll();
            state.mapping.unmap();
        } catch (RuntimeException e) {
            failure = new IOException("closing " + state.path + " failed", e);
        } finally {
            failure = file.close(failure);
            state.lock.writeLock().unlock();
        }
        // Faults that dropped the lock finish their retry: they see the region closed and release.
        state.awaitUninterruptibly(() -> faults.inFlight() == 0,
                () -> "faults in flight to end at close of " + state.path);
        try {
            handler.regionClosed(state.path); // the file is let go of: per-file state in the handler can go
        } catch (RuntimeException e) {
            LOG.warn("WriteFaultHandler.regionClosed threw for {}; ignored", state.path, e);
        }
        LOG.debug("closed {}", state.path);
        if (failure != null) {
            throw failure;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // For tests

    /** The state word of {@code page}; a page of a chunk never allocated reads CLEAN. */
    long stateWord(long page) {
        Chunk c = state.table.chunkAcquire(page);
        return c == null ? PageState.word(PageState.CLEAN, 0) : c.stateVolatile(Chunk.index(page)); // latest, for asserts
    }

    /** See {@link Writeback#probe}. */
    int probeWriteback(long page) {
        return writeback.probe(page);
    }

    /** See {@link Writeback#probeEnd}. */
    void probeWritebackEnd(long page) {
        writeback.probeEnd(page);
    }

    /** Number of retired mappings not yet unmapped. */
    int retiredMappings() {
        return retirement.count();
    }

    @Override
    public String toString() {
        return "MappedRegion[" + state.path + ", size=" + state.size + ", pageSize=" + state.pageSize + ", "
                + state.backing + (state.closed ? ", closed" : "") + "]";
    }
}
