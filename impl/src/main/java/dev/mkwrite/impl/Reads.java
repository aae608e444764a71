package dev.mkwrite.impl;

import dev.mkwrite.RangeConsumer;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Objects;

/**
 * Reads, read views and the dirty-range query: nothing here faults, calls the handler or takes the
 * region lock on the way that succeeds, but the reads of a region on tmpfs that meet a page no write has
 * prepared ({@link #readCarefully}).
 *
 * <p>A read without the lock copies from {@link #memory}: the mapping's read memory sliced to
 * the region's size, so one volatile load and the copy's own bounds check stand for the range, size and
 * closed checks. Every mapping's read memory is unmapped by closing a shared arena, which makes a racing
 * read fail with {@link IllegalStateException} instead of faulting; such a read, and one that fails the
 * bounds check, retries under the region lock, which keeps the mapping in place and throws the exception
 * that names the file, offset and page (see {@link Mapping#readSegment()}). A shrink truncates the file
 * only after it unmapped the old mapping, and a grow publishes its larger slice only after the file grew,
 * so no read reaches past the file's end.
 *
 * <p>An arena closed under a read interrupts the reader. HotSpot stops a platform thread that is inside an
 * access to a shared arena being closed with an asynchronous exception (the read's
 * {@link IllegalStateException}), and interrupts the thread as it installs it
 * ({@code JavaThread::install_async_exception}, "so it will wake up from a potential wait()"); a plain
 * JDK 25 test saw it in 5 of 2,000 closes that met a reader. Nobody interrupted that thread: left set, the
 * flag would fail its next blocking call ({@code FaultInterruptedException}, or a {@code FileChannel} closed
 * for every thread). So each read without the lock notes whether its thread was interrupted before it, and
 * a read that met a closed arena clears an interrupt that was not there before ({@link #clearClosersInterrupt}).
 * An interrupt sent by the application in the few nanoseconds of that same read would be cleared too.
 */
final class Reads {

    private final RegionState state;
    private final ByteOrder order;
    private final Layouts layouts;

    /**
     * What a read without the lock reads through, here and not in {@link RegionState} so that a read
     * reaches it one dependent load sooner: the current mapping's read memory, sliced to exactly
     * the region's size, so that the copy's own bounds check is the range, size and closed check of a
     * read (one volatile load, one compare). Null while there is none: closed, or a buffer mapping whose
     * read companion is not mapped yet; such reads go under the lock. A read holding a stale slice is
     * safe: one of a smaller size fails its bounds check and retries under the lock; one of a replaced
     * mapping fails once that mapping's arena closes, and retries. No slice ever reaches past the file's
     * end: a grow publishes its slice after the file grew, a shrink truncates the file only after it
     * unmapped the old mapping. Written with the lock held exclusive, or shared by a reader that mapped
     * the companion (the fields it digests cannot change then).
     */
    volatile MemorySegment memory;
    /** The state's {@link RegionState#holesAllocateOnRead}: one load nearer. */
    private final boolean holesAllocate;
    /**
     * The region's pins, for a read that must take the lock: set once by the region as it is made, before
     * any handle reaches it (which orders it before every read). See {@link #lockForRead}.
     */
    private Pins pins;

    Reads(RegionState state, ByteOrder order) {
        this.state = state;
        this.order = order;
        this.layouts = new Layouts(order);
        this.holesAllocate = state.holesAllocateOnRead;
    }

    /** The region gives its pins, once, before any handle reaches it. */
    void attach(Pins pins) {
        this.pins = pins;
    }

    private long first(long offset) {
        return offset >>> state.pageShift;
    }

