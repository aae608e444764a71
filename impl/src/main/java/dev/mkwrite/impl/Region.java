package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.FaultInterruptedException;
import dev.mkwrite.FaultResult;
import dev.mkwrite.HandlerFailedException;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.NoSpaceException;
import dev.mkwrite.OutOfRegionException;
import dev.mkwrite.RegionBuilder;
import dev.mkwrite.RegionClosedException;
import dev.mkwrite.RegionStats;
import dev.mkwrite.Reservation;
import dev.mkwrite.WriteFaultException;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.WriteSpan;
import dev.mkwrite.impl.os.PosixNative;
import org.agrona.collections.LongArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayDeque;
import java.util.HashSet;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

import static dev.mkwrite.impl.PageState.CLEAN;
import static dev.mkwrite.impl.PageState.FROZEN;
import static dev.mkwrite.impl.PageState.PIN_ONE;
import static dev.mkwrite.impl.PageState.PREPARING;
import static dev.mkwrite.impl.PageState.WRITABLE;
import static dev.mkwrite.impl.PageState.WRITEBACK;
import static dev.mkwrite.impl.PageState.generation;
import static dev.mkwrite.impl.PageState.pins;
import static dev.mkwrite.impl.PageState.state;
import static dev.mkwrite.impl.PageState.withState;

