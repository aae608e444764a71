package dev.mkwrite.examples;

import dev.mkwrite.FaultResult;
import dev.mkwrite.Reservation;
import dev.mkwrite.WriteFault;
import org.agrona.collections.Long2LongHashMap;
import org.agrona.collections.LongArrayQueue;
import org.agrona.collections.LongHashSet;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The examples' stand-in for the built-in fallocate and prepare-ahead handlers (see {@link Handlers}):
 * reserves storage by writing zeros through a {@link FileChannel}, a granule at a time.
 *
 * <h2>What is prepared</h2>
 * For each granule the handler records how many bytes from its start are prepared. A fault prepares the
 * granules its page covers, up to the page's end at least and up to the granule's end or the end of
 * the file at most, starting where the granule's earlier preparation stopped. So a granule is never
 * zeroed twice over: bytes that a page of the region may already hold data in were prepared before that
 * page became WRITABLE, and are never written again. Bytes past the end of the file are prepared after
 * the region grows over them.
 *
 * <h2>Prepare-ahead</h2>
 * With {@code ahead > 0}, each fault queues the {@code ahead} granules after its own for a background
 * thread. A fault that reaches a granule while that thread fills it waits for the fill: on its first
 * attempt it {@linkplain WriteFault#dropLock() drops the region lock} first and returns
 * {@link FaultResult#RETRY} (rule K4); the retry, which may not drop the lock, finds the granule ready.
 * A no-wait fault returns RETRY without waiting. A background fill that fails (a full disk) leaves its
 * granule unprepared, so the fault that needs it fails in the foreground with the real error.
 *
 * <h2>Threads</h2>
 * Thread-safe. One lock guards the granule table; zeros are written outside it, and never while the
 * region lock is needed: the background thread touches only the file, so a fault may wait for it with
 * the region lock held. An interrupt during a foreground write closes the channel (JDK behaviour); the
 * examples do not interrupt writers.
 */
final class ZeroFillSpace implements SpaceHandler {

    private static final int ZERO_CHUNK = 64 * 1024;
    private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(ZERO_CHUNK).asReadOnlyBuffer();

    private final Path file;
    private final FileChannel channel;
    private final int granule;
    private final int granuleShift;
    private final int ahead;

    private final ReentrantLock lock = new ReentrantLock();
    /** Signalled when a fill ends, when work is queued, and at close. */
    private final Condition changed = lock.newCondition();
    /** Granule to bytes prepared from its start; absent means none. Guarded by lock. */
    private final Long2LongHashMap prepared = new Long2LongHashMap(0);
    /** Granules being filled, by a fault or the background thread. Guarded by lock. */
    private final LongHashSet filling = new LongHashSet();
    /** Granules queued for the background thread, oldest first, and the same as a set. Guarded by lock. */
    private final LongArrayQueue queue = new LongArrayQueue(-1);
    private final LongHashSet queued = new LongHashSet();
    /** Guarded by lock. */
    private boolean closed;

    private final AtomicLong preparedBytes = new AtomicLong();
    private final AtomicLong aheadBytes = new AtomicLong();
    private final AtomicLong aheadWaits = new AtomicLong();
    private final Thread aheadThread;

    ZeroFillSpace(Path file, int granule, int ahead) throws IOException {
        if (granule < 4096 || Integer.bitCount(granule) != 1) {
            throw new IllegalArgumentException("granule must be a power of two of at least 4096 bytes, was "
                    + granule + " for " + file);
        }
        if (ahead < 0) {
            throw new IllegalArgumentException("prepare-ahead must be >= 0 granules, was " + ahead + " for " + file);
        }
        this.file = file;
        this.granule = granule;
        this.granuleShift = Integer.numberOfTrailingZeros(granule);
        this.ahead = ahead;
        this.channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        if (ahead > 0) {
            aheadThread = Thread.ofPlatform().daemon().name("prepare-ahead " + file.getFileName())
                    .start(this::runAhead);
        } else {
            aheadThread = null;
        }
    }

    @Override
    public FaultResult prepare(WriteFault fault) throws IOException, InterruptedException {
        long start = fault.offset();
        long end = start + fault.length();
        long first = start >>> granuleShift;
        long last = (end - 1) >>> granuleShift;
        for (long g = first; g <= last; g++) {
            long granuleStart = g << granuleShift;
            long need = Math.min(end, granuleStart + granule) - granuleStart;
            if (!ensure(fault, g, need)) {
                return FaultResult.RETRY;
            }
        }
        if (ahead > 0) {
            queueAhead(last);
        }
        return new Prepared(fault.length());
    }

    /**
     * Makes the first {@code need} bytes of granule {@code g} prepared. Returns false if the fault must
     * be retried: it dropped the lock and waited, or it is a no-wait fault that would have waited.
     */
    private boolean ensure(WriteFault fault, long g, long need) throws IOException, InterruptedException {
        long from;
        lock.lock();
        try {
            for (;;) {
                if (closed) {
                    throw new IOException("the space handler of " + file + " is closed");
                }
                from = prepared.get(g);
                if (from >= need) {
                    return true;
                }
                if (filling.add(g)) {
                    break; // ours to fill
                }
                // Being filled ahead of us: wait for it, without the region lock when we may drop it.
                aheadWaits.incrementAndGet();
                if (fault.isNoWait()) {
                    return false;
                }
                if (fault.mayDropLock()) {
                    lock.unlock();
                    try {
                        fault.dropLock();
                    } finally {
                        lock.lock();
                    }
                    while (filling.contains(g) && !closed) {
                        changed.await();
                    }
                    return false; // the retry finds the granule prepared, or fills the rest itself
                }
                changed.await(); // a retry: wait with the region lock held (the filler never needs it)
            }
        } finally {
            lock.unlock();
        }
        long to = fill(g, from, false);
        if (to < need) {
            throw new IOException("cannot prepare " + need + " bytes of the granule at offset " + (g << granuleShift)
                    + " of " + file + ": the file ends " + to + " bytes into it; was it truncated under the region?");
        }
        return true;
    }

    /**
     * Fills granule {@code g}, which the caller marked as filling, from {@code from} to its end or the end
     * of the file, and returns how many bytes from its start are now prepared.
     */
    private long fill(long g, long from, boolean background) throws IOException {
        long granuleStart = g << granuleShift;
        long to = from;
        try {
            // The region's size is the file's size, and only grows: prepare up to what exists now.
            to = Math.max(from, Math.min(granule, channel.size() - granuleStart));
            writeZeros(granuleStart + from, granuleStart + to);
        } catch (IOException | RuntimeException e) {
            to = from; // nothing counts as prepared; a later fault fills it again, or reports the error
            throw e;
        } finally {
            lock.lock();
            try {
                filling.remove(g);
                if (to > from) {
                    prepared.put(g, to);
                    preparedBytes.addAndGet(to - from);
                    if (background) {
                        aheadBytes.addAndGet(to - from);
                    }
                }
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }
        return to;
    }

    private void writeZeros(long from, long to) throws IOException {
        ByteBuffer zeros = ZEROS.duplicate();
        long position = from;
        while (position < to) {
            zeros.clear().limit((int) Math.min(ZERO_CHUNK, to - position));
            position += channel.write(zeros, position);
        }
    }

    private void queueAhead(long last) throws IOException {
        long fileSize = channel.size();
        lock.lock();
        try {
            boolean added = false;
            for (long g = last + 1; g <= last + ahead && (g << granuleShift) < fileSize; g++) {
                if (prepared.get(g) < Math.min(granule, fileSize - (g << granuleShift)) && !filling.contains(g)
                        && queued.add(g)) {
                    queue.addLong(g);
                    added = true;
                }
            }
            if (added) {
                changed.signalAll();
            }
        } finally {
            lock.unlock();
        }
    }

    /** The background thread: fills queued granules until closed. */
    private void runAhead() {
        for (;;) {
            long g;
            long from;
            lock.lock();
            try {
                while (queue.isEmpty() && !closed) {
                    changed.awaitUninterruptibly();
                }
                if (closed) {
                    return;
                }
                g = queue.pollLong();
                queued.remove(g);
                if (!filling.add(g)) {
                    continue; // a fault got there first
                }
                from = prepared.get(g);
            } finally {
                lock.unlock();
            }
            try {
                fill(g, from, true);
            } catch (IOException | RuntimeException e) {
                // Expected on a full disk: the fault that needs this granule reports it.
            }
        }
    }

    @Override
    public long preparedBytes() {
        return preparedBytes.get();
    }

    @Override
    public long aheadBytes() {
        return aheadBytes.get();
    }

    @Override
    public long aheadWaits() {
        return aheadWaits.get();
    }

    @Override
    public String describe() {
        return "zero-fill in " + Fmt.bytes(granule) + " granules"
                + (ahead > 0 ? ", " + ahead + " prepared ahead" : "");
    }

    @Override
    public void close() throws IOException {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        if (aheadThread != null) {
            boolean interrupted = false;
            for (;;) {
                try {
                    aheadThread.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
        channel.close();
    }

    @Override
    public String toString() {
        return "ZeroFillSpace[" + file + ", " + describe() + "]";
    }

    /** The page's share of its granule: real, allocated storage; nothing to give back. */
    private record Prepared(long bytes) implements Reservation {
    }
}
