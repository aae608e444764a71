package dev.mkwrite.impl.storage;

import dev.mkwrite.FaultResult;
import dev.mkwrite.WriteFault;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.impl.os.LazyLogger;
import org.agrona.concurrent.Agent;
import org.agrona.concurrent.AgentRunner;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.IdleStrategy;
import org.jctools.queues.atomic.MpscAtomicArrayQueue;

import java.io.Closeable;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;

/**
 * Readahead, applied to writes: a background agent allocates the next granules of a sequentially written
 * file before the writer reaches them, so the writer's fault finds its page allocated and returns without
 * a system call.
 *
 * <p>It wraps a {@link StorageHandler} whose allocation is {@link StorageHandler.Allocation#FALLOCATE}
 * (with any other, or without native access, it is inactive and says so once in the log).
 * Each fault is prepared by that handler, synchronously, exactly as without prepare-ahead; then, if the
 * fault continues a sequential pattern (its granule is the last one faulted, the next, or one inside the
 * window already planned), the next {@code granulesAhead} granules are queued for the agent. The agent
 * runs {@code fallocate(FALLOC_FL_KEEP_SIZE)} on the file, not on the mapping, so it needs no region lock;
 * {@code KEEP_SIZE} guarantees it never changes the file's size, even when a truncate races it, and work
 * planned before a grow or truncate is discarded (the region's new mapping starts a new period).
 *
 * <h2>Errors</h2>
 * Never inside the agent: a granule it cannot allocate (no space, or any other failure) is simply left
 * undone, and the fault for that page redoes the work synchronously and throws
 * {@link dev.mkwrite.NoSpaceException} (or {@link dev.mkwrite.impl.os.ErrnoException}) at the write that needs it. The queue is
 * bounded; when it is full, planning is dropped and faults allocate for themselves.
 *
 * <h2>Zero-fill</h2>
 * Zero-fill writes to the file, which without the region lock could re-extend a file that a truncate has
 * just shortened. So when the wrapped handler zero-fills (no native access, or a filesystem without
 * {@code fallocate}), nothing is prepared ahead: faults prepare their own granules, as without this
 * wrapper.
 *
 * <h2>Lifetime and threads</h2>
 * Thread-safe; one instance may serve many regions. {@link #close()} stops the agent and waits for it;
 * afterwards faults are still served, synchronously, by the wrapped handler. Close this before the wrapped
 * handler. The agent's thread is a daemon named {@code mkwrite-prepare-ahead}.
 *
 * <pre>{@code
 * try (StorageHandler storage = StorageHandlers.fallocate(1 << 20);
 *      PrepareAhead ahead = StorageHandlers.prepareAhead(storage, 8);   // keep 8 MiB allocated ahead
 *      MappedRegion wal = MappedRegion.builder(path).size(1L << 30).handler(ahead).open()) {
 *     ...
 * }
 * }</pre>
 */
public final class PrepareAhead implements WriteFaultHandler, Closeable {

    private static final LazyLogger LOG = new LazyLogger(PrepareAhead.class);
    private static final AtomicInteger THREADS = new AtomicInteger();

    /** The queue's capacity in batches; one batch per fault that extends the window. */
    static final int QUEUE_CAPACITY = 1024;

    private final StorageHandler handler;
    private final int granulesAhead;
    private final int granuleShift;
    private final MpscAtomicArrayQueue<Batch> queue = new MpscAtomicArrayQueue<>(QUEUE_CAPACITY);
    /** The agent and its thread; null when the handler cannot prepare ahead (it zero-fills). */
    private final AgentRunner runner;
    private final Thread thread;
    /** Set by the agent before it idles, cleared when it finds work; producers unpark it when set. */
    private volatile boolean idle;
    private volatile boolean closed;

    private final LongAdder planned = new LongAdder();
    private final LongAdder dropped = new LongAdder();