/**
 * The mkwrite protocol over one file: the page-state table, the region lock, the fault path with its
 * one lock drop and retry, writeback, and the exclusive operations.
 *
 * <h2>Who changes what</h2>
 * <ul>
 *   <li><b>Fast path</b> (no lock): publishes the range it writes in its hazard slot (CAS) and checks
 *   that every page is WRITABLE, unpins with a release store ({@link Hazards}); if its slot is taken, pins
 *   each WRITABLE page by CAS on its state word and unpins by getAndAdd.</li>
 *   <li><b>Faults</b> (region lock shared): create chunks, claim CLEAN pages (CAS to PREPARING), publish
 *   them WRITABLE (CAS), or give the claim back (CAS to CLEAN).</li>
 *   <li><b>Flush</b> (region lock shared while it takes pages, then none): WRITABLE to WRITEBACK (CAS),
 *   WRITEBACK to CLEAN once forced, or back to WRITABLE if forcing failed.</li>
 *   <li><b>Exclusive operations</b> (region lock exclusive): WRITABLE to FROZEN and back, removal of
 *   pages, and the fields {@link #mapping}, {@link #size}, {@link #pageCount} and {@link #epoch}. Truncate,
 *   punchHole and close freeze their range and drain its pins; grow freezes only a partly covered last
 *   page, and retires the old mapping to be unmapped once its writers leave ({@link Unmapper}).</li>
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

    /**
     * Generations are drawn from one counter per JVM, so that a handler shared by several regions, or by
     * successive regions over one file, never sees a generation reused for a page.
     */
    private static final AtomicLong EPOCHS = new AtomicLong();

    /** A pin held through the pages' state words, not a hazard slot. */
    static final int STATE_PINS = -1;
    /** An empty span's: nothing pinned, nothing to unpin. */
    static final int NO_PINS = -3;
    /** {@link #pin}'s answer to a no-wait write that would have had to wait. */
    private static final int WOULD_BLOCK = -2;

    /**
     * Retired mappings a region keeps before a grow drains every writer and unmaps them itself: a
     * writer that keeps a span open across many grows must not make the address space grow without bound.
     */
    private static final int MAX_RETIRED = 32;

    /** A mapping a grow replaced, and the hazard slots as they were when it was replaced. */
    private record Retired(Mapping mapping, long[] hazards) {
    }

    /** The fault whose handler runs on this thread, to refuse re-entry into the same region. */
    private static final ThreadLocal<Fault> IN_HANDLER = new ThreadLocal<>();

    private final Path path;
    private final Backing backing;
    private final int pageSize;
    private final int pageShift;
    private final WriteFaultHandler handler;
    private final long dirtyLimit;
    private final FileChannel channel;
    private final FileLock fileLock;
    /** The identity of the file the region opened ({@code fileKey()}), to recognise it at {@link #path} later. */
    private final Object fileKey;
    /**
     * A native descriptor of the region's file for mmap, ftruncate and fallocate, or -1 without native
     * access. Closed only by {@link #close()}, after the file lock: closing any descriptor of the file
     * would drop the process's POSIX lock on it.
     */
    private final int nativeFd;

    /** The region lock: shared by faults, flush's scan and reads; exclusive for grow, truncate, close. */
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final PageTable table;
    private final Waiters waiters = new Waiters();
    /** The fast path's pins; see {@link Hazards}. */
    private final Hazards hazards = Hazards.forThisMachine();
    /** Writers holding pins through state words (the fallback); a retired mapping waits for none. */
    private final AtomicLong statePins = new AtomicLong();
    /** Mappings a grow replaced, until their writers and flushes leave; guarded by itself. */
    private final ArrayDeque<Retired> retired = new ArrayDeque<>();
    private final AtomicBoolean reaping = new AtomicBoolean();
    private final Counters counters = new Counters();
    private final AtomicInteger faultsInFlight = new AtomicInteger();

    // Written only under the exclusive lock; volatile because the fast path reads them without it.
    private volatile Mapping mapping;
    private volatile long size;
    private volatile long pageCount;
    private volatile boolean closed;
    /** Region epoch: the generation of new chunks and of pages changed by the latest truncate. Guarded by lock. */
    private long epoch = EPOCHS.incrementAndGet();

    private Region(RegionBuilder spec, int pageSize, FileChannel channel, FileLock fileLock, Object fileKey,
                   int nativeFd, Mapping mapping, long size) {
        this.path = spec.path();
        this.backing = spec.backing();
        this.handler = spec.handler();
        this.dirtyLimit = spec.dirtyLimit();
        this.pageSize = pageSize;
        this.pageShift = Integer.numberOfTrailingZeros(pageSize);
        this.channel = channel;
        this.fileLock = fileLock;
        this.fileKey = fileKey;
        this.nativeFd = nativeFd;
        this.mapping = mapping;
        this.size = size;
        this.pageCount = pagesFor(size);
        this.table = new PageTable(pageCount);
    }

    static Region open(RegionBuilder spec) throws IOException {
        int osPage = OsPage.size();
        int pageSize = spec.pageSize() == 0 ? osPage : spec.pageSize();
        if (pageSize < osPage) {
            throw new IllegalArgumentException("page size " + pageSize + " is below the operating system's page size "
                    + osPage + " for " + spec.path());
        }
        if (spec.size() > spec.backing().maxRegionSize()) {
            throw tooLarge(spec.size(), spec.backing(), spec.path());
        }
        Set<OpenOption> options = new HashSet<>(Set.of(StandardOpenOption.READ, StandardOpenOption.WRITE));
        if (spec.create()) {
            options.add(StandardOpenOption.CREATE);
        }
        FileChannel channel = FileChannel.open(spec.path(), options);
        int nativeFd = -1;
        boolean success = false;
        try {
            FileLock fileLock;
            try {
                fileLock = channel.tryLock();
            } catch (OverlappingFileLockException e) {
                throw new IllegalStateException("a region over " + spec.path() + " is already open in this JVM;"
                        + " one file has one page-state table, so open it once and share the region", e);
            }
            if (fileLock == null) {
                throw new IOException("another process holds a lock on " + spec.path()
                        + " (is a region over it open elsewhere?)");
            }
            long size = Math.max(channel.size(), spec.size());
            if (size > spec.backing().maxRegionSize()) {
                throw tooLarge(size, spec.backing(), spec.path());
            }
            // Read just after opening: only a rename racing open() itself could make it another file's.
            Object fileKey = Files.readAttributes(spec.path(), BasicFileAttributes.class).fileKey();
            nativeFd = FileHoles.openSameFile(spec.path(), fileKey);
            Mapping mapping = Mapping.map(spec.backing(), channel, nativeFd, size); // extends a shorter file sparsely
            Region region = new Region(spec, pageSize, channel, fileLock, fileKey, nativeFd, mapping, size);
            success = true;
            LOG.debug("opened {}: {} bytes, {}-byte pages, {}", spec.path(), size, pageSize, spec.backing());
            return region;
        } finally {
            if (!success) {
                channel.close();
                if (nativeFd >= 0) {
                    PosixNative.close(nativeFd);
                }
            }
        }
    }

    private static IllegalArgumentException tooLarge(long size, Backing backing, Path path) {
        return new IllegalArgumentException("a region of " + size + " bytes exceeds what " + backing + " can map ("
                + backing.maxRegionSize() + " bytes); use Backing.MEMORY_SEGMENT for larger regions [file " + path + "]");
    }

    // ---------------------------------------------------------------------------------------------
    // Accessors

    @Override
    public Path path() {
        return path;
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public int pageSize() {
        return pageSize;
    }

    int pageShift() {
        return pageShift;
    }

    @Override
    public Backing backing() {
        return backing;
    }

    @Override
    public boolean isClosed() {
        return closed;
    }

    @Override
    public RegionStats stats() {
        return counters.snapshot(pageCount, table.pins() + hazards.pinnedPages(), table.metadataBytes());
    }

    /** The state word of {@code page}, for tests; a page of a chunk never allocated reads CLEAN. */
    long stateWord(long page) {
        Chunk c = table.chunk(page);
        return c == null ? PageState.word(CLEAN, 0) : c.stateVolatile(Chunk.index(page));
    }

    /** The memory of {@code page} in the current mapping. Caller holds the region lock. */
    MemorySegment pageMemory(long page, int length) {
        return mapping.segment(page << pageShift, length);
    }

    private long pagesFor(long bytes) {
        return (bytes + pageSize - 1) >>> pageShift;
    }

    private int pageLength(long page, long regionSize) {
        return (int) Math.min(pageSize, regionSize - (page << pageShift));
    }

    // ---------------------------------------------------------------------------------------------
    // Writes

    @Override
    public WriteSpan write(long offset, long length) {
        return open(offset, length, false);
    }

    @Override
    public WriteSpan tryWrite(long offset, long length) {
        return open(offset, length, true);
    }

    private Span open(long offset, long length, boolean noWait) {
        checkRange("write", offset, length);
        if (length == 0) {
            checkEmpty(offset);
            return new Span(this, mapping, offset, 0, 0, -1, NO_PINS);
        }
        long first = offset >>> pageShift;
        long last = (offset + length - 1) >>> pageShift;
        int pin = pin(offset, length, first, last, noWait);
        if (pin == WOULD_BLOCK) {
            return null;
        }
        return new Span(this, mapping, offset, length, first, last, pin); // mapping read after the pins
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
            mapping.segment().set(ValueLayout.JAVA_BYTE, offset, value);
        } finally {
            unpinForWrite(offset, 1, pin);
        }
    }

    @Override
    public void putInt(long offset, int value) {
        int pin = pinForWrite("putInt", offset, Integer.BYTES);
        try {
            mapping.segment().set(INT_LE, offset, value);
        } finally {
            unpinForWrite(offset, Integer.BYTES, pin);
        }
    }

    @Override
    public void putLong(long offset, long value) {
        int pin = pinForWrite("putLong", offset, Long.BYTES);
        try {
            mapping.segment().set(LONG_LE, offset, value);
        } finally {
            unpinForWrite(offset, Long.BYTES, pin);
        }
    }

    /** Every put: pins the pages, copies, unpins. */
    private void copyIn(String op, long offset, MemorySegment src, long srcOffset, long length) {
        if (length == 0) {
            checkRange(op, offset, 0);
            checkEmpty(offset);
            return;
        }
        int pin = pinForWrite(op, offset, length);
        try {
            MemorySegment.copy(src, srcOffset, mapping.segment(), offset, length); // mapping read after the pins
        } finally {
            unpinForWrite(offset, length, pin);
        }
    }

    /** Checks a blocking write of {@code length > 0} bytes and pins its pages, faulting as needed. */
    private int pinForWrite(String op, long offset, long length) {
        checkRange(op, offset, length);
        return pin(offset, length, offset >>> pageShift, (offset + length - 1) >>> pageShift, false);
    }

    private void unpinForWrite(long offset, long length, int pin) {
        unpin(offset >>> pageShift, (offset + length - 1) >>> pageShift, pin);
    }

    /**
     * Pins every page of {@code [first, last]}, faulting in those that are not WRITABLE. Returns how they
     * are pinned: the hazard slot that holds the range (see {@link Hazards}), or {@link #STATE_PINS} if
     * each page's state word counts the pin. Returns {@link #WOULD_BLOCK} only for a no-wait write that
     * would have had to wait; then nothing is pinned.
     */
    private int pin(long offset, long length, long first, long last, boolean noWait) {
        long end = offset + length;
        if (end > size) {
            throw closed ? closedException(offset, first) : outOfRegion(offset, length);
        }
        for (;;) {
            int pin = hazards.publish(first, last); // volatile: the state reads below come after it
            long failed;
            if (pin >= 0) {
                failed = firstNotWritable(first, last);
                if (failed >= 0) {
                    unpinHazard(pin);
                }
            } else {
                pin = STATE_PINS;
                statePins.incrementAndGet(); // before the mapping is read: see expired(Retired)
                failed = pinRange(first, last);
                if (failed >= 0) {
                    statePins.decrementAndGet();
                }
            }
            if (failed < 0) {
                if (end <= size) { // read after the pins: the region cannot shrink while they are held
                    return pin;
                }
                unpin(first, last, pin);
                throw outOfRegion(offset, length);
            }
            // With no pin held, fault in every page from the one that failed to the end of the range, then
            // pin again: a span over n clean pages costs n faults and two pin passes, not n passes.
            for (long page = failed; page <= last; page++) {
                if (!isWritable(page) && !fault(page, offset, length, noWait)) {
                    return WOULD_BLOCK;
                }
            }
        }
    }

    private boolean isWritable(long page) {
        Chunk c = table.chunk(page);
        return c != null && state(c.stateAcquire(Chunk.index(page))) == WRITABLE;
    }

    /**
     * The first page of {@code [first, last]} that is not WRITABLE, or -1. The reads are volatile: after
     * the volatile publish of a hazard they make the Dekker pair with a drainer's CAS and slot reads (an
     * acquire read could be ordered before the publish).
     */
    private long firstNotWritable(long first, long last) {
        for (long page = first; page <= last; page++) {
            Chunk c = table.chunk(page);
            if (c == null || state(c.stateVolatile(Chunk.index(page))) != WRITABLE) {
                return page;
            }
        }
        return -1;
    }

    /** Fast path: pins pages in order; on the first that is not WRITABLE, unpins the rest and returns it. */
    private long pinRange(long first, long last) {
        for (long page = first; page <= last; page++) {
            if (!tryPin(page)) {
                for (long p = first; p < page; p++) {
                    unpinState(p);
                }
                return page;
            }
        }
        return -1;
    }

    private boolean tryPin(long page) {
        Chunk c = table.chunk(page);
        if (c == null) {
            return false;
        }
        int i = Chunk.index(page);
        long w = c.stateAcquire(i);
        while (state(w) == WRITABLE && pins(w) < PageState.MAX_PINS) {
            long witness = c.casState(i, w, w + PIN_ONE); // acquire: the preparation happens-before our writes
            if (witness == w) {
                return true;
            }
            w = witness;
        }
        return false;
    }

    /** Ends the pins {@link #pin} took on {@code [first, last]}. */
    void unpin(long first, long last, int pin) {
        if (pin >= 0) {
            unpinHazard(pin);
            return;
        }
        if (pin == NO_PINS) {
            return;
        }
        for (long page = first; page <= last; page++) {
            unpinState(page);
        }
        statePins.decrementAndGet();
    }

    private void unpinHazard(int slot) {
        hazards.clear(slot); // release: our writes before any drainer's read of EMPTY
        waiters.signal(); // may miss a drainer that starts waiting now: those wait with a timeout
    }

    private void unpinState(long page) {
        // A pinned page's chunk cannot be dropped nor the directory replaced: both wait for pins.
        Chunk c = table.chunk(page);
        long before = c.getAndAddState(Chunk.index(page), -PIN_ONE); // release: our writes before any drain
        if (pins(before) == 1 && state(before) != WRITABLE) {
            waiters.signal(); // a flush or an exclusive operation waits for this page to drain
        }
    }

    // ---------------------------------------------------------------------------------------------
    // The write fault

    /**
     * Makes {@code page} WRITABLE (rules K1, K3-K7, K9). Returns true when it is, false if a no-wait
     * fault would have had to wait. Throws a {@link WriteFaultException} if the page cannot be prepared;
     * then the fault has left no state behind.
     */
    private boolean fault(long page, long offset, long length, boolean noWait) {
        Fault current = IN_HANDLER.get();
        if (current != null && current.region() == this) {
            throw new IllegalStateException("a write from inside this region's WriteFaultHandler faulted on page "
                    + page + "; handlers must not write into their own region [file " + path + ", offset " + offset
                    + ", page " + page + "]");
        }
        if (dirtyLimit > 0 && counters.writable.sum() * pageSize >= dirtyLimit) {
            if (noWait) {
                return false;
            }
            throttle();
        }
        FaultEvents.Fault event = new FaultEvents.Fault();
        event.begin();
        faultsInFlight.incrementAndGet();
        counters.faults.increment();
        FaultLoop loop = new FaultLoop(page, offset, length, noWait);
        String outcome = "error";
        try {
            boolean done = loop.run();
            outcome = done ? "writable" : "would block";
            return done;
        } finally {
            if (faultsInFlight.decrementAndGet() == 0 && closed) {
                waiters.signal(); // close waits for faults in flight
            }
            if (event.shouldCommit()) {
                event.path = path.toString();
                event.page = page;
                event.offset = page << pageShift;
                event.retried = loop.retry;
                event.handlerCalls = loop.handlerCalls;
                event.outcome = outcome;
                event.commit();
            }
        }
    }

    /** K10: write back with no lock or pin held, then let the fault go on. */
    private void throttle() {
        try {
            flush();
        } catch (IOException e) {
            LOG.warn("dirty-limit writeback of {} failed; the write goes on: {}", path, e.toString());
        }
    }

    /** The attempts of one fault: the first, and at most one retry after the handler dropped the lock. */
    private final class FaultLoop {
        private final long page;
        private final long offset;
        private final long length;
        private final boolean noWait;

        boolean retry;
        int handlerCalls;
        /** The chunk, index and generation of this fault's live claim; claimGen is -1 without one. */
        private Chunk claimChunk;
        private int claimIndex;
        private long claimGen = -1;
        /** A reservation cached while the lock was dropped, recorded against (page, claimGen). */
        private Reservation cached;
        /** The attempt that dropped the lock, until the retry holds it again. */
        private Fault droppedFault;

        FaultLoop(long page, long offset, long length, boolean noWait) {
            this.page = page;
            this.offset = offset;
            this.length = length;
            this.noWait = noWait;
        }

        boolean run() {
            boolean ok = false;
            try {
                boolean result = attempts();
                ok = true;
                return result;
            } finally {
                if (!ok) {
                    abandon(); // K7: leave nothing behind
                }
            }
        }

        private boolean attempts() {
            for (;;) {
                if (!lockShared()) {
                    return false;
                }
                endLockDrop();
                boolean held = true;
                try {
                    if (closed) {
                        throw closedException(offset, page);
                    }
                    if (page >= pageCount) {
                        throw outOfRegion(offset, length);
                    }
                    Chunk c = table.chunkOrCreate(page, epoch);
                    int i = Chunk.index(page);
                    long w = c.stateVolatile(i);
                    if (claimGen >= 0) {
                        // K5/K6: the retry reads the page-state table to see what became of the claim.
                        boolean ours = state(w) == PREPARING && (generation(w) == claimGen
                                || BrokenRule.active(BrokenRule.SKIP_GENERATION_CHECK));
                        if (ours && cached != null) {
                            Reservation r = cached;
                            cached = null;
                            publish(c, i, w, r);
                            return true;
                        }
                        if (!ours) {
                            claimGen = -1; // truncated: the claim is gone, and maybe a new one exists
                            releaseCached();
                        }
                    }
                    if (claimGen < 0) {
                        switch (state(w)) {
                            case WRITABLE:
                                return true; // prepared, by another fault or before we got here
                            case WRITEBACK:
                            case PREPARING:
                                held = false;
                                unlockShared();
                                if (noWait) {
                                    return false;
                                }
                                awaitChange(c, i, w);
                                continue;
                            case CLEAN:
                                long claimed = withState(w, PREPARING);
                                if (c.casState(i, w, claimed) != w && !BrokenRule.active(BrokenRule.CLAIM_WITHOUT_CAS)) {
                                    continue; // raced another claim; look again (still holding the lock)
                                }
                                counters.preparing.increment();
                                claimChunk = c;
                                claimIndex = i;
                                claimGen = generation(w);
                                w = claimed;
                                if (BrokenRule.active(BrokenRule.PUBLISH_BEFORE_PREPARE)) {
                                    c.casState(i, claimed, withState(claimed, WRITABLE));
                                }
                                break;
                            default:
                                throw new IllegalStateException("page " + page + " is " + PageState.describe(w)
                                        + " while the region lock is held shared [file " + path + "]");
                        }
                    }
                    // We own the claim (PREPARING at claimGen) and hold the lock: ask the handler.
                    Fault fault = new Fault(Region.this, page, pageLength(page, size), claimGen, retry, noWait);
                    FaultResult result;
                    try {
                        result = callHandler(fault);
                    } finally {
                        held = fault.lockHeld();
                        cached = fault.end();
                        if (!held) {
                            droppedFault = fault; // its lock-drop event ends when the retry relocks
                        }
                    }
                    if (result instanceof Reservation r) {
                        if (!held) {
                            // Ready after dropping the lock: adopt it like a cached one, on the retry.
                            if (cached != null) {
                                accepted(r);
                                release(r);
                                throw protocolError("returned a reservation after caching another one");
                            }
                            accepted(r);
                            cached = r;
                            retry = true;
                            counters.retries.increment();
                            continue;
                        }
                        accepted(r);
                        publish(c, i, w, r);
                        return true;
                    }
                    if (result == FaultResult.RETRY) {
                        if (held) {
                            if (noWait) {
                                abandon();
                                return false;
                            }
                            throw protocolError("returned FaultResult.RETRY without dropping the lock;"
                                    + " call fault.dropLock() first, or return a Reservation");
                        }
                        retry = true;
                        counters.retries.increment();
                        continue;
                    }
                    throw protocolError("returned null; return Reservation.none() when nothing needs reserving");
                } finally {
                    if (held) {
                        unlockShared();
                    }
                }
            }
        }

        /** Takes the region lock shared; false if a no-wait fault would have to wait for it. */
        private boolean lockShared() {
            if (noWait) {
                return lock.readLock().tryLock();
            }
            try {
                lock.readLock().lockInterruptibly();
                return true;
            } catch (InterruptedException e) {
                throw interrupted(e);
            }
        }

        private FaultResult callHandler(Fault fault) {
            handlerCalls++;
            Fault outer = IN_HANDLER.get();
            IN_HANDLER.set(fault);
            long start = System.nanoTime();
            try {
                return handler.prepare(fault);
            } catch (WriteFaultException e) {
                throw e;
            } catch (InterruptedException | InterruptedIOException | ClosedByInterruptException e) {
                throw interrupted(e);
            } catch (IOException e) {
                if (isNoSpace(e)) {
                    throw new NoSpaceException("no space to prepare the page: " + e.getMessage(), path,
                            page << pageShift, page, e);
                }
                throw new HandlerFailedException("the WriteFaultHandler failed: " + e, path, page << pageShift, page, e);
            } catch (RuntimeException e) {
                throw new HandlerFailedException("the WriteFaultHandler failed: " + e, path, page << pageShift, page, e);
            } finally {
                counters.handlerNanos.add(System.nanoTime() - start);
                IN_HANDLER.set(outer);
            }
        }

        private void endLockDrop() {
            if (droppedFault != null) {
                droppedFault.relocked();
                droppedFault = null;
            }
        }

        /** Waits, with no lock and no pin held, for the page's word to change (K8: outside the lock). */
        private void awaitChange(Chunk c, int i, long seen) {
            boolean writeback = state(seen) == WRITEBACK;
            FaultEvents.WritebackWait event = writeback ? new FaultEvents.WritebackWait() : null;
            long start = System.nanoTime();
            if (event != null) {
                event.begin();
            }
            try {
                waiters.await(() -> c.stateVolatile(i) != seen, true,
                        () -> "page " + page + " of " + path + " to leave " + PageState.describe(seen), 0);
            } catch (InterruptedException e) {
                throw interrupted(e);
            } finally {
                if (writeback) {
                    counters.writebackWaits.increment();
                    counters.writebackWaitNanos.add(System.nanoTime() - start);
                    if (event.shouldCommit()) {
                        event.path = path.toString();
                        event.page = page;
                        event.commit();
                    }
                }
            }
        }

        /** Gives back a live claim (PREPARING to CLEAN) and releases what was cached. Idempotent. */
        private void abandon() {
            if (claimGen >= 0) {
                long claimed = PageState.word(PREPARING, claimGen);
                if (claimChunk.casState(claimIndex, claimed, PageState.word(CLEAN, claimGen)) == claimed) {
                    counters.preparing.decrement();
                    waiters.signal();
                } // else a truncate took the page and counted it
                claimGen = -1;
            }
            releaseCached();
            endLockDrop();
        }

        private void releaseCached() {
            Reservation r = cached;
            if (r != null) {
                cached = null;
                if (!BrokenRule.active(BrokenRule.LEAK_REDUNDANT_RESERVATION)) {
                    release(r);
                }
            }
        }

        /** K3: after the recheck under the lock, the reservation is recorded and the page made WRITABLE. */
        private void publish(Chunk c, int i, long claimedWord, Reservation r) {
            c.reservation(i, r); // plain store, published by the CAS below
            long writable = withState(claimedWord, WRITABLE);
            long witness = c.casState(i, claimedWord, writable); // release: reservation and handler's work
            if (witness != claimedWord && !BrokenRule.active(BrokenRule.PUBLISH_BEFORE_PREPARE)
                    && !BrokenRule.active(BrokenRule.SKIP_GENERATION_CHECK)) {
                c.reservation(i, null);
                release(r);
                throw new IllegalStateException("page " + page + " changed from " + PageState.describe(claimedWord)
                        + " to " + PageState.describe(witness) + " under the region lock [file " + path + "]");
            }
            claimGen = -1;
            counters.preparing.decrement();
            counters.writable.increment();
            waiters.signal();
        }

        private HandlerFailedException protocolError(String what) {
            IllegalStateException cause = new IllegalStateException("WriteFaultHandler " + what);
            return new HandlerFailedException("the WriteFaultHandler broke the protocol: it " + what, path,
                    page << pageShift, page, cause);
        }

        private FaultInterruptedException interrupted(Exception e) {
            Thread.currentThread().interrupt();
            return new FaultInterruptedException(path, page << pageShift, page, e);
        }
    }

    private static boolean isNoSpace(IOException e) {
        String m = e.getMessage();
        return m != null && (m.contains("No space left on device") || m.contains("Disk quota exceeded"));
    }

    void unlockShared() {
        lock.readLock().unlock();
    }

    /** Called by {@link Fault#dropLock()} after it released the lock. */
    void dropped(Fault fault) {
        counters.lockDrops.increment();
    }

    /** mkwrite takes ownership of a reservation. */
    void accepted(Reservation r) {
        counters.reservations.increment();
        counters.reservedBytes.add(r.bytes());
    }

    private void release(Reservation r) {
        counters.reservations.decrement();
        counters.reservedBytes.add(-r.bytes());
        try {
            r.release();
        } catch (RuntimeException e) {
            LOG.error("Reservation.release() threw for {}; ignored", path, e);
        }
    }

    private void consume(Reservation r) {
        counters.reservations.decrement();
        counters.reservedBytes.add(-r.bytes());
        try {
            r.consume();
        } catch (RuntimeException e) {
            LOG.error("Reservation.consume() threw for {}; ignored", path, e);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Reads: never fault; the shared lock keeps the mapping in place.

    @Override
    public void get(long offset, byte[] dst, int dstOffset, int length) {
        Objects.checkFromIndexSize(dstOffset, length, dst.length);
        checkRange("get", offset, length);
        lock.readLock().lock();
        try {
            checkReadable(offset, length);
            MemorySegment.copy(mapping.segment(), ValueLayout.JAVA_BYTE, offset, dst, dstOffset, length);
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public void get(long offset, MemorySegment dst) {
        long length = dst.byteSize();
        checkRange("get", offset, length);
        lock.readLock().lock();
        try {
            checkReadable(offset, length);
            MemorySegment.copy(mapping.segment(), offset, dst, 0, length);
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public byte getByte(long offset) {
        checkRange("getByte", offset, 1);
        lock.readLock().lock();
        try {
            checkReadable(offset, 1);
            return mapping.segment().get(ValueLayout.JAVA_BYTE, offset);
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public int getInt(long offset) {
        checkRange("getInt", offset, Integer.BYTES);
        lock.readLock().lock();
        try {
            checkReadable(offset, Integer.BYTES);
            return mapping.segment().get(INT_LE, offset);
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public long getLong(long offset) {
        checkRange("getLong", offset, Long.BYTES);
        lock.readLock().lock();
        try {
            checkReadable(offset, Long.BYTES);
            return mapping.segment().get(LONG_LE, offset);
        } finally {
            lock.readLock().unlock();
        }
    }

    private void checkReadable(long offset, long length) {
        if (closed) {
            throw closedException(offset, offset >>> pageShift);
        }
        if (offset + length > size) {
            throw outOfRegion(offset, length);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Writeback (K8)

    @Override
    public long flush() throws IOException {
        return flush(0, Long.MAX_VALUE);
    }

    @Override
    public long flush(long offset, long length) throws IOException {
        checkRange("flush", offset, length);
        checkNotInHandler("flush");
        LongArrayList mine = new LongArrayList();
        LongArrayList others = new LongArrayList();
        Mapping m;
        lock.readLock().lock();
        try {
            if (closed) {
                throw closedException(offset, offset >>> pageShift);
            }
            long pages = pageCount;
            if (length == 0 || pages == 0 || offset >= size) {
                return 0;
            }
            long end = length > size - offset ? size : offset + length;
            m = mapping;
            long first = offset >>> pageShift;
            long last = (end - 1) >>> pageShift;
            for (long slot = first >>> Chunk.SHIFT; slot <= last >>> Chunk.SHIFT; slot++) {
                Chunk c = table.slot((int) slot);
                if (c == null) {
                    continue;
                }
                long from = Math.max(first, slot << Chunk.SHIFT);
                long to = Math.min(last, (slot << Chunk.SHIFT) + Chunk.MASK);
                for (long page = from; page <= to; page++) {
                    int taken = takeForWriteback(c, Chunk.index(page));
                    if (taken == WRITABLE) {
                        mine.addLong(page);
                    } else if (taken == WRITEBACK) {
                        others.addLong(page); // another flush writes it back; wait for it below
                    }
                }
            }
            m.use(); // a grow may retire the mapping once the lock is released: it stays mapped until release
        } finally {
            lock.readLock().unlock();
        }
        long done;
        try {
            done = writeback(m, mine);
        } finally {
            m.release();
            waiters.signal(); // an exclusive operation may wait for the mapping's users
        }
        for (int k = 0; k < others.size(); k++) {
            long page = others.getLong(k);
            Chunk c = table.chunk(page);
            if (c != null) {
                int i = Chunk.index(page);
                awaitUninterruptibly(() -> state(c.stateVolatile(i)) != WRITEBACK,
                        () -> "page " + page + " of " + path + " to end another flush's writeback");
            }
        }
        return done;
    }

    /**
     * Moves a WRITABLE page to WRITEBACK (new writers now wait) and returns WRITABLE; otherwise changes
     * nothing and returns the state it found.
     */
    private int takeForWriteback(Chunk c, int i) {
        int found = c.move(i, WRITABLE, WRITEBACK);
        if (found == WRITABLE) {
            counters.writable.decrement();
            counters.writeback.increment();
        }
        return found;
    }

    /** A page this thread took to WRITEBACK goes back to WRITABLE, dirty, with its reservation. */
    private void returnToWritable(long page) {
        if (table.chunk(page).move(Chunk.index(page), WRITEBACK, WRITABLE) == WRITEBACK) {
            counters.writeback.decrement();
            counters.writable.increment();
        }
    }

    /**
     * Test hook for the jcstress suite: flush's first step on one WRITABLE page, taking it to WRITEBACK
     * and reading once whether its writers have left. Returns 1 if drained, 0 if pinned, -1 if the page
     * was not WRITABLE. {@link #probeWritebackEnd} puts it back.
     */
    int probeWriteback(long page) {
        Chunk c = table.chunk(page);
        if (c == null || takeForWriteback(c, Chunk.index(page)) != WRITABLE) {
            return -1;
        }
        return drained(page) ? 1 : 0;
    }

    /** Ends {@link #probeWriteback}: the page goes back to WRITABLE. */
    void probeWritebackEnd(long page) {
        returnToWritable(page);
        waiters.signal();
    }

    /**
     * Writes back pages this thread took to WRITEBACK, in batches of those whose writers have left, so it
     * never waits on one page while holding another drained page that a writer may wait for.
     */
    private long writeback(Mapping m, LongArrayList pages) throws IOException {
        long done = 0;
        LongArrayList ready = new LongArrayList();
        LongArrayList pinned = new LongArrayList();
        try {
            while (!pages.isEmpty()) {
                ready.clear();
                pinned.clear();
                for (int k = 0; k < pages.size(); k++) {
                    long page = pages.getLong(k);
                    if (drained(page) || BrokenRule.active(BrokenRule.FLUSH_WITHOUT_DRAIN)) {
                        ready.addLong(page);
                    } else {
                        pinned.addLong(page);
                    }
                }
                if (ready.isEmpty()) {
                    long page = pinned.getLong(0);
                    awaitHazard(() -> drained(page),
                            () -> "writers to leave page " + page + " of " + path + " for writeback");
                    continue;
                }
                forceAndClean(m, ready, WRITEBACK);
                done += ready.size();
                pages.clear();
                pages.addAll(pinned);
            }
        } catch (IOException | RuntimeException | Error e) {
            // The pages stay dirty: back to WRITABLE with their reservations; a later flush retries.
            for (int k = 0; k < pages.size(); k++) {
                returnToWritable(pages.getLong(k));
            }
            waiters.signal();
            throw e;
        }
        return done;
    }

    /**
     * Whether no writer pins {@code page}, which this thread took out of WRITABLE: neither through its
     * state word nor through a hazard slot (read after the taking CAS: Dekker with the writer's publish).
     * Costs a read of every slot.
     */
    private boolean drained(long page) {
        return pins(table.chunk(page).stateVolatile(Chunk.index(page))) == 0 && !hazards.covers(page);
    }

    /**
     * For pages in {@code from} state (WRITEBACK, or FROZEN under the exclusive lock) with no pins: lets
     * the handler see their stable contents, forces them in contiguous runs, consumes their reservations
     * and makes them CLEAN. Throws with every page still in {@code from} if forcing failed.
     */
    private void forceAndClean(Mapping m, LongArrayList pages, int from) throws IOException {
        long regionSize = size;
        for (int k = 0; k < pages.size(); k++) {
            long page = pages.getLong(k);
            handler.beforeWriteback(page, m.segment(page << pageShift, pageLength(page, regionSize)).asReadOnly());
        }
        int k = 0;
        while (k < pages.size()) {
            long first = pages.getLong(k);
            long last = first;
            while (k + 1 < pages.size() && pages.getLong(k + 1) == last + 1) {
                last = pages.getLong(++k);
            }
            k++;
            long start = first << pageShift;
            long end = Math.min(regionSize, (last + 1) << pageShift);
            m.force(start, end - start);
        }
        for (k = 0; k < pages.size(); k++) {
            long page = pages.getLong(k);
            Chunk c = table.chunk(page);
            int i = Chunk.index(page);
            long w = c.stateVolatile(i);
            if (state(w) != from || (pins(w) != 0 && !BrokenRule.active(BrokenRule.FLUSH_WITHOUT_DRAIN))) {
                throw new IllegalStateException("page " + page + " left " + PageState.name(from) + " during writeback: "
                        + PageState.describe(w) + " [file " + path + "]");
            }
            Reservation r = c.reservation(i);
            c.reservation(i, null); // plain store, published by the CAS below
            long clean = PageState.word(CLEAN, generation(w));
            while (c.casState(i, w, clean) != w) { // only a broken variant lets pins change here
                w = c.stateVolatile(i);
                clean = PageState.word(CLEAN, generation(w));
            }
            if (from == WRITEBACK) {
                counters.writeback.decrement();
            } else {
                counters.writable.decrement();
            }
            counters.pagesWrittenBack.increment();
            if (r != null) {
                consume(r);
            }
        }
        waiters.signal();
    }

    // ---------------------------------------------------------------------------------------------
    // Exclusive operations (K2)

    @Override
    public void grow(long newSize) throws IOException {
        checkNotInHandler("grow");
        if (newSize > backing.maxRegionSize()) {
            throw tooLarge(newSize, backing, path);
        }
        lock.writeLock().lock();
        try {
            ensureOpen();
            if (newSize < size) {
                throw new IllegalArgumentException("grow(" + newSize + ") is below the size " + size
                        + "; use truncate to shrink [file " + path + "]");
            }
            if (newSize > size) {
                resize(newSize);
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public void truncate(long newSize) throws IOException {
        checkNotInHandler("truncate");
        if (newSize < 0 || newSize > backing.maxRegionSize()) {
            throw new IllegalArgumentException("truncate(" + newSize + "): the size must lie in [0, "
                    + backing.maxRegionSize() + "] [file " + path + "]");
        }
        lock.writeLock().lock();
        try {
            ensureOpen();
            if (newSize != size) {
                resize(newSize);
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public void punchHole(long offset, long length) throws IOException {
        checkNotInHandler("punchHole");
        checkRange("punchHole", offset, length);
        lock.writeLock().lock();
        try {
            ensureOpen();
            long end = offset + length;
            if (end > size) {
                throw outOfRegion(offset, length);
            }
            if (length == 0) {
                return;
            }
            if ((offset & (pageSize - 1)) != 0 || ((end & (pageSize - 1)) != 0 && end != size)) {
                throw new IllegalArgumentException("punchHole(offset " + offset + ", length " + length
                        + "): the range must be whole pages of " + pageSize + " bytes, or end at the region's end "
                        + size + " [file " + path + ", offset " + offset + ", page " + (offset >>> pageShift) + "]");
            }
            long first = offset >>> pageShift;
            long endPage = pagesFor(end);
            quiesce(first, endPage); // writers of other pages go on: the mapping stays
            try {
                // The file first: if that fails, no page state has changed. With no writer pinned in the
                // range and its pages FROZEN or CLEAN, nothing stores into the range meanwhile.
                FileHoles.punch(nativeFd, path, channel, offset, length);
                removePages(first, endPage, epoch = EPOCHS.incrementAndGet());
            } finally {
                thaw(first, endPage);
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    /**
     * Grows the region with the lock held exclusive, without draining its writers: they go on writing
     * through the old mapping, which maps the same file pages, and it is unmapped once they have left
     * ({@link #retire}). Only a partial last page is quiesced, as its extent changes.
     */
    private void growTo(long newSize) throws IOException {
        long oldSize = size;
        long oldPages = pageCount;
        boolean partial = (oldSize & (pageSize - 1)) != 0;
        if (partial) {
            quiesce(oldPages - 1, oldPages);
        }
        try {
            Mapping old = mapping;
            if (partial) {
                // The old last page was prepared for fewer bytes than it will cover: write it back and
                // give it a new generation, so its next write prepares the whole page, and a fault
                // that prepared it with the lock dropped finds its work stale.
                writeBackFrozen(old, oldPages - 1, oldPages - 1);
                renewGeneration(oldPages - 1, epoch = EPOCHS.incrementAndGet());
            }
            long newPages = pagesFor(newSize);
            if (old.extendInPlace(newSize)) { // the mapping has room: the file grows beneath it
                table.resize(newPages);
                pageCount = newPages;
                size = newSize;
                return;
            }
            Mapping fresh = Mapping.map(backing, channel, nativeFd, newSize); // extends the file sparsely
            table.resize(newPages); // keeps every chunk: a pinned writer's unpin finds its page
            pageCount = newPages;
            size = newSize;
            mapping = fresh;
            retire(old);
        } finally {
            if (partial) {
                thaw(oldPages - 1, oldPages);
            }
        }
    }

    /**
     * A grow replaced {@code old}. A writer that pinned before the swap may still write through it, and
     * a flush may still force through it; it is unmapped once they have all left, off this thread. Lock
     * held exclusive.
     */
    private void retire(Mapping old) {
        if (!old.unmaps()) {
            return;
        }
        if (BrokenRule.active(BrokenRule.REMAP_WITHOUT_DRAIN)) {
            old.unmap();
            return;
        }
        synchronized (retired) {
            if (retired.size() < MAX_RETIRED) {
                // Read after the swap: a writer that read the old mapping published its pin before.
                retired.add(new Retired(old, hazards.snapshot()));
                if (reaping.compareAndSet(false, true)) {
                    Unmapper.schedule(this::reapRetired);
                }
                return;
            }
        }
        // Some writer stays pinned across many grows: drain every writer here, and unmap them all.
        quiesce();
        try {
            unmapRetired();
            awaitUninterruptibly(() -> old.users() == 0, () -> "flushes to leave the old mapping of " + path);
            old.unmap();
        } finally {
            thaw();
        }
    }

    /** Whether every writer and flush that could use the retired mapping has left it. */
    private boolean expired(Retired r) {
        // A state-word pin counts itself before it reads the mapping; none now means none from before.
        return r.mapping().users() == 0 && statePins.get() == 0 && hazards.allChangedSince(r.hazards());
    }

    /** The reaper, on the unmapper thread: unmaps expired mappings; true while some remain. */
    private boolean reapRetired() {
        synchronized (retired) {
            reaping.set(false); // set again below while some remain; a throw leaves it clear for the next retire
            retired.removeIf(r -> {
                if (!expired(r)) {
                    return false;
                }
                try {
                    r.mapping().unmap();
                } catch (RuntimeException e) {
                    LOG.warn("unmapping a retired mapping of {} failed; it stays mapped until collected", path, e);
                }
                return true;
            });
            if (!retired.isEmpty()) {
                reaping.set(true);
                return true;
            }
            return false;
        }
    }

    /**
     * Unmaps every retired mapping, with the lock held exclusive after a full quiesce: no writer is
     * pinned, so only a flush can still be using one, finishing its writeback.
     */
    private void unmapRetired() {
        synchronized (retired) {
            for (Retired r : retired) {
                awaitUninterruptibly(() -> r.mapping().users() == 0,
                        () -> "flushes to leave a retired mapping of " + path);
                r.mapping().unmap();
            }
            retired.clear();
        }
    }

    /** Number of retired mappings not yet unmapped, for tests. */
    int retiredMappings() {
        synchronized (retired) {
            return retired.size();
        }
    }

    /** Changes the size with the lock held exclusive: a grow as {@link #growTo}; a shrink quiesces, remaps, thaws. */
    private void resize(long newSize) throws IOException {
        if (newSize > size) {
            growTo(newSize);
            return;
        }
        quiesce();
        try {
            unmapRetired();
            long oldPages = pageCount;
            long newPages = pagesFor(newSize);
            Mapping old = mapping;
            channel.truncate(newSize);
            long generation = epoch = EPOCHS.incrementAndGet();
            Mapping fresh;
            try {
                fresh = Mapping.map(backing, channel, nativeFd, newSize);
            } catch (IOException | RuntimeException e) {
                // The file is already shorter than the mapping: remove the pages past its end, and
                // close, since no mapping of the right size exists.
                removePages(newPages, oldPages, generation);
                LOG.error("remapping {} after truncate to {} failed; the region is closed", path, newSize, e);
                closed = true;
                throw e;
            }
            removePages(newPages, oldPages, generation);
            if ((newSize & (pageSize - 1)) != 0) {
                renewGeneration(newPages - 1, generation);
            }
            pageCount = newPages;
            size = newSize;
            mapping = fresh;
            table.resize(newPages);
            awaitUninterruptibly(() -> old.users() == 0, () -> "flushes to leave the old mapping of " + path);
            old.unmap();
        } finally {
            thaw();
        }
    }

    private void removePages(long from, long to, long generation) {
        for (long page = from; page < to; page++) {
            Chunk c = table.chunk(page);
            if (c == null) {
                page |= Chunk.MASK; // skip the rest of a chunk never allocated
            } else {
                removePage(c, Chunk.index(page), page, generation);
            }
        }
    }

    /**
     * A page whose extent changed (the last page, when the size moves inside or out of it) moves to a new
     * generation: what was prepared for it covered other bytes. A handler keyed by (page, generation)
     * then prepares it again, and a fault that prepared it with the lock dropped finds its work stale. A
     * dirty page keeps its data and reservation. Lock held exclusive, after quiesce.
     */
    private void renewGeneration(long page, long generation) {
        Chunk c = table.chunk(page);
        if (c == null) {
            return;
        }
        int i = Chunk.index(page);
        long w = c.stateVolatile(i);
        switch (state(w)) {
            case FROZEN, CLEAN -> c.setStateVolatile(i, PageState.word(state(w), generation));
            case PREPARING -> {
                c.setStateVolatile(i, PageState.word(CLEAN, generation));
                counters.preparing.decrement();
            }
            default -> throw new IllegalStateException("page " + page + " is " + PageState.describe(w)
                    + " after quiesce [file " + path + "]");
        }
    }

    /** K6: a removed page releases its reservation and moves to the new epoch, so stale work is seen. */
    private void removePage(Chunk c, int i, long page, long generation) {
        long w = c.stateVolatile(i);
        switch (state(w)) {
            case FROZEN -> {
                Reservation r = c.reservation(i);
                c.reservation(i, null);
                c.setStateVolatile(i, PageState.word(CLEAN, generation));
                counters.writable.decrement();
                if (r != null) {
                    release(r);
                }
            }
            case PREPARING -> {
                // A fault dropped the lock while preparing it; its retry sees the new generation.
                c.setStateVolatile(i, PageState.word(CLEAN, generation));
                counters.preparing.decrement();
            }
            case CLEAN -> c.setStateVolatile(i, PageState.word(CLEAN, generation));
            default -> throw new IllegalStateException("page " + page + " is " + PageState.describe(w)
                    + " after quiesce [file " + path + "]");
        }
    }

    /**
     * With the lock held exclusive: freezes every WRITABLE page so no writer can enter, waits for every
     * writeback to end and for every pin to drain. Afterwards no thread touches the mapping.
     */
    private void quiesce() {
        quiesce(0, Long.MAX_VALUE);
    }

    /**
     * {@link #quiesce()} for the pages of {@code [first, end)} only: writers of other pages go on, on
     * the lock-free fast path. Lock held exclusive.
     */
    private void quiesce(long first, long end) {
        int fromSlot = (int) (first >>> Chunk.SHIFT);
        int toSlot = endSlot(end);
        for (int s = fromSlot; s < toSlot; s++) {
            Chunk c = table.slot(s);
            if (c == null) {
                continue;
            }
            long base = (long) s << Chunk.SHIFT;
            for (int i = fromIndex(base, first), n = endIndex(base, end); i < n; i++) {
                long w = c.stateVolatile(i);
                for (;;) {
                    if (state(w) == WRITABLE) {
                        long witness = c.casState(i, w, withState(w, FROZEN));
                        if (witness == w) {
                            break;
                        }
                        w = witness;
                    } else if (state(w) == WRITEBACK) {
                        int index = i;
                        long page = base + i;
                        awaitUninterruptibly(() -> state(c.stateVolatile(index)) != WRITEBACK,
                                () -> "writeback of page " + page + " of " + path + " to end");
                        w = c.stateVolatile(i);
                    } else {
                        break;
                    }
                }
            }
        }
        if (BrokenRule.active(BrokenRule.REMAP_WITHOUT_DRAIN)) {
            return;
        }
        for (int s = fromSlot; s < toSlot; s++) {
            Chunk c = table.slot(s);
            if (c == null) {
                continue;
            }
            long base = (long) s << Chunk.SHIFT;
            for (int i = fromIndex(base, first), n = endIndex(base, end); i < n; i++) {
                if (pins(c.stateVolatile(i)) != 0) {
                    int index = i;
                    long page = base + i;
                    awaitUninterruptibly(() -> pins(c.stateVolatile(index)) == 0,
                            () -> "pinned writers to leave page " + page + " of " + path);
                }
            }
        }
        long last = Math.min(end, pageCount) - 1;
        for (int slot = 0; slot < hazards.slotCount(); slot++) {
            long seen = hazards.get(slot); // read after the freezing CASes: Dekker with the writer's publish
            if (Hazards.overlaps(seen, first, last)) {
                int s = slot;
                awaitHazard(() -> hazards.get(s) != seen,
                        () -> "the writer of pages " + Hazards.first(seen) + ".." + Hazards.last(seen) + " of " + path
                                + " to leave");
            }
        }
    }

    /** FROZEN pages become WRITABLE again. Lock held exclusive. */
    private void thaw() {
        thaw(0, Long.MAX_VALUE);
    }

    /** {@link #thaw()} for the pages of {@code [first, end)}, the range a ranged quiesce froze. */
    private void thaw(long first, long end) {
        for (int s = (int) (first >>> Chunk.SHIFT), toSlot = endSlot(end); s < toSlot; s++) {
            Chunk c = table.slot(s);
            if (c == null) {
                continue;
            }
            long base = (long) s << Chunk.SHIFT;
            for (int i = fromIndex(base, first), n = endIndex(base, end); i < n; i++) {
                c.move(i, FROZEN, WRITABLE);
            }
        }
        waiters.signal();
    }

    /** The directory slot after the one holding the last page of {@code [.., end)}, within the table. */
    private int endSlot(long end) {
        return (int) Math.min(table.slots(), ((Math.min(end, pageCount) - 1) >>> Chunk.SHIFT) + 1);
    }

    /** The index in the chunk at page {@code base} of the first page of a range starting at {@code first}. */
    private static int fromIndex(long base, long first) {
        return (int) (Math.max(first, base) - base);
    }

    /** The index in the chunk at page {@code base} past the last page of a range ending at {@code end}. */
    private static int endIndex(long base, long end) {
        return (int) (Math.min(end, base + Chunk.PAGES) - base);
    }

    /** Writes back the FROZEN pages of {@code [first, last]}. Lock held exclusive, after quiesce. */
    private void writeBackFrozen(Mapping m, long first, long last) throws IOException {
        LongArrayList pages = new LongArrayList();
        for (long page = first; page <= last; page++) {
            Chunk c = table.chunk(page);
            if (c == null) {
                page |= Chunk.MASK; // skip the rest of a chunk never allocated
                continue;
            }
            if (state(c.stateVolatile(Chunk.index(page))) == FROZEN) {
                pages.addLong(page);
            }
        }
        if (!pages.isEmpty()) {
            forceAndClean(m, pages, FROZEN);
        }
    }

    @Override
    public void close() throws IOException {
        checkNotInHandler("close");
        IOException failure = null;
        lock.writeLock().lock();
        try {
            if (closed && !channel.isOpen()) {
                return;
            }
            closed = true; // faults see it once they hold the lock
            quiesce();
            try {
                writeBackFrozen(mapping, 0, pageCount - 1);
            } catch (IOException e) {
                failure = e;
                dropDirty(); // the data stays in the page cache; the reservations end with the region
            }
            unmapRetired();
            mapping.unmap();
        } catch (RuntimeException e) {
            failure = new IOException("closing " + path + " failed", e);
        } finally {
            try {
                fileLock.release();
                channel.close();
                if (nativeFd >= 0 && PosixNative.close(nativeFd) < 0) {
                    LOG.warn("closing the native descriptor of {} failed", path);
                }
            } catch (IOException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
            lock.writeLock().unlock();
        }
        // Faults that dropped the lock finish their retry: they see the region closed and release.
        awaitUninterruptibly(() -> faultsInFlight.get() == 0, () -> "faults in flight to end at close of " + path);
        LOG.debug("closed {}", path);
        if (failure != null) {
            throw failure;
        }
    }

    /** After a failed final writeback: FROZEN pages end with their reservations released. */
    private void dropDirty() {
        for (int s = 0; s < table.slots(); s++) {
            Chunk c = table.slot(s);
            if (c == null) {
                continue;
            }
            for (int i = 0; i < Chunk.PAGES; i++) {
                long w = c.stateVolatile(i);
                if (state(w) == FROZEN) {
                    Reservation r = c.reservation(i);
                    c.reservation(i, null);
                    c.setStateVolatile(i, PageState.word(CLEAN, generation(w)));
                    counters.writable.decrement();
                    if (r != null) {
                        release(r);
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Checks and errors

    private void awaitUninterruptibly(BooleanSupplier done, Supplier<String> what) {
        try {
            waiters.await(done, false, what, 0);
        } catch (InterruptedException e) {
            throw new AssertionError("an uninterruptible wait was interrupted", e);
        }
    }

    /** Waits for a hazard to change: re-checks every {@link Hazards#POLL_MILLIS}, as its wake-up can be missed. */
    private void awaitHazard(BooleanSupplier done, Supplier<String> what) {
        try {
            waiters.await(done, false, what, Hazards.POLL_MILLIS);
        } catch (InterruptedException e) {
            throw new AssertionError("an uninterruptible wait was interrupted", e);
        }
    }

    private void checkRange(String op, long offset, long length) {
        if (offset < 0 || length < 0 || offset + length < 0) {
            throw new IllegalArgumentException(op + "(offset " + offset + ", length " + length
                    + "): both must be >= 0 and their sum must not overflow [file " + path + ", offset " + offset
                    + (offset >= 0 ? ", page " + (offset >>> pageShift) : "") + "]");
        }
    }

    private void checkEmpty(long offset) {
        if (closed) {
            throw closedException(offset, offset >>> pageShift);
        }
        if (offset > size) {
            throw outOfRegion(offset, 0);
        }
    }

    private void checkNotInHandler(String op) {
        Fault current = IN_HANDLER.get();
        if (current != null && current.region() == this) {
            throw new IllegalStateException(op + "() from inside this region's WriteFaultHandler would deadlock"
                    + " [file " + path + ", offset " + current.offset() + ", page " + current.page() + "]");
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new RegionClosedException(path, 0, -1);
        }
    }

    private RegionClosedException closedException(long offset, long page) {
        return new RegionClosedException(path, offset, page);
    }

    private OutOfRegionException outOfRegion(long offset, long length) {
        long regionSize = size;
        long page = Math.max(offset, regionSize) >>> pageShift;
        return new OutOfRegionException(path, offset, length, regionSize, page);
    }

    @Override
    public String toString() {
        return "MappedRegion[" + path + ", size=" + size + ", pageSize=" + pageSize + ", " + backing
                + (closed ? ", closed" : "") + "]";
    }
}
