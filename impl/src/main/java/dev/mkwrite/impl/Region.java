package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.RegionBuilder;
import dev.mkwrite.RegionStats;
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
final class Region implements MappedRegion {

    private static final Logger LOG = LoggerFactory.getLogger(Region.class);

    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** {@link #pin}'s answer to a no-wait write that would have had to wait. */
    private static final int WOULD_BLOCK = -2;

    private final RegionState state;
    private final RegionFile file;
    private final Pins pins;
    private final FaultPath faults;
    private final Writeback writeback;
    private final Resizing resizing;
    private final Retirement retirement;

    private Region(RegionBuilder spec, RegionState state, RegionFile file) {
        this.state = state;
        this.file = file;
        Ledger ledger = new Ledger(state);
        this.pins = new Pins(state);
        this.writeback = new Writeback(state, pins, ledger, spec.handler());
        this.faults = new FaultPath(state, ledger, writeback, spec.handler(), spec.dirtyLimit());
        this.retirement = new Retirement(state, pins);
        this.resizing = new Resizing(state, file, pins, writeback, retirement, ledger);
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
            Region region = new Region(spec, new RegionState(spec.path(), spec.backing(), pageSize, mapping, size), file);
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
        // TODO(lead): file.hasNativeDescriptor() once RegionFile has it; a native mapping implies one.
        boolean nativeMapping = state.mapping instanceof Mapping.NativeMapping;
        return state.counters.snapshot(state.pageCount, pins.pinnedPages(), state.table.metadataBytes(),
                nativeMapping, nativeMapping);
    }

    // ---------------------------------------------------------------------------------------------
    // Writes: pin the pages (faulting those not WRITABLE), store, unpin.

    @Override
    public WriteSpan write(long offset, long length) {
        return span(offset, length, false);
    }

    @Override
    public WriteSpan tryWrite(long offset, long length) {
        return span(offset, length, true);
    }

    private Span span(long offset, long length, boolean noWait) {
        state.checkRange("write", offset, length);
        if (length == 0) {
            state.checkEmpty(offset);
            return new Span(pins, state.path, state.mapping, offset, 0, 0, -1, Pins.NO_PINS);
        }
        int pin = pin(offset, length, noWait);
        if (pin == WOULD_BLOCK) {
            return null;
        }
        // The mapping is read after the pins: a grow that replaces it retires the old one until they end.
        return new Span(pins, state.path, state.mapping, offset, length, first(offset), last(offset, length), pin);
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
            state.mapping.segment().set(INT_LE, offset, value);
        } finally {
            pins.unpin(first(offset), last(offset, Integer.BYTES), pin);
        }
    }

    @Override
    public void putLong(long offset, long value) {
        int pin = pinForWrite("putLong", offset, Long.BYTES);
        try {
            state.mapping.segment().set(LONG_LE, offset, value);
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
        return pin(offset, length, false);
    }

    /**
     * Pins every page of the write, faulting in those that are not WRITABLE. Returns how they are pinned
     * (see {@link Pins#tryPin}), or {@link #WOULD_BLOCK} for a no-wait write that would have had to wait;
     * then nothing is pinned.
     */
    private int pin(long offset, long length, boolean noWait) {
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
            if (!faults.faultIn(first, last, offset, length, noWait)) {
                return WOULD_BLOCK;
            }
        }
    }

    private long first(long offset) {
        return offset >>> state.pageShift;
    }

    private long last(long offset, long length) {
        return (offset + length - 1) >>> state.pageShift;
    }

    // ---------------------------------------------------------------------------------------------
    // Reads: never fault; the shared lock keeps the mapping in place.

    @Override
    public void get(long offset, byte[] dst, int dstOffset, int length) {
        Objects.checkFromIndexSize(dstOffset, length, dst.length);
        MemorySegment m = lockForRead("get", offset, length);
        try {
            MemorySegment.copy(m, ValueLayout.JAVA_BYTE, offset, dst, dstOffset, length);
        } finally {
            state.lock.readLock().unlock();
        }
    }

    @Override
    public void get(long offset, MemorySegment dst) {
        MemorySegment m = lockForRead("get", offset, dst.byteSize());
        try {
            MemorySegment.copy(m, offset, dst, 0, dst.byteSize());
        } finally {
            state.lock.readLock().unlock();
        }
    }

    @Override
    public byte getByte(long offset) {
        MemorySegment m = lockForRead("getByte", offset, 1);
        try {
            return m.get(ValueLayout.JAVA_BYTE, offset);
        } finally {
            state.lock.readLock().unlock();
        }
    }

    @Override
    public int getInt(long offset) {
        MemorySegment m = lockForRead("getInt", offset, Integer.BYTES);
        try {
            return m.get(INT_LE, offset);
        } finally {
            state.lock.readLock().unlock();
        }
    }

    @Override
    public long getLong(long offset) {
        MemorySegment m = lockForRead("getLong", offset, Long.BYTES);
        try {
            return m.get(LONG_LE, offset);
        } finally {
            state.lock.readLock().unlock();
        }
    }

    /**
     * Checks a read, takes the region lock shared and returns the mapping to read from; the caller
     * unlocks. Throws, with the lock released, if the region is closed or the range past its end.
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
            ok = true;
            return state.mapping.segment();
        } finally {
            if (!ok) {
                state.lock.readLock().unlock();
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
