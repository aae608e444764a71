package dev.mkwrite.examples.log;

import dev.mkwrite.MappedRegion;
import dev.mkwrite.RegionStats;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.examples.Handlers;
import dev.mkwrite.impl.storage.PrepareAhead;
import dev.mkwrite.impl.storage.StorageHandler;
import dev.mkwrite.impl.storage.StorageHandlers;
import org.agrona.collections.LongArrayQueue;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.zip.CRC32C;

/**
 * An append-only, segmented write-ahead log on {@link MappedRegion}s, with group commit.
 *
 * <pre>{@code
 * try (LogWriter log = LogWriter.create(LogConfig.of(dir))) {
 *     try (LogWriter.Appender appender = log.appender()) {     // one per thread
 *         long end = appender.append(payload, 0, payload.length);
 *         log.awaitDurable(end);                              // or keep going: group commit
 *     }
 * }
 * }</pre>
 *
 * <h2>Segments, growth and space</h2>
 * The log is a sequence of segment files ({@link LogFormat}). Each is one {@link MappedRegion} that
 * starts at {@link LogConfig#growStep()} bytes and {@linkplain MappedRegion#grow grows} by that step
 * as records reach its end; at {@link LogConfig#segmentSize()} the log rolls to a new file. Why both:
 * growing keeps a young log small on disk and mapped memory proportional to the data, and each grow is
 * one short exclusive operation; rolling keeps each mapping bounded, lets old segments be unmapped
 * (closed) as soon as a group flush has covered them, and gives retention a unit to delete. Space is
 * never reserved up front: mkwrite's built-in {@linkplain StorageHandlers#fallocate fallocate handler},
 * one for every segment of the writer, reserves storage granule by granule when a page is first written,
 * and its {@linkplain StorageHandlers#prepareAhead prepare-ahead} agent reserves the next granules of the
 * segment being appended to before the appenders reach them. So a full disk surfaces as a
 * {@link dev.mkwrite.NoSpaceException} from {@link Appender#append} instead of a crash, and the
 * appenders' faults rarely make a system call.
 *
 * <h2>Appending</h2>
 * Appenders reserve space with a CAS on one shared tail position and copy their record in with a
 * single {@link MappedRegion#put}, without locks: concurrent records land out of order. A record that
 * does not fit the current segment (with room for an end-of-segment marker) goes to the start of the
 * next one, and its appender writes the marker where it would have started. Growing and rolling happen
 * under one lock, by whichever appender needs them first.
 *
 * <h2>Group commit, and what "durable" means</h2>
 * A flusher thread runs a group flush every {@link LogConfig#flushInterval()}: it computes the
 * <em>completed prefix</em>, the position below which every reserved record is fully written, forces
 * the pages from the last commit up to it ({@link MappedRegion#flush(long, long)}), and then writes the
 * prefix to the checkpoint file and forces that. Only then is the prefix published as
 * {@link #durablePosition()}. Since the prefix was computed before the flush started, and mkwrite's flush
 * forces every write that completed before it started (guarantee G5), a record at or below the durable
 * position was written, then covered by a flush that started after it and completed, then recorded in
 * the checkpoint. That is exactly what {@link LogVerifier} checks after any crash.
 *
 * <p>The completed prefix is {@code min(tail, min over appenders of inProgress)}. An appender publishes
 * a lower bound of the position it is about to reserve (the tail it read) in its {@code inProgress}
 * field <em>before</em> its CAS, and clears it after its copy; the flusher reads the tail first and the
 * fields after, so a reservation that the tail already includes is always seen in progress until it
 * is written. All of these are volatile accesses.
 *
 * <h2>Failure</h2>
 * An append that fails (a full disk) leaves a hole at its reservation: the writer is then failed, the
 * durable position stops below the hole, and every later call throws. The log stays valid up to the
 * durable position. A crash at any point leaves a log that {@link LogVerifier} accepts up to at least
 * the durable position; anything after it is a tail, torn or not.
 *
 * <h2>Threads</h2>
 * {@link #appender()}, {@link #durablePosition()}, {@link #awaitDurable}, {@link #requestFlush()} and
 * {@link #stats()} may be called from any thread. An {@link Appender} belongs to one thread. Close the
 * writer after every appender has finished.
 */