    void get(long offset, byte[] dst, int dstOffset, int length) {
        // Objects.checkFromIndexSize's test, term for term, so that the JIT folds the copy's own into it (see
        // Writes.put), with an exception that names the file. The null test becomes the implicit one of dst.length.
        if (dst == null) {
            throw state.nullArgument("get", "destination", offset);
        }
        if ((dst.length | dstOffset | length) < 0 || length > dst.length - dstOffset) {
            throw state.arrayOutOfBounds(false, offset, dstOffset, length, dst.length);
        }
        if (careful(offset, length)) {
            lockedRead("get", offset, MemorySegment.ofArray(dst).asSlice(dstOffset, length));
            return;
        }
        boolean interrupted = interrupted();
        try {
            MemorySegment.copy(readable(), ValueLayout.JAVA_BYTE, offset, dst, dstOffset, length);
        } catch (IllegalStateException | IndexOutOfBoundsException e) {
            clearClosersInterrupt(e, interrupted);
            lockedRead("get", offset, MemorySegment.ofArray(dst).asSlice(dstOffset, length));
        }
    }

    void get(long offset, MemorySegment dst) {
        if (dst == null) {
            throw state.nullArgument("get", "destination", offset);
        }
        long length = dst.byteSize();
        if (careful(offset, length)) {
            lockedRead("get", offset, dst);
            return;
        }
        boolean interrupted = interrupted();
        try {
            MemorySegment.copy(readable(), offset, dst, 0, length);
        } catch (WrongThreadException e) {
            throw state.unusableSegment("get", "destination", offset, e);
        } catch (IllegalArgumentException e) { // the copy's refusal of a read-only destination, without the file
            throw readOnly(offset, dst, e);
        } catch (IllegalStateException | IndexOutOfBoundsException e) {
            if (!dst.scope().isAlive()) { // the destination's arena closed, not the region's
                throw state.unusableSegment("get", "destination", offset, e);
            }
            clearClosersInterrupt(e, interrupted);
            lockedRead("get", offset, dst);
        }
    }

    byte getByte(long offset) {
        if (careful(offset, 1)) {
            return lockedRead("getByte", offset, 1).get(ValueLayout.JAVA_BYTE, 0);
        }
        boolean interrupted = interrupted();
        try {
            return readable().get(ValueLayout.JAVA_BYTE, offset);
        } catch (IllegalStateException | IndexOutOfBoundsException e) {
            clearClosersInterrupt(e, interrupted);
            return lockedRead("getByte", offset, 1).get(ValueLayout.JAVA_BYTE, 0);
        }
    }

    int getInt(long offset) {
        if (careful(offset, Integer.BYTES)) {
            return layouts.getInt(lockedRead("getInt", offset, Integer.BYTES), 0);
        }
        boolean interrupted = interrupted();
        try {
            return layouts.getInt(readable(), offset);
        } catch (IllegalStateException | IndexOutOfBoundsException e) {
            clearClosersInterrupt(e, interrupted);
            return layouts.getInt(lockedRead("getInt", offset, Integer.BYTES), 0);
        }
    }

    long getLong(long offset) {
        if (careful(offset, Long.BYTES)) {
            return layouts.getLong(lockedRead("getLong", offset, Long.BYTES), 0);
        }
        boolean interrupted = interrupted();
        try {
            return layouts.getLong(readable(), offset);
        } catch (IllegalStateException | IndexOutOfBoundsException e) {
            clearClosersInterrupt(e, interrupted);
            return layouts.getLong(lockedRead("getLong", offset, Long.BYTES), 0);
        }
    }

    MemorySegment view(long offset, long length) {
        try {
            return readable().asSlice(offset, length).asReadOnly();
        } catch (IllegalStateException | IndexOutOfBoundsException e) {
            MemorySegment m = lockForRead("view", offset, length);
            if (m == null) {
                return viewWithoutLock(offset, length);
            }
            try {
                return m.asSlice(offset, length).asReadOnly();
            } finally {
                state.lock.readLock().unlock();
            }
        }
    }

    ByteBuffer viewBuffer(long offset, long length) {
        if (length > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("viewBuffer(offset " + offset + ", length " + length
                    + "): a ByteBuffer holds at most " + Integer.MAX_VALUE + " bytes; use view() "
                    + state.where(offset));
        }
        return view(offset, length).asByteBuffer().order(order);
    }

