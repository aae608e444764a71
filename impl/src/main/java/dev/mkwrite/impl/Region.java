package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.RegionBuilder;
import dev.mkwrite.RangeConsumer;
import dev.mkwrite.RegionStats;
import dev.mkwrite.RegionWriter;
import dev.mkwrite.WouldBlock;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.WriteSpan;
import dev.mkwrite.impl.os.Errno;
import dev.mkwrite.impl.os.LazyLogger;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * The {@link MappedRegion} of one file: the facade that checks each call's arguments and hands it to the
 * part of the protocol that owns it. The parts, and the state they share ({@link RegionState}):
 * <ul>
 *   <li>{@link RegionFile}: the file, its lock and descriptors;</li>
 *   <li>{@link Writes}: the write path, which joins pins and faults, and prepare-ahead;</li>
 *   <li>{@link Reads}: lock-free reads, read views and the dirty-range query;</li>
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

    private static final LazyLogger LOG = new LazyLogger(Region.class);

    private final RegionState state;
    private final RegionFile file;
    /** The file's size when the region opened it (the open extends a shorter file): see {@link #closeUnused}. */
    private final long fileSizeAtOpen;
    private final Pins pins;
    private final FaultPath faults;
    private final Writeback writeback;
    private final Resizing resizing;
    private final Retirement retirement;
    private final WriteFaultHandler handler;
    private final Writes writes;
    private final Reads reads;
    private final Ledger ledger;

    private Region(RegionBuilder spec, RegionState state, RegionFile file, long fileSizeAtOpen) {
        this.state = state;
        this.file = file;
        this.fileSizeAtOpen = fileSizeAtOpen;
        this.handler = spec.handler();
        this.reads = state.reads;
        Ledger ledger = new Ledger(state);
        this.ledger = ledger;
        this.pins = new Pins(state);
        state.reads.attach(pins);
        this.writeback = new Writeback(state, pins, ledger, spec.handler());
        this.faults = new FaultPath(state, ledger, writeback, spec.handler(), spec.dirtyLimit());
        this.retirement = new Retirement(state, pins);
        this.resizing = new Resizing(state, file, pins, writeback, retirement, ledger);
        this.writes = new Writes(state, pins, faults, spec.byteOrder(), spec.prepareAhead());
    }

    /**
     * Opens a new region over {@code spec}'s file. Applications reach it only through {@link RegionRegistry},
     * which shares one region between the opens of a file; a second region over a file open in this JVM
     * fails on the file lock. {@code fileKey} is the key the registry found at the path: if the path names
     * another file by now, or none, this throws {@link RegionFile.Replaced}, having locked nothing.
     */
    static Region open(RegionBuilder spec, Object fileKey) throws IOException {
        int pageSize = RegionSettings.of(spec).pageSize(); // checks the page size and the size
        RegionFile file = RegionFile.open(spec, fileKey);
        long sizeBefore = -1; // the file's size as it was opened: what an open that fails leaves it at
        Mapping mapping = null;
        try {
            sizeBefore = file.size();
            long size = Math.max(sizeBefore, spec.size());
            if (size > spec.backing().maxRegionSize()) {
                throw RegionState.tooLarge(size, spec.backing(), spec.path());
            }
            mapping = map(file, spec, size);
            // No "opened" line: the first log call of a cold JVM starts SLF4J (tens of ms, row 8), and an
            // open that succeeds logs nothing; toString() and stats() say what opened.
            return new Region(spec, new RegionState(spec.path(), file.shared(), spec.backing(), pageSize,
                    spec.stablePages() || spec.handler().needsStablePages(),
                    !spec.handler().preparesOverwrites(spec.path()), mapping, size, spec.byteOrder()), file,
                    sizeBefore);
        } catch (Throwable t) {
            abandon(file, mapping, sizeBefore, t);
            throw t;
        }
    }

    /**
     * Maps {@code file} at {@code size} bytes, extending a shorter file sparsely. A failure says which file
     * and how large: the JDK's says only "Map failed", and a system call's names neither.
     */
    private static Mapping map(RegionFile file, RegionBuilder spec, long size) throws IOException {
        try {
            return file.map(spec.backing(), size);
        } catch (IOException e) {
            throw new IOException("mapping " + spec.path() + " (" + size + " bytes, " + spec.backing()
                    + ") for a new region failed: " + e.getMessage(), e);
        }
    }

    /**
     * Undoes an open that failed with {@code failure}: unmaps what it mapped, shortens the file back to
     * {@code sizeBefore} (a map extends a shorter file before its {@code mmap}, which can still fail, with
     * ENOMEM for one), and closes the file. Its own failures are suppressed into {@code failure}. The file
     * is still locked while it is shortened: no other region can have grown it meanwhile.
     */
    private static void abandon(RegionFile file, Mapping mapping, long sizeBefore, Throwable failure) {
        if (mapping != null) {
            mapping.unmap();
        }
        IOException closing = shortenBack(file, sizeBefore, "an open that failed");
        closing = file.close(closing);
        if (closing != null) {
            failure.addSuppressed(closing);
        }
    }

    /**
     * Shortens {@code file} back to {@code sizeAtOpen}, the size an open found it at, if the open extended
     * it (a negative size: the open did not get that far). Returns the failure, naming the file and
     * {@code which} open it undoes, or null. The file is still locked: no other region grew it meanwhile.
     */
    private static IOException shortenBack(RegionFile file, long sizeAtOpen, String which) {
        try {
            if (sizeAtOpen >= 0 && file.size() > sizeAtOpen) {
                file.truncate(sizeAtOpen);
            }
            return null;
        } catch (IOException e) {
            return new IOException(which + " could not shorten the file it opened at " + file.shared().path()
                    + " back to its " + sizeAtOpen + " bytes", e);
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

    /** Whether reads of pages no write prepared go through the file, under the lock (tmpfs): for tests. */
    boolean readsHolesThroughTheFile() {
        return state.holesAllocateOnRead;
    }

    @Override
    public RegionStats stats() {
        boolean nativeMapping = state.mapping instanceof Mapping.NativeMapping;
        return state.counters.snapshot(state.pageCount, pins.pinnedPages(), state.table.metadataBytes(),
                file.hasNativeDescriptor(), nativeMapping);
    }

    // ---------------------------------------------------------------------------------------------
    // Writes: see Writes; lock-free into WRITABLE pages, a fault for the others.

    /** The writes, which a {@link RegionHandle} calls directly on the fast path. */
    Writes writes() {
        return writes;
    }

    /** The lock-free reads: a handle's reads go to them directly, as its writes go to {@link #writes()}. */
    Reads reads() {
        return reads;
    }

    @Override
    public WriteSpan write(long offset, long length) {
        return writes.write(offset, length);
    }

    @Override
    public WriteSpan tryWrite(long offset, long length) {
        return writes.tryWrite(offset, length);
    }

    @Override
    public WriteSpan tryWrite(long offset, long length, WouldBlock why) {
        return writes.tryWrite(offset, length, why);
    }

    @Override
    public RegionWriter writer() {
        return writes.writer(this, null);
    }

    @Override
    public void prepare(long offset, long length) {
        writes.prepare(offset, length);
    }

    @Override
    public void put(long offset, byte[] src, int srcOffset, int length) {
        writes.put(offset, src, srcOffset, length);
    }

    @Override
    public void put(long offset, MemorySegment src) {
        writes.put(offset, src);
    }

    @Override
    public void put(long offset, ByteBuffer src) {
        writes.put(offset, src);
    }

    @Override
    public void putByte(long offset, byte value) {
        writes.putByte(offset, value);
    }

    @Override
    public void putInt(long offset, int value) {
        writes.putInt(offset, value);
    }

    @Override
    public void putLong(long offset, long value) {
        writes.putLong(offset, value);
    }

    // ---------------------------------------------------------------------------------------------
    // Reads: see Reads; no lock, no fault.

    @Override
    public void get(long offset, byte[] dst, int dstOffset, int length) {
        reads.get(offset, dst, dstOffset, length);
    }

    @Override
    public void get(long offset, MemorySegment dst) {
        reads.get(offset, dst);
    }

    @Override
    public byte getByte(long offset) {
        return reads.getByte(offset);
    }

    @Override
    public int getInt(long offset) {
        return reads.getInt(offset);
    }

    @Override
    public long getLong(long offset) {
        return reads.getLong(offset);
    }

    @Override
    public MemorySegment view(long offset, long length) {
        return reads.view(offset, length);
    }

    @Override
    public ByteBuffer viewBuffer(long offset, long length) {
        return reads.viewBuffer(offset, length);
    }

    @Override
    public long dirtyRanges(RangeConsumer ranges) {
        return reads.dirtyRanges(ranges);
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
        if (!state.closed) {
            pins.checkNotHeldByThisThread("close", 0, Long.MAX_VALUE); // close waits for every writer
        }
        AsymmetricFence.registerDrainer(); // before markClosed and the quiesce: if it fails, the region stays open
        Throwable failure;
        state.lock.writeLock().lock();
        try {
            if (state.closed && !file.isOpen()) {
                return;
            }
            failure = release(true);
        } finally {
            state.lock.writeLock().unlock();
        }
        // Faults that dropped the lock finish their retry: they see the region closed and release.
        state.awaitUninterruptibly(() -> faults.inFlight() == 0,
                () -> "faults in flight to end at close of " + state.path);
        closed(failure);
    }

    /**
     * Throws if a close of this region under way on another thread could wait for the calling thread, which
     * is about to wait for that close: from inside the region's handler (the close waits for faults in
     * flight), or holding a span of its own (the close waits for every writer). Unlike {@link #close}'s own
     * check, whatever the closed flag says: that close has set it already. {@code op} is the waiting
     * operation: a close of the same handle, or an open of the same file that joins the closing region.
     */
    void checkCloseNeedNotWaitForThisThread(String op) {
        HandlerScope.checkNotInHandler(state, op);
        pins.checkNotHeldByThisThread(op, 0, Long.MAX_VALUE);
    }

    /**
     * Closes a region that no handle ever reached ({@link RegionRegistry}'s open that found its path naming
     * another file by then). No thread can pin, fault or read in it, so there is nothing to drain or write
     * back, and no membarrier registration to make: {@link #close()} makes it first, and one that failed
     * there would leave this file open. The file goes back to the size the open found it at.
     */
    void closeUnused() throws IOException {
        Throwable failure;
        state.lock.writeLock().lock();
        try {
            // The open extended a shorter file, which is not the one the path names now: as it was found.
            // Nothing reads the mapping beyond that size: no handle reached the region.
            IOException shortening = shortenBack(file, fileSizeAtOpen, "an open whose path was replaced");
            failure = release(false);
            if (shortening != null) {
                if (failure == null) {
                    failure = shortening;
                } else {
                    failure.addSuppressed(shortening);
                }
            }
        } finally {
            state.lock.writeLock().unlock();
        }
        closed(failure);
    }

    /**
     * A close's work under the exclusive lock: closed to every new operation, then, if a handle may have
     * reached the region ({@code used}), its writers drained and its dirty pages written back; unmapped; the
     * file closed. Each step runs whatever the one before it threw, a handler's {@code beforeWriteback}
     * included (it may throw anything): the pages that were not written back end with their reservations
     * released, every mapping is unmapped and the file is closed. Returns the failure to report, or null:
     * an {@link IOException}, or an {@link Error} a handler threw, the other failures suppressed into it.
     */
    private Throwable release(boolean used) {
        IOException failure = null;
        Ledger.Kept errors = new Ledger.Kept(); // the first is reported, the others suppressed in it
        try {
            state.markClosed(); // faults see it once they hold the lock, the fast path and reads at once
            if (used) {
                try {
                    resizing.quiesceAll(); // inside: a quiesce that failed (its barrier) froze pages first
                    writeback.writeBackFrozen(state.mapping, 0, state.pageCount);
                } catch (Throwable t) { // the data stays in the page cache; the reservations end with the region
                    try {
                        writeback.dropFrozen();
                    } catch (RuntimeException e) {
                        t.addSuppressed(e); // what the writeback threw is what the close reports
                    } catch (Error e) { // a reservation's, once every FROZEN page was dropped: as every Error here
                        errors.add(e);
                    }
                    throw t;
                }
            }
        } catch (IOException e) {
            failure = e;
        } catch (RuntimeException e) {
            failure = closeFailed(null, e);
        } catch (Error e) {
            errors.add(e);
        }
        if (failure == null && used) {
            failure = state.earlierForceFailure("close", 0); // the close's own writeback cannot tell either
        }
        if (failure != null || errors.any()) {
            // The quiesce or the writeback failed: a flush waiting for another's writeback may not take this
            // close's for its own. Volatile, before the lock is let go; the flush reads it under the lock.
            state.closeWritebackFailed = true;
        }
        // What reservations of PREPARED pages the quiesce took back threw: the writeback itself went on.
        Error released = resizing.takeKept();
        if (released != null) {
            errors.add(released);
        }
        if (used) {
            // fault-around's, never entered; an Error a reservation throws waits for the unmap and the file's close
            failure = closeStep(failure, () -> ledger.dropPrepared(state.table, errors));
            failure = closeStep(failure, retirement::unmapAll);
        }
        failure = closeStep(failure, state.mapping::unmap);
        failure = trimFile(failure);
        failure = file.close(failure);
        Error error = errors.take();
        if (error != null) {
            if (failure != null) {
                error.addSuppressed(failure);
            }
            return error;
        }
        return failure;
    }

    /** One step of {@link #release} after the writeback, run whatever failed before it. */
    private IOException closeStep(IOException failure, Runnable step) {
        try {
            step.run();
            return failure;
        } catch (RuntimeException e) {
            return closeFailed(failure, e);
        }
    }

    private IOException closeFailed(IOException failure, RuntimeException e) {
        return Errno.firstOf(failure, new IOException("closing " + state.path + " failed", e));
    }

    /**
     * At close, whatever else failed: truncates the file to the region's size if a shrink could not, so that
     * no later region over the file finds the bytes that shrink discarded. Returns the failure to report.
     */
    private IOException trimFile(IOException failure) {
        try {
            resizing.trimFile();
            return failure;
        } catch (IOException e) {
            return Errno.firstOf(failure, e);
        } catch (RuntimeException e) {
            return Errno.firstOf(failure,
                    new IOException("truncating " + state.path + " to " + state.size + " at close failed", e));
        }
    }

    /** The end of a close, once the file is let go of: the handler's per-file state can go; then the failure. */
    private void closed(Throwable failure) throws IOException {
        try {
            handler.regionClosed(state.path);
        } catch (RuntimeException e) {
            LOG.get().warn("WriteFaultHandler.regionClosed threw for {}; ignored", state.path, e);
        }
        if (failure instanceof IOException e) {
            throw e;
        }
        if (failure instanceof Error e) {
            throw e;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // For tests

    /** The state word of {@code page}; a page of a chunk never allocated reads CLEAN. */
    long stateWord(long page) {
        Chunk c = state.table.chunkAcquire(page);
        return c == null ? PageState.word(PageState.CLEAN, 0) : c.stateVolatile(Chunk.index(page)); // latest, for asserts
    }

    /** Whether the page's reservation is {@link PreparedInPart}; for tests. The state word's volatile read orders it. */
    boolean preparedInPart(long page) {
        Chunk c = state.table.chunkAcquire(page);
        return c != null && c.stateVolatile(Chunk.index(page)) != 0 && c.reservationPlain(Chunk.index(page)) instanceof PreparedInPart;
    }

    /** See {@link Writeback#probe}. */
    int probeWriteback(long page) {
        return writeback.probe(page);
    }

    /** See {@link Writeback#probeEnd}. */
    void probeWritebackEnd(long page) {
        writeback.probeEnd(page);
    }

    /** The region's pins, for tests that pin as the prepare-ahead thread does ({@link Pins#tryPinStateWords}). */
    Pins pinsForTests() {
        return pins;
    }

    /** Whether an exclusive operation (a close, grow, truncate or punch) holds the region lock: for tests. */
    boolean exclusiveForTests() {
        return state.lock.isWriteLocked();
    }

    /** See {@link FaultPath#betweenFaultsForTests}. */
    void betweenFaultsForTests(Runnable seam) {
        faults.betweenFaultsForTests(seam);
    }

    /** See {@link Writeback#afterTakeForTests}. */
    void afterFlushTakesForTests(Runnable seam) {
        writeback.afterTakeForTests = seam;
    }

    /** Makes the next force of the region's pages fail with {@code failure}, as an msync returning EIO. */
    void failNextForceForTests(IOException failure) {
        state.nextForceFailureForTests = failure;
    }

    /** See {@link RegionFile#failNextZeroInPlaceForTests}. */
    void failNextZeroInPlaceForTests(IOException failure) {
        file.failNextZeroInPlaceForTests(failure);
    }

    /** See {@link RegionFile#failNextTruncateForTests}. */
    void failNextTruncateForTests(IOException failure) {
        file.failNextTruncateForTests(failure);
    }

    /** See {@link RegionFile#failNextMapForTests}. */
    void failNextMapForTests(IOException failure, boolean afterExtending) {
        file.failNextMapForTests(failure, afterExtending);
    }

    /** Whether reads go without the lock now: there is a published slice to read ({@link Reads#memory}). */
    boolean readsWithoutLock() {
        return reads.memory != null;
    }

    /** Number of retired mappings not yet unmapped. */
    int retiredMappings() {
        return retirement.count();
    }

    /** How many writers' own slots the drainers scan now: for tests. */
    int writerSlots() {
        return pins.hazards().writerSlots();
    }

    /** How many membarriers this region's drainers made: for tests ({@link Pins#fencesMade}). */
    long fencesMade() {
        return pins.fencesMade();
    }

    @Override
    public String toString() {
        return "MappedRegion[" + state.path + ", size=" + state.size + ", pageSize=" + state.pageSize + ", "
                + state.backing + (state.closed ? ", closed" : "") + "]";
    }
}