public final class LogWriter implements AutoCloseable {

    private final LogConfig config;
    private final Path dir;
    private final long segmentSize;
    private final int maxPayload;
    private final FileChannel checkpoint;
    /** Reserves every segment's space; its prepare-ahead wrapper, or null without prepare-ahead. */
    private final StorageHandler storage;
    private final PrepareAhead ahead;
    /** The handler each segment's region uses: prepare-ahead (or storage), decorated by the config. */
    private final WriteFaultHandler handler;

    /** The next position to reserve. CAS by appenders; read by the flusher before the inProgress fields. */
    private final AtomicLong tail = new AtomicLong(LogFormat.SEGMENT_HEADER);
    private final CopyOnWriteArrayList<Appender> appenders = new CopyOnWriteArrayList<>();

    /** Guards segment creation, growth and retirement, and the counters below it. */
    private final ReentrantLock segmentsLock = new ReentrantLock();
    /** Open segments in index order. Guarded by segmentsLock. */
    private final List<Segment> open = new ArrayList<>();
    /** The newest segment: the fast path's first guess. Written under segmentsLock. */
    private volatile Segment current;
    private RegionStats retiredStats = RegionSums.ZERO;
    private long segmentsCreated;
    private long grows;

    private final Thread flusher;
    /** Guards the three flags below; the flusher waits on it. */
    private final Object flushMonitor = new Object();
    private boolean flushRequested;
    private boolean closing;
    private boolean skipFinalFlush;

    /** The committed prefix, and the checkpoint sequence. Flusher thread only. */
    private long committed = LogFormat.SEGMENT_HEADER;
    private long sequence;
    private final MemorySegment slot = MemorySegment.ofArray(new byte[LogFormat.SLOT_BYTES]);
    private final AtomicLong groupFlushes = new AtomicLong();

    /** Published by the flusher after the checkpoint was forced; waiters wait on durableMonitor. */
    private volatile long durable = LogFormat.SEGMENT_HEADER;
    private final Object durableMonitor = new Object();
    private volatile Throwable failure;

    private LogWriter(LogConfig config, FileChannel checkpoint, StorageHandler storage, PrepareAhead ahead)
            throws IOException {
        this.config = config;
        this.dir = config.dir();
        this.segmentSize = config.segmentSize();
        this.maxPayload = config.maxPayload();
        this.checkpoint = checkpoint;
        this.storage = storage;
        this.ahead = ahead;
        this.handler = config.decorator().apply(ahead != null ? ahead : storage);
        Segment first = createSegment(0);
        open.add(first);
        current = first;
        segmentsCreated = 1;
        flusher = Thread.ofPlatform().name("log-flusher " + dir.getFileName()).daemon().unstarted(this::runFlusher);
        flusher.start();
    }

    /**
     * Creates a new log in {@code config.dir()}, which may exist but must not hold a log.
     *
     * @param config the layout and flush period
     * @return the writer; close it
     * @throws FileAlreadyExistsException if the directory already holds a log
     * @throws IOException                if the files cannot be created
     */
    public static LogWriter create(LogConfig config) throws IOException {
        Path dir = config.dir();
        Files.createDirectories(dir);
        Path checkpointFile = dir.resolve(LogFormat.CHECKPOINT);
        if (Files.exists(checkpointFile) || Files.exists(LogFormat.segmentFile(dir, 0))) {
            throw new FileAlreadyExistsException(dir.toString(), null, "the directory already holds a log");
        }
        MemorySegment image = MemorySegment.ofArray(new byte[LogFormat.CHECKPOINT_SIZE]);
        LogFormat.encodeCheckpointHeader(image, config.segmentSize());
        FileChannel channel = FileChannel.open(checkpointFile, StandardOpenOption.CREATE_NEW,
                StandardOpenOption.READ, StandardOpenOption.WRITE);
        StorageHandler storage = null;
        PrepareAhead ahead = null;
        boolean success = false;
        try {
            writeFully(channel, image.asByteBuffer(), 0);
            channel.force(true);
            syncDirectory(dir);
            storage = Handlers.storage(config.granule());
            ahead = config.prepareAhead() > 0 ? StorageHandlers.prepareAhead(storage, config.prepareAhead()) : null;
            LogWriter writer = new LogWriter(config, channel, storage, ahead);
            success = true;
            return writer;
        } finally {
            if (!success) {
                if (ahead != null) {
                    ahead.close();
                }
                if (storage != null) {
                    storage.close();
                }
                channel.close();
            }
        }
    }