    /**
     * The memory a read without the lock copies from: {@link #memory}, the current mapping's
     * read memory sliced to the region's size. The copy's own bounds check then checks the range against
     * the size; a read of a closed region or of one being resized fails with IllegalStateException (an
     * unmapped arena) or IndexOutOfBoundsException, and the caller retries under the lock, which says
     * what is wrong. Null (closed, or no read memory mapped yet) throws the latter at once.
     */
    private MemorySegment readable() {
        MemorySegment m = memory; // volatile: see its comment
        if (m == null) {
            throw new IndexOutOfBoundsException("no memory to read without the lock"); // rare: retry under it
        }
        return m;
    }

    /** Whether this thread is interrupted, before a read without the lock: see the class comment. */
    private static boolean interrupted() {
        return Thread.currentThread().isInterrupted();
    }

    /**
     * After a read without the lock failed with {@code e}: if an arena was closed under it
     * ({@link IllegalStateException}) and this platform thread is interrupted now but was not before the
     * read ({@code interruptedBefore}), the interrupt is HotSpot's, sent with the asynchronous exception
     * that stopped the read (see the class comment), and is cleared. Virtual threads are not interrupted
     * that way, and keep theirs.
     */
    static void clearClosersInterrupt(RuntimeException e, boolean interruptedBefore) {
        if (e instanceof IllegalStateException && !interruptedBefore && !Thread.currentThread().isVirtual()
                && !BrokenRule.keepsClosersInterrupt()) {
            Thread.interrupted(); // clears it: nobody sent this thread an interrupt
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Regions on tmpfs: no read fault on a hole

    /**
     * The one gate of the reads on tmpfs: whether a read of {@code [offset, offset + length)} must go under
     * the lock ({@link #lockedRead(String, long, MemorySegment)}, then {@link #readCarefully}) because the region's holes allocate on a
     * read fault and a page of the range was not prepared by a write. False at once elsewhere.
     */
    private boolean careful(long offset, long length) {
        return holesAllocate && !prepared(offset, length);
    }

    /**
     * Whether every page of {@code [offset, offset + length)} has been prepared by a write (a state past
     * PREPARING: its memory was reserved, or written), so that a read may fault it in through the mapping
     * without allocating. A range that is bad in any way answers true: the read through the mapping checks
     * it and throws.
     */
    private boolean prepared(long offset, long length) {
        int shift = state.pageShift;
        long first = offset >>> shift;
        long last = (offset + length - 1) >>> shift;
        if (offset < 0 || length <= 0 || last < first) {
            return true;
        }
        for (long page = first; page <= last; page++) {
            Chunk c = state.table.chunkAcquire(page);
            if (c == null || !PageState.prepared(c.stateAcquire(Chunk.index(page)))) { // acquire: a hint, checked under the lock
                return false;
            }
        }
        return true;
    }

    /**
     * A read of a region on tmpfs ({@link RegionState#holesAllocateOnRead}) that meets a page no write has
     * prepared: tmpfs allocates a page for a read fault on a hole, and once it is full that read dies with
     * SIGBUS. Under the region lock, page by page: the prepared pages through the mapping, the others
     * through the region's descriptor ({@code pread}), which reads a hole as zeros and allocates nothing.
     * Reads {@code [offset, offset + dst.byteSize())} into {@code dst}.
     */
    private void readCarefully(String op, long offset, MemorySegment dst) {
        long length = dst.byteSize();
        MemorySegment m = lockForRead(op, offset, length);
        if (m == null) {
            readFile(op, offset, dst); // a hole reads as zeros and allocates nothing
            return;
        }
        try {
            int shift = state.pageShift;
            long end = offset + length;
            for (long pos = offset; pos < end; ) {
                long page = pos >>> shift;
                long stop = Math.min(end, (page + 1) << shift);
                MemorySegment part = dst.asSlice(pos - offset, stop - pos);
                Chunk c = state.table.chunkAcquire(page);
                if (c != null && PageState.prepared(c.stateAcquire(Chunk.index(page)))) {
                    MemorySegment.copy(m, pos, part, 0, part.byteSize());
                } else {
                    readFile(op, pos, part);
                }
                pos = stop;
            }
        } finally {
            state.lock.readLock().unlock();
        }
    }

    /** The most a read of a segment over another array than a {@code byte[]} copies at a time. */
    private static final int BOUNCE = 64 << 10;
    /** The most one read through the file fills of a segment a ByteBuffer views: a buffer holds less than 2 GiB. */
    private static final long DIRECT_CHUNK = 1L << 30;

    /** Reads {@code [offset, offset + dst.byteSize())} of the file into {@code dst}: zeros for a hole. */
    private void readFile(String op, long offset, MemorySegment dst) {
        try {
            if (dst.isNative() || dst.heapBase().orElse(null) instanceof byte[]) { // a ByteBuffer can view it
                for (long done = 0; done < dst.byteSize(); done += DIRECT_CHUNK) {
                    long n = Math.min(DIRECT_CHUNK, dst.byteSize() - done);
                    readFully(offset + done, dst.asSlice(done, n).asByteBuffer());
                }
                return;
            }
            byte[] bounce = new byte[(int) Math.min(BOUNCE, dst.byteSize())];
            for (long done = 0; done < dst.byteSize(); done += bounce.length) {
                int n = (int) Math.min(bounce.length, dst.byteSize() - done);
                readFully(offset + done, ByteBuffer.wrap(bounce, 0, n));
                MemorySegment.copy(MemorySegment.ofArray(bounce), 0, dst, done, n);
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(op + ": reading " + state.path + " through its descriptor failed "
                    + state.where(offset), e);
        }
    }

    /** Fills {@code b} from the file at {@code offset}; zeros past the end of the file. */
    private void readFully(long offset, ByteBuffer b) throws IOException {
        long start = offset - b.position();
        while (b.hasRemaining()) {
            if (state.file.read(b, start + b.position()) < 0) { // past the end of a file the region outlives
                while (b.hasRemaining()) {
                    b.put((byte) 0);
                }
            }
        }
    }

    /** {@link #lockedRead(String, long, MemorySegment)} of {@code length} bytes (at most 8), for a typed read. */
    private MemorySegment lockedRead(String op, long offset, int length) {
        MemorySegment value = MemorySegment.ofArray(new byte[Long.BYTES]); // the layouts read unaligned
        lockedRead(op, offset, value.asSlice(0, length));
        return value;
    }

    /**
     * Reads {@code [offset, offset + dst.byteSize())} into {@code dst} under the region lock: where a read
     * without the lock failed (closed, resized, out of range: the lock says which), or a read on tmpfs met
     * a page no write prepared ({@link #careful}, then {@link #readCarefully}). Refuses a read-only
     * {@code dst}, naming the file: a {@code pread} would write into it.
     */
    private void lockedRead(String op, long offset, MemorySegment dst) {
        if (dst.isReadOnly()) {
            throw readOnly(offset, dst, null);
        }
        try {
            if (holesAllocate) {
                readCarefully(op, offset, dst);
                return;
            }
            MemorySegment m = lockForRead(op, offset, dst.byteSize());
            if (m == null) {
                readFile(op, offset, dst);
                return;
            }
            try {
                MemorySegment.copy(m, offset, dst, 0, dst.byteSize());
            } finally {
                state.lock.readLock().unlock();
            }
        } catch (WrongThreadException e) { // the caller's segment, as on the fast path: named, nothing read
            throw state.unusableSegment(op, "destination", offset, e);
        } catch (IllegalStateException e) {
            if (!dst.scope().isAlive()) {
                throw state.unusableSegment(op, "destination", offset, e);
            }
            throw e;
        }
    }

    /** A read into a read-only segment: nothing was read. {@code cause} is the copy's refusal, or null. */
    private IllegalArgumentException readOnly(long offset, MemorySegment dst, IllegalArgumentException cause) {
        if (!dst.isReadOnly()) { // not the destination's fault: the copy's own refusal is the news
            return cause;
        }
        return new IllegalArgumentException("get(offset " + offset + ", a read-only segment): nothing read "
                + state.where(offset), cause);
    }

    /**
     * Checks a read, takes the region lock shared and returns the read memory of the mapping, which the
     * lock keeps in place; the caller unlocks. Throws, with the lock released, if the region is closed,
     * the range past its end, or the read memory cannot be mapped.
     *
     * <p>Returns null, holding no lock, if an exclusive operation holds the lock while this thread holds a
     * span: that operation may be waiting for the span (a close, a truncate, a punch or a grow drains the
     * pinned writers), and a wait here would be for good. So too from a handler's {@code beforeWriteback},
     * which may read the region: a close or a shrink waits for the page under writeback, and no shrink or
     * unmap happens until the callback returns. The range is checked against the region then,
     * without the lock; the caller reads through the file ({@code pread}), which sees the same page cache
     * as the mapping, or, for a view, through the mapping, which the span keeps mapped. (A filesystem whose
     * reads bypass the page cache, FUSE with {@code direct_io} or a 9p or virtiofs mount with
     * {@code cache=none}, would show such a read the bytes last written back, not those stored since.)
     */
    private MemorySegment lockForRead(String op, long offset, long length) {
        state.checkRange(op, offset, length);
        if (!state.lock.readLock().tryLock()) {
            if (pins.heldByThisThread() || HandlerScope.inWritebackOf(state)) {
                checkWithoutLock(offset, length);
                return null;
            }
            state.lock.readLock().lock();
        }
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
                throw new java.io.UncheckedIOException("mapping " + state.path + " for reading failed "
                        + state.where(offset), e);
            }
            if (memory == null) {
                state.publishReads(); // a buffer mapping's companion is mapped now: reads go without the lock
            }
            ok = true;
            return m;
        } finally {
            if (!ok) {
                state.lock.readLock().unlock();
            }
        }
    }

    /** {@link #lockForRead}'s checks, for a span's holder that cannot wait for the lock. */
    private void checkWithoutLock(long offset, long length) {
        if (state.closed) { // volatile; a close waiting for the span has set it
            throw state.closedException(offset, first(offset));
        }
        if (offset + length > state.size) {
            throw state.outOfRegion(offset, length);
        }
    }

    /**
     * A view for a span's holder that cannot wait for the lock ({@link #lockForRead}): of the current mapping,
     * which no exclusive operation unmaps while the span is open. A buffer mapping's read companion goes at
     * a grow, at once: then the view is made again of the mapping that replaced it.
     */
    private MemorySegment viewWithoutLock(long offset, long length) {
        long deadline = System.nanoTime() + PUBLICATION_NANOS;
        for (int closedCompanions = 0; ; ) {
            try {
                return state.mapping.readSegment().asSlice(offset, length).asReadOnly();
            } catch (IllegalStateException e) { // a grow's companion closed meanwhile: the next mapping's is new
                if (++closedCompanions > 8) {
                    throw e;
                }
            } catch (IndexOutOfBoundsException e) {
                // A grow published its size before its mapping (the size was checked against the new one, the
                // mapping read was the old): it stores the mapping next, waiting for nothing, though its thread
                // may be preempted in between. Yielded to, not bounded by a count: a loaded host's pause.
                if (System.nanoTime() - deadline > 0) {
                    throw state.outOfRegion(offset, length);
                }
                Thread.yield();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException("mapping " + state.path + " for reading failed "
                        + state.where(offset), e);
            }
            checkWithoutLock(offset, length);
        }
    }

    /** How long a view waits for a grow between its size and its mapping before it calls the range bad. */
    private static final long PUBLICATION_NANOS = 10_000_000_000L;

    long dirtyRanges(RangeConsumer ranges) {
        if (ranges == null) {
            throw new NullPointerException("dirtyRanges(null): the RangeConsumer is null " + state.where(0));
        }
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
}