    PrepareAhead(StorageHandler handler, int granulesAhead, IdleStrategy idleStrategy) {
        this.handler = Objects.requireNonNull(handler, "handler");
        Objects.requireNonNull(idleStrategy, "idleStrategy");
        if (granulesAhead < 1) {
            throw new IllegalArgumentException("granulesAhead must be at least 1, was " + granulesAhead);
        }
        this.granulesAhead = granulesAhead;
        this.granuleShift = Integer.numberOfTrailingZeros(handler.granule());
        if (handler.effectiveAllocation() != StorageHandler.Allocation.FALLOCATE) {
            LOG.get().info("mkwrite prepare-ahead is inactive: {} does not use fallocate(2), and zero-fill cannot run"
                    + " without the region lock; faults prepare their own granules", handler);
            this.runner = null;
            this.thread = null;
            return;
        }
        this.runner = new AgentRunner(idleStrategy, this::onAgentError, null, new Worker());
        this.thread = AgentRunner.startOnThread(runner, r -> {
            Thread t = new Thread(r, "mkwrite-prepare-ahead-" + THREADS.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    /** For tests: the agent's thread, or null if it has none. */
    Thread threadForTests() {
        return thread;
    }

    /** The default idle strategy: a few spins and yields, then parks of up to 10 ms, woken by producers. */
    static IdleStrategy defaultIdleStrategy() {
        return new BackoffIdleStrategy(10, 10, TimeUnit.MICROSECONDS.toNanos(1), TimeUnit.MILLISECONDS.toNanos(10));
    }

    /**
     * The wrapped handler.
     *
     * @return the handler that prepares each fault and allocates ahead
     */
    public StorageHandler handler() {
        return handler;
    }

    /**
     * How many granules are kept prepared ahead of a sequential writer.
     *
     * @return the window in granules
     */
    public int granulesAhead() {
        return granulesAhead;
    }

    /**
     * Prepares the fault's page with the wrapped handler, then plans the granules ahead of it.
     *
     * @throws dev.mkwrite.NoSpaceException if the page cannot be allocated
     * @throws dev.mkwrite.impl.os.ErrnoException               if a system call failed otherwise
     */
    @Override
    public FaultResult prepare(WriteFault fault) throws IOException, InterruptedException {
        FaultResult result = handler.prepare(fault);
        if (thread != null && !closed && result != FaultResult.RETRY) {
            plan(fault);
        }
        return result;
    }

    @Override
    public void beforeWriteback(long page, MemorySegment contents) {
        handler.beforeWriteback(page, contents);
    }

    /** Extends the file's window if this fault continues a sequential pattern. On the faulting thread. */
    private void plan(WriteFault fault) {
        FileSpace file = handler.file(fault.path());
        if (handler.effectiveAllocation(fault.path()) != StorageHandler.Allocation.FALLOCATE) {
            return;
        }
        long granule = fault.offset() >>> granuleShift;
        long from;
        long to;
        synchronized (file.ahead) {
            long last = file.aheadLastGranule;
            boolean sequential = granule == last || granule == last + 1 || (granule > last && granule < file.aheadNext);
            file.aheadLastGranule = granule;
            if (!sequential) {
                return;
            }
            from = Math.max(file.aheadNext, granule + 1);
            to = granule + 1 + granulesAhead;
            if (from >= to) {
                return;
            }
            file.aheadNext = to;
        }
        if (queue.offer(new Batch(file, from, to, file.stamp(), fault.generation()))) {
            planned.add(to - from);
            if (idle) {
                LockSupport.unpark(thread);
            }
        } else {
            dropped.add(to - from);
            synchronized (file.ahead) {
                if (file.aheadNext == to) {
                    file.aheadNext = from; // let a later fault plan them again
                }
            }
        }
    }

    /** Stable pages if the wrapped handler needs them. */
    @Override
    public boolean needsStablePages() {
        return handler.needsStablePages();
    }

    /** Overwrites prepared again if the wrapped handler asks for it. */
    @Override
    public boolean preparesOverwrites(Path path) {
        return handler.preparesOverwrites(path);
    }

    /**
     * The region over {@code path} was closed: passes it on to the wrapped handler
     * ({@link StorageHandler#regionClosed(Path)}). Batches still queued for the file do nothing.
     *
     * @param path the file of the region that closed
     */
    @Override
    public void regionClosed(Path path) {
        handler.regionClosed(path);
    }

    /**
     * Granules planned ahead so far (queued for the agent).
     *
     * @return the number of granules
     */
    public long plannedGranules() {
        return planned.sum();
    }

    /**
     * Granules dropped because the queue was full.
     *
     * @return the number of granules
     */
    public long droppedGranules() {
        return dropped.sum();
    }

    /**
     * Whether the agent thread is running: false once {@link #close()} returned.
     *
     * @return true while the agent runs
     */
    public boolean isRunning() {
        return thread != null && thread.isAlive();
    }

    /**
     * Stops the agent and waits until its thread has ended; the batch it works on is finished, queued
     * batches are dropped. Idempotent. Does not close the wrapped handler.
     */
    @Override
    public void close() {
        closed = true;
        if (runner != null) {
            runner.close(); // stops the duty cycle and waits for the agent's onClose
            boolean interrupted = false;
            while (thread.isAlive()) { // and then for the thread itself to end
                try {
                    thread.join();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
        queue.clear();
    }

    private void onAgentError(Throwable t) {
        LOG.get().error("mkwrite prepare-ahead agent failed; faults prepare their own pages", t);
    }

    @Override
    public String toString() {
        return "PrepareAhead[" + granulesAhead + " granules ahead, " + handler + (closed ? ", closed" : "") + "]";
    }

    /** Granules {@code [from, to)} of one file, planned in mapping period {@code stamp}. */
    private record Batch(FileSpace file, long from, long to, int stamp, long generation) {
    }

    /** The agent: drains the queue, allocating each batch. Runs on the agent thread only. */
    private final class Worker implements Agent {
        @Override
        public int doWork() {
            int work = 0;
            Batch batch;
            while (work < 16 && (batch = queue.relaxedPoll()) != null) {
                idle = false;
                try {
                    handler.allocateAhead(batch.file, batch.from, batch.to, batch.stamp, batch.generation);
                } catch (RuntimeException e) {
                    LOG.get().debug("prepare-ahead batch failed; its faults will prepare it", e);
                }
                work++;
            }
            if (work == 0) {
                idle = true; // volatile: a producer that queues after this unparks us
                if (!queue.isEmpty()) {
                    idle = false;
                    return 1;
                }
            }
            return work;
        }

        @Override
        public String roleName() {
            return "mkwrite-prepare-ahead";
        }
    }
}