    /**
     * Registers a new appender for the calling thread.
     *
     * @return the appender; close it when the thread is done
     * @throws IOException if the writer has failed
     */
    public Appender appender() throws IOException {
        checkNotFailed();
        Appender a = new Appender();
        appenders.add(a); // published before its first reservation: the flusher sees it (volatile array)
        return a;
    }

    /**
     * The position below which every record is durable: written, forced by a group flush that started
     * after it was written, and recorded in the checkpoint.
     *
     * @return the position
     */
    public long durablePosition() {
        return durable;
    }

    /**
     * Asks for a group flush now instead of at the end of the period.
     */
    public void requestFlush() {
        synchronized (flushMonitor) {
            flushRequested = true;
            flushMonitor.notifyAll();
        }
    }

    /**
     * Waits until {@code position} is durable, asking for a group flush first.
     *
     * @param position an end position returned by {@link Appender#append}
     * @throws InterruptedIOException if interrupted while waiting
     * @throws IOException            if the writer failed
     */
    public void awaitDurable(long position) throws IOException {
        if (durable >= position) {
            return;
        }
        requestFlush();
        synchronized (durableMonitor) {
            while (durable < position) {
                checkNotFailed();
                try {
                    durableMonitor.wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("interrupted while waiting for position " + position
                            + " of " + dir + " to become durable");
                }
            }
        }
    }

    /**
     * The configuration.
     *
     * @return the configuration
     */
    public LogConfig config() {
        return config;
    }

    /**
     * Counters over every segment so far, open and closed.
     *
     * @return a snapshot
     */
    public Stats stats() {
        segmentsLock.lock();
        try {
            RegionStats region = retiredStats;
            for (Segment s : open) {
                region = RegionSums.plus(region, s.region.stats());
            }
            return new Stats(segmentsCreated, grows, groupFlushes.get(), durable, region,
                    Handlers.reservedBytes(storage), Handlers.aheadBytes(storage), storage.stats());
        } finally {
            segmentsLock.unlock();
        }
    }

    /**
     * Runs a last group flush covering every completed record, then closes every segment and the
     * checkpoint. Call it after every appender has finished.
     *
     * @throws IOException if a flush or close failed, or the writer had failed before
     */
    @Override
    public void close() throws IOException {
        shutDown(false);
    }

    /**
     * For tests: stops like a process killed with SIGKILL after its last completed group flush. No final
     * group flush and no checkpoint; the segments are closed, which leaves their data where the page
     * cache of a killed process would: in the files, beyond the durable position.
     */
    void abandon() throws IOException {
        shutDown(true);
    }

