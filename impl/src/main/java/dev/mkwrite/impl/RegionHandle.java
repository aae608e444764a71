package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.RangeConsumer;
import dev.mkwrite.RegionClosedException;
import dev.mkwrite.RegionStats;
import dev.mkwrite.RegionWriter;
import dev.mkwrite.WouldBlock;
import dev.mkwrite.WriteSpan;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * What {@link dev.mkwrite.RegionBuilder#open()} returns: one open's handle on the region of its file, which
 * every open of the file in this JVM shares ({@link RegionRegistry}). Each operation checks that this
 * handle is open, then hands the call to the {@link Region}, or for the writes and the copying reads
 * straight to its {@link Writes} and {@link Reads}: one volatile read more than the region's own fast path,
 * no allocation, no lock. Closing the handle ends this handle; the registry closes the region when its last
 * handle closes.
 *
 * <p>Every method of {@link MappedRegion}, default or not, is declared here and delegates, so a handle
 * never runs a default method against itself (a test checks it): add each new method of the interface
 * here, checking {@link #state} first if the region would throw {@link RegionClosedException} when closed.
 *
 * <p>While its close runs, a handle is CLOSING and its operations still go to the region: a handle whose
 * close is the region's last behaves exactly as the region does during its close (writes that start after
 * the region's close began throw {@link RegionClosedException}; {@link #isClosed()} turns true as the
 * region's does). Once the close returns, the handle is CLOSED and refuses them itself.
 *
 * <p>Ordering: {@link #state} is volatile; OPEN to CLOSING by one CAS in {@link #close()}, then CLOSED (or
 * OPEN again if the region refused to close from inside its handler) by a volatile write. An operation that
 * reads it before CLOSED meets the region, which is open while another handle is, or throws
 * {@link RegionClosedException} itself. The writes and the copying reads read {@link #writes} and
 * {@link #reads} instead of the state: the close nulls both by volatile writes just before CLOSED, so an
 * operation that finds them meets the region as above.
 */
final class RegionHandle implements MappedRegion {

    /** {@link #state}: open; being closed (the region's own close rules apply meanwhile); closed. */
    private static final int OPEN = 0;
    private static final int CLOSING = 1;
    private static final int CLOSED = 2;
    private static final VarHandle STATE;

    static {
        try {
            STATE = MethodHandles.lookup().findVarHandle(RegionHandle.class, "state", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final Region region;
    /**
     * The region's writes while this handle is not CLOSED, null once it is: the fast path goes to them
     * directly, one call and one load nearer, and its null check is the closed check (no read of
     * {@link #state}). Volatile, cleared just before CLOSED.
     */
    private volatile Writes writes;
    /** The region's reads, as {@link #writes}: null once CLOSED, so its null check is the closed check. */
    private volatile Reads reads;
    private final RegionRegistry.Entry entry;
    private final int pageShift;
    private volatile int state;
    /** The monitor a close of this handle waits on while another thread's close of it is under way. */
    private final Object closing = new Object();
    /**
     * The thread whose close of this handle is under way (CLOSING), else null. Another close of it on that
     * thread, from a callback the close runs (the handler's {@code regionClosed}, a reservation's
     * {@code consume}), would wait for itself: it is refused.
     */
    private volatile Thread closer;

    RegionHandle(Region region, RegionRegistry.Entry entry) {
        this.region = region;
        this.writes = region.writes();
        this.reads = region.reads();
        this.entry = entry;
        this.pageShift = Integer.numberOfTrailingZeros(region.pageSize());
    }

    /** The region of {@code region}, a handle or the region itself; for tests that read page state. */
    static Region regionOf(MappedRegion region) {
        return region instanceof RegionHandle h ? h.region : (Region) region;
    }

    /** The shared region behind this handle. */
    Region region() {
        return region;
    }

    /**
     * The region, for an operation at {@code offset} (or -1) through this handle: throws, naming the file,
     * the offset and its page, once this handle is closed. One volatile read.
     */
    private Region open(long offset) {
        if (state == CLOSED) { // volatile: see the class comment
            throw closedException(offset);
        }
        return region;
    }

    /** As {@link #open}, for a write: the region's {@link Writes}. */
    private Writes writesAt(long offset) {
        Writes w = writes; // volatile: null once CLOSED (see the class comment)
        if (w == null) {
            throw closedException(offset);
        }
        return w;
    }

    /** The region's writes while this handle is open, else null: a {@link Writer}'s check, one volatile read. */
    Writes writesOrNull() {
        return writes;
    }

    /** As {@link #writesAt}, for a read: the region's {@link Reads}. */
    private Reads readsAt(long offset) {
        Reads r = reads; // volatile: null once CLOSED (see the class comment)
        if (r == null) {
            throw closedException(offset);
        }
        return r;
    }

    /** This handle's operations after its close: the file, the offset and its page. */
    private RegionClosedException closedException(long offset) {
        return new RegionClosedException(region.path(), offset, offset >= 0 ? offset >>> pageShift : -1);
    }

    // ---------------------------------------------------------------------------------------------
    // Accessors: answer after close, as the region's do.

    @Override
    public Path path() {
        return region.path();
    }

    @Override
    public long size() {
        return region.size();
    }

    @Override
    public int pageSize() {
        return region.pageSize();
    }

    @Override
    public Backing backing() {
        return region.backing();
    }

    @Override
    public RegionStats stats() {
        return region.stats();
    }

    @Override
    public boolean isClosed() {
        return state == CLOSED || region.isClosed();
    }

    // ---------------------------------------------------------------------------------------------
    // Writes, reads, writeback and resizing: refused once this handle is closed.

    @Override
    public WriteSpan write(long offset, long length) {
        return writesAt(offset).write(offset, length);
    }

    @Override
    public WriteSpan tryWrite(long offset, long length) {
        return writesAt(offset).tryWrite(offset, length);
    }

    @Override
    public void put(long offset, byte[] src, int srcOffset, int length) {
        writesAt(offset).put(offset, src, srcOffset, length);
    }

    @Override
    public void put(long offset, byte[] src) {
        writesAt(offset).put(offset, src, 0, src == null ? 0 : src.length); // a null is named
    }

    @Override
    public void put(long offset, MemorySegment src) {
        writesAt(offset).put(offset, src);
    }

    @Override
    public void put(long offset, ByteBuffer src) {
        writesAt(offset).put(offset, src);
    }

    @Override
    public void putByte(long offset, byte value) {
        writesAt(offset).putByte(offset, value);
    }

    @Override
    public void putInt(long offset, int value) {
        writesAt(offset).putInt(offset, value);
    }

    @Override
    public void putLong(long offset, long value) {
        writesAt(offset).putLong(offset, value);
    }

    @Override
    public void get(long offset, byte[] dst, int dstOffset, int length) {
        readsAt(offset).get(offset, dst, dstOffset, length);
    }

    @Override
    public void get(long offset, MemorySegment dst) {
        readsAt(offset).get(offset, dst);
    }

    @Override
    public byte getByte(long offset) {
        return readsAt(offset).getByte(offset);
    }

    @Override
    public int getInt(long offset) {
        return readsAt(offset).getInt(offset);
    }

    @Override
    public long getLong(long offset) {
        return readsAt(offset).getLong(offset);
    }

    @Override
    public WriteSpan tryWrite(long offset, long length, WouldBlock why) {
        return open(offset).tryWrite(offset, length, why);
    }

    @Override
    public RegionWriter writer() {
        return writesAt(-1).writer(this, this);
    }

    @Override
    public void prepare(long offset, long length) {
        open(offset).prepare(offset, length);
    }

    @Override
    public MemorySegment view(long offset, long length) {
        return open(offset).view(offset, length);
    }

    @Override
    public ByteBuffer viewBuffer(long offset, long length) {
        return open(offset).viewBuffer(offset, length);
    }

    @Override
    public long dirtyRanges(RangeConsumer ranges) {
        return open(0).dirtyRanges(ranges);
    }

    @Override
    public long flush() throws IOException {
        return open(0).flush();
    }

    @Override
    public long flush(long offset, long length) throws IOException {
        return open(offset).flush(offset, length);
    }

    @Override
    public void grow(long newSize) throws IOException {
        open(newSize).grow(newSize);
    }

    @Override
    public void truncate(long newSize) throws IOException {
        open(newSize).truncate(newSize);
    }

    @Override
    public void punchHole(long offset, long length) throws IOException {
        open(offset).punchHole(offset, length);
    }

    // ---------------------------------------------------------------------------------------------
    // Close

    /**
     * Ends this handle, once; the last handle's close closes the region. A close refused from inside the
     * region's handler leaves this handle open. A close that meets another thread's close of this handle
     * under way waits for it to end, as the contract promises that every write after close returns throws:
     * returning at once let this thread write into a region still writing back. It throws instead, having
     * waited for nothing, where that close could wait for this thread (see
     * {@link Region#checkCloseNeedNotWaitForThisThread}); if the other close was refused, this one closes.
     */
    @Override
    public void close() throws IOException {
        while (!STATE.compareAndSet(this, OPEN, CLOSING)) { // volatile: exactly one close releases the handle
            if (state == CLOSED) {
                return;
            }
            if (closer == Thread.currentThread()) {
                throw new IllegalStateException("close() of " + region.path() + " from inside its own close, on"
                        + " the closing thread (a callback of its handler or of a reservation): it would wait for"
                        + " itself");
            }
            region.checkCloseNeedNotWaitForThisThread("close");
            awaitNotClosing();
        }
        closer = Thread.currentThread();
        boolean released = false;
        try {
            entry.release();
            released = true;
        } finally {
            // volatile: CLOSED unless the region refused to close (from inside its handler) and goes on
            closer = null; // before the state: a close that sees OPEN again may be this thread's next
            if (released || region.isClosed()) {
                writes = null; // before CLOSED: a write that sees CLOSED through isClosed() finds no writes either
                reads = null;
                state = CLOSED;
            } else {
                state = OPEN;
            }
            synchronized (closing) {
                closing.notifyAll(); // closes of this handle that wait for this one
            }
        }
    }

    /** Waits, keeping an interrupt for later, while another thread closes this handle. */
    private void awaitNotClosing() {
        boolean interrupted = false;
        synchronized (closing) {
            while (state == CLOSING) {
                try {
                    closing.wait();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** Closes a handle that its open could not hand out, adding any failure to {@code failure}. */
    void abandon(Throwable failure) {
        try {
            close();
        } catch (IOException | RuntimeException e) {
            failure.addSuppressed(e);
        }
    }

    @Override
    public String toString() {
        return state == CLOSED ? region + " (closed handle)" : region.toString();
    }
}