    private void shutDown(boolean skipFinal) throws IOException {
        synchronized (flushMonitor) {
            if (closing) {
                return;
            }
            closing = true;
            skipFinalFlush = skipFinal;
            flushMonitor.notifyAll();
        }
        boolean interrupted = false;
        while (flusher.isAlive()) {
            try {
                flusher.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        IOException error = null;
        segmentsLock.lock();
        try {
            for (Segment s : open) {
                error = closeSegment(s, error);
            }
            open.clear();
        } finally {
            segmentsLock.unlock();
        }
        if (ahead != null) {
            ahead.close(); // before the handler it wraps
        }
        try {
            storage.close();
        } catch (IOException e) {
            error = addTo(error, e);
        }
        try {
            checkpoint.close();
        } catch (IOException e) {
            error = addTo(error, e);
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        Throwable f = failure;
        if (f != null) {
            error = addTo(error, new IOException("the log writer of " + dir + " failed", f));
        }
        if (error != null) {
            throw error;
        }
        synchronized (durableMonitor) {
            durableMonitor.notifyAll();
        }
    }

    /**
     * Closes a segment's region, then lets the storage handler close its descriptor of the file, and
     * folds the region's counters into the retired totals.
     */
    private IOException closeSegment(Segment s, IOException error) {
        try {
            s.region.close();
        } catch (IOException | RuntimeException e) {
            error = addTo(error, e);
        }
        try {
            storage.release(s.path);
        } catch (IOException e) {
            error = addTo(error, e);
        }
        retiredStats = RegionSums.plus(retiredStats, s.region.stats());
        return error;
    }

    private static IOException addTo(IOException error, Exception e) {
        if (error == null) {
            return e instanceof IOException io ? io : new IOException(e);
        }
        error.addSuppressed(e);
        return error;
    }

    private void checkNotFailed() throws IOException {
        Throwable f = failure;
        if (f != null) {
            throw new IOException("the log writer of " + dir + " failed; the log is valid up to position "
                    + durable, f);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Segments

    /** One segment file: its path, its region and its current size. */
    private static final class Segment {
        final long index;
        final Path path;
        final MappedRegion region;
        /** The region's size: reservations that end below it need no grow. Written under segmentsLock. */
        volatile long limit;

        Segment(long index, Path path, MappedRegion region, long limit) {
            this.index = index;
            this.path = path;
            this.region = region;
            this.limit = limit;
        }
    }

    private Segment createSegment(long index) throws IOException {
        Path path = LogFormat.segmentFile(dir, index);
        if (Files.exists(path)) {
            throw new FileAlreadyExistsException(path.toString(), null, "segment exists already");
        }
        MappedRegion region = null;
        boolean success = false;
        try {
            region = MappedRegion.builder(path).size(config.growStep()).handler(handler).open();
            MemorySegment header = MemorySegment.ofArray(new byte[LogFormat.SEGMENT_HEADER]);
            LogFormat.encodeSegmentHeader(header, index, segmentSize);
            region.put(0, header);
            syncDirectory(dir);
            success = true;
            return new Segment(index, path, region, region.size());
        } finally {
            if (!success) {
                if (region != null) {
                    region.close();
                }
                storage.release(path);
            }
        }
    }

    /** The open segment {@code index}, grown to at least {@code end} bytes. */
    private Segment segment(long index, long end) throws IOException {
        Segment s = current;
        if (s.index == index && end <= s.limit) {
            return s; // fast path: volatile read, no lock
        }
        segmentsLock.lock();
        try {
            while (current.index < index) {
                Segment next = createSegment(current.index + 1);
                open.add(next);
                segmentsCreated++;
                current = next; // publishes the new segment to the fast path
            }
            s = null;
            for (Segment candidate : open) {
                if (candidate.index == index) {
                    s = candidate;
                    break;
                }
            }
            if (s == null) {
                throw new IllegalStateException("segment " + index + " of " + dir + " is not open; a reservation"
                        + " outlived the group flush that retired its segment");
            }
            if (end > s.limit) {
                long step = config.growStep();
                long newSize = Math.min(segmentSize, (end + step - 1) / step * step);
                s.region.grow(newSize);
                grows++;
                s.limit = newSize;
            }
            return s;
        } finally {
            segmentsLock.unlock();
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Group flush (flusher thread)

    private void runFlusher() {
        long interval = config.flushInterval().toNanos();
        long next = System.nanoTime() + interval;
        try {
            for (;;) {
                boolean last;
                synchronized (flushMonitor) {
                    while (!flushRequested && !closing) {
                        long wait = next - System.nanoTime();
                        if (wait <= 0) {
                            break;
                        }
                        TimeUnit.NANOSECONDS.timedWait(flushMonitor, wait);
                    }
                    if (closing && skipFinalFlush) {
                        return;
                    }
                    last = closing;
                    flushRequested = false;
                }
                next = System.nanoTime() + interval; // the period runs from the start of each flush
                groupFlush();
                if (last) {
                    return;
                }
            }
        } catch (IOException | RuntimeException | Error | InterruptedException e) {
            fail(e);
        }
    }

    /** Marks the writer failed and wakes every thread waiting for durability, so that it throws. */
    private void fail(Throwable e) {
        if (failure == null) {
            failure = e;
        }
        synchronized (durableMonitor) {
            durableMonitor.notifyAll();
        }
    }

    /** The position below which every reservation has been written. */
    private long completedPrefix() {
        long prefix = tail.get(); // read first: every reservation below it has published its inProgress
        for (Appender a : appenders) {
            prefix = Math.min(prefix, a.inProgress);
        }
        return prefix;
    }

    private void groupFlush() throws IOException {
        long prefix = completedPrefix();
        if (prefix <= committed) {
            return;
        }
        long firstIndex = LogFormat.segmentOf(committed, segmentSize);
        long lastIndex = LogFormat.segmentOf(prefix, segmentSize);
        List<Segment> covered = new ArrayList<>();
        segmentsLock.lock();
        try {
            for (Segment s : open) {
                if (s.index >= firstIndex && s.index <= lastIndex) {
                    covered.add(s);
                }
            }
        } finally {
            segmentsLock.unlock();
        }
        for (Segment s : covered) {
            long from = s.index == firstIndex ? (committed % segmentSize) & -(long) s.region.pageSize() : 0;
            long to = s.index == lastIndex ? prefix % segmentSize : segmentSize;
            if (to > from) {
                s.region.flush(from, to - from); // forces every write completed before this call
            }
        }
        writeCheckpoint(prefix);
        committed = prefix;
        groupFlushes.incrementAndGet();
        synchronized (durableMonitor) {
            durable = prefix; // volatile: acknowledges every record below it
            durableMonitor.notifyAll();
        }
        retireBefore(lastIndex);
    }

    private void writeCheckpoint(long position) throws IOException {
        sequence++;
        LogFormat.encodeSlot(slot, sequence, position);
        writeFully(checkpoint, slot.asByteBuffer(), LogFormat.slotOffset((int) (sequence & 1)));
        checkpoint.force(false);
    }

    /** Closes the segments below {@code index}: the committed prefix is past them, so no appender needs them. */
    private void retireBefore(long index) throws IOException {
        List<Segment> retired = new ArrayList<>();
        segmentsLock.lock();
        try {
            while (!open.isEmpty() && open.getFirst().index < index) {
                retired.add(open.removeFirst());
            }
            IOException error = null;
            for (Segment s : retired) {
                error = closeSegment(s, error);
            }
            if (error != null) {
                throw error;
            }
        } finally {
            segmentsLock.unlock();
        }
    }

    private static void writeFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        long p = position;
        while (buffer.hasRemaining()) {
            p += channel.write(buffer, p);
        }
    }

    private static void syncDirectory(Path dir) throws IOException {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true); // the new file's directory entry survives a power failure
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Appenders

    /**
     * One thread's handle for appending. Not thread-safe: use it from the thread that made it, and close
     * it on that thread when done.
     *
     * <p>It also tracks which of its records are acknowledged: {@link #acknowledged()} counts the records
     * at or below the durable position, precisely, by keeping the end positions of the others.
     */
    public final class Appender implements AutoCloseable {

        /**
         * A lower bound of the position this appender is reserving or writing, or MAX_VALUE when idle.
         * Volatile: set before the tail CAS, cleared after the copy; read by the flusher.
         */
        volatile long inProgress = Long.MAX_VALUE;

        private final CRC32C crc = new CRC32C();
        private byte[] scratch = new byte[256];
        private final LongArrayQueue unacknowledged = new LongArrayQueue(1024, -1);
        private volatile long appended;
        private volatile long acknowledged;
        private volatile long bytes;
        private long lastEnd;
        private boolean closed;

        private Appender() {
        }

        /**
         * Appends one record and returns its end position. The record is written when this returns, and
         * durable once {@link #durablePosition()} reaches the returned position.
         *
         * @param payload the array holding the payload
         * @param offset  the payload's first byte
         * @param length  the payload's length, 1 to {@link LogConfig#maxPayload()}
         * @return the position just past the record
         * @throws IllegalArgumentException    if the length is out of range
         * @throws dev.mkwrite.NoSpaceException if the disk is full; the writer is then failed
         * @throws IOException                 if the writer failed, or a segment could not be created or grown
         */
        public long append(byte[] payload, int offset, int length) throws IOException {
            if (closed) {
                throw new IllegalStateException("appender closed");
            }
            if (length < 1 || length > maxPayload) {
                throw new IllegalArgumentException("payload length " + length + " is outside [1, " + maxPayload
                        + "] for " + dir);
            }
            checkNotFailed();
            int total = LogFormat.recordBytes(length);
            int written = LogFormat.RECORD_HEADER + length;
            if (scratch.length < written) {
                scratch = new byte[Math.max(written, scratch.length * 2)];
            }
            int c = LogFormat.recordCrc(crc, payload, offset, length);
            putIntLE(scratch, 0, length);
            putIntLE(scratch, 4, c);
            System.arraycopy(payload, offset, scratch, LogFormat.RECORD_HEADER, length);

            long cur;
            long start;
            for (;;) {
                cur = tail.get();
                inProgress = cur; // volatile, before the CAS: the flusher must not commit past it
                long offsetInSegment = cur % segmentSize;
                start = offsetInSegment + total + LogFormat.RECORD_HEADER <= segmentSize
                        ? cur
                        : (cur / segmentSize + 1) * segmentSize + LogFormat.SEGMENT_HEADER;
                if (tail.compareAndSet(cur, start + total)) {
                    break;
                }
            }
            long end = start + total;
            boolean ok = false;
            try {
                if (start != cur) {
                    // Rolling: end the old segment where this record would have started.
                    Segment old = segment(cur / segmentSize, cur % segmentSize + LogFormat.RECORD_HEADER);
                    old.region.putLong(cur % segmentSize, (LogFormat.END_OF_SEGMENT & 0xFFFFFFFFL)
                            | ((long) LogFormat.END_OF_SEGMENT_CRC << 32));
                }
                long offsetInSegment = start % segmentSize;
                Segment s = segment(start / segmentSize, offsetInSegment + total);
                s.region.put(offsetInSegment, scratch, 0, written);
                ok = true;
            } catch (IOException | RuntimeException | Error e) {
                // The reservation stays a hole, and inProgress keeps the durable position below it.
                fail(e);
                throw e;
            } finally {
                if (ok) {
                    inProgress = Long.MAX_VALUE; // volatile, after the copy: the next group flush covers it
                }
            }
            appended++;
            bytes += total;
            lastEnd = end;
            unacknowledged.addLong(end);
            drainAcknowledged();
            return end;
        }

        private void drainAcknowledged() {
            long d = durable;
            long n = 0;
            while (!unacknowledged.isEmpty() && unacknowledged.peekLong() <= d) {
                unacknowledged.pollLong();
                n++;
            }
            if (n > 0) {
                acknowledged += n;
            }
        }

        /**
         * Waits until every record this appender wrote is durable, asking for a group flush.
         *
         * @throws IOException if the writer failed or the wait was interrupted
         */
        public void awaitAcknowledged() throws IOException {
            awaitDurable(lastEnd);
            drainAcknowledged();
        }

        /**
         * Records appended by this appender. Any thread may read it.
         *
         * @return the count
         */
        public long appended() {
            return appended;
        }

        /**
         * Bytes appended by this appender, headers and padding included. Any thread may read it.
         *
         * @return the count
         */
        public long bytes() {
            return bytes;
        }

        /**
         * Records of this appender known to be durable, as of its latest {@link #append} or
         * {@link #awaitAcknowledged}. Any thread may read it.
         *
         * @return the count
         */
        public long acknowledged() {
            return acknowledged;
        }

        /** Deregisters the appender. Idempotent. */
        @Override
        public void close() {
            if (!closed) {
                closed = true;
                appenders.remove(this);
            }
        }
    }

    private static void putIntLE(byte[] b, int at, int v) {
        b[at] = (byte) v;
        b[at + 1] = (byte) (v >>> 8);
        b[at + 2] = (byte) (v >>> 16);
        b[at + 3] = (byte) (v >>> 24);
    }

    /**
     * Counters over the life of a writer.
     *
     * @param segments       segment files created
     * @param grows          {@link MappedRegion#grow} calls
     * @param groupFlushes   group flushes that committed something
     * @param durable        the durable position
     * @param region         the segments' region counters, summed
     * @param preparedBytes  storage reserved by the storage handler (see {@link Handlers#reservedBytes})
     * @param aheadBytes     of which reserved ahead of the appenders by prepare-ahead
     * @param storage        the storage handler's own counters
     */
    public record Stats(long segments, long grows, long groupFlushes, long durable, RegionStats region,
                        long preparedBytes, long aheadBytes, StorageHandler.Stats storage) {
    }
}
