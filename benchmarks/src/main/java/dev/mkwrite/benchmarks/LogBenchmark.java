package dev.mkwrite.benchmarks;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.RegionStats;
import dev.mkwrite.RegionWriter;
import dev.mkwrite.WriteSpan;
import dev.mkwrite.impl.storage.StorageHandler;
import dev.mkwrite.impl.storage.StorageHandlers;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import static java.nio.file.StandardOpenOption.CREATE_NEW;
import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.WRITE;

/**
 * Row 4: the log workload end to end. Appenders reserve {@value LogRecord#SIZE}-byte records with an atomic
 * add on a shared tail, encode them (length and CRC32C header, {@link LogRecord}) and write them; a flusher
 * thread makes a group flush every {@value #FLUSH_MILLIS} ms of everything reserved so far. The sinks,
 * with the same records and the same flush policy:
 * <ul>
 *   <li>{@code MKWRITE}: a {@link MappedRegion} over a fresh sparse file with
 *   {@link StorageHandlers#fallocate(int) fallocate} in 1 MiB granules (the protection a log wants);
 *   one {@link MappedRegion#put(long, MemorySegment)} per record; group flush is
 *   {@link MappedRegion#flush(long, long)} of the new range.</li>
 *   <li>{@code MKWRITE_AHEAD}: the same with {@code RegionBuilder.prepareAhead(1 MiB)}, the configuration the
 *   README recommends for a sequential writer: a background thread prepares and populates the pages ahead
 *   of the tail.</li>
 *   <li>{@code MKWRITE_AROUND}: {@code MKWRITE} with {@code StorageHandler.faultAround(true)}: a fault also
 *   prepares the following pages its granule covers (up to 16), left clean until a record enters them.</li>
 *   <li>{@code MKWRITE_SPAN}: {@code MKWRITE} written the README's way (the appender pattern of row 1b): each
 *   appender holds a {@link WriteSpan} over the page its record falls in, copies its records into the span's
 *   segment, and closes the span when a record ends the page (or the next record lands elsewhere, as the
 *   other thread's tail moves it on). The pin, its checks and its unpin are paid once a page, not once a
 *   record. The fallocate handler asks for no stable pages, so a group flush does not wait for the spans:
 *   it forces a page under a span as it is and leaves it dirty for the next flush. The truncate in the
 *   iteration's tear-down does wait for them, so every appender closes its span first. The examples' {@code PageAppender} is the same loop,
 *   tested beside a flushing thread; it is written out here so that the row measures no more than the loop
 *   (every record here ends within its page).</li>
 *   <li>{@code MKWRITE_WRITER}: {@code MKWRITE} with each appender writing its records through a
 *   {@link RegionWriter} of its own, made on its thread for the iteration's region.</li>
 *   <li>{@code FILE_CHANNEL}: positional {@link FileChannel#write(ByteBuffer, long)} of each record into a
 *   fresh file; group flush is {@code force(false)}.</li>
 *   <li>{@code RAW_FALLOCATED}: a raw {@code MemorySegment} mapping of a fresh file preallocated whole with
 *   {@code fallocate(2)}; group flush is {@code force()} of the new range. The same storage preparation
 *   as {@code MKWRITE}'s, done up front, without the protocol: the baseline of the target.</li>
 *   <li>{@code RAW_ZEROED}: the same over a file written full of zeros and forced before the trial, the
 *   way to preallocate without native calls. Its pages sit in the page cache from the start, in small
 *   folios, so every page write-protected by a group flush costs its own kernel fault on the next lap
 *   (a fresh file's pages are read into large folios that fault once for several pages).</li>
 * </ul>
 * The file is {@value #CAPACITY} bytes; the log wraps around it if an iteration writes more, so disk use
 * stays bounded. Throughput is records per second, summed over the appending threads. Ratios:
 * {@code MKWRITE} / {@code FILE_CHANNEL} (target at least 10 with 1 thread, 5 with 2) and {@code MKWRITE} /
 * {@code RAW_FALLOCATED} (target at least 0.8), each for 1 and 2 threads; {@code RAW_ZEROED} is shown beside
 * them.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 4, time = 2)
@Fork(value = 3, jvmArgsAppend = {"-Xmx1g", "--enable-native-access=ALL-UNNAMED"})
public class LogBenchmark {

    static final long CAPACITY = 256L << 20;
    static final int FLUSH_MILLIS = 10;
    private static final int GRANULE = 1 << 20;
    /** An appender's span under {@code MKWRITE_SPAN}: one page, as the examples' {@code PageAppender} holds. */
    private static final int SPAN = 4096;

    /** Where the records go. */
    public enum Sink {
        /** An mkwrite region with the fallocate handler. */
        MKWRITE,
        /** The same, with prepare-ahead of one granule. */
        MKWRITE_AHEAD,
        /** {@code MKWRITE} with write fault-around. */
        MKWRITE_AROUND,
        /** {@code MKWRITE}, each appender writing through a span it holds over its current page. */
        MKWRITE_SPAN,
        /** {@code MKWRITE}, each appender writing through a {@link RegionWriter} of its own. */
        MKWRITE_WRITER,
        /** Positional FileChannel writes. */
        FILE_CHANNEL,
        /** A raw mapping of a fresh file preallocated with fallocate. */
        RAW_FALLOCATED,
        /** A raw mapping of a file written full of zeros before the trial. */
        RAW_ZEROED;

        /** Whether the records go into an mkwrite region: every {@code MKWRITE} sink, so that a new one is too. */
        boolean mkwrite() {
            return name().startsWith("MKWRITE");
        }
    }

    @Param({"MKWRITE", "MKWRITE_AHEAD", "MKWRITE_AROUND", "MKWRITE_SPAN", "MKWRITE_WRITER", "FILE_CHANNEL", "RAW_FALLOCATED", "RAW_ZEROED"})
    Sink sink;

    private Path dir;
    private Path file;
    private int round;
    private final AtomicLong tail = new AtomicLong();

    private StorageHandler storage;
    private MappedRegion region;
    private FileChannel channel;
    private Arena rawArena;
    private MemorySegment raw;

    private volatile boolean flushing;
    private Thread flusher;
    private volatile Throwable flushFailure;
    private long flushes;
    private long flushNanos;
    private long maxFlushNanos;

    @Setup(Level.Trial)
    public void setUpTrial() throws IOException {
        if ((mkwrite() || sink == Sink.RAW_FALLOCATED) && !StorageHandlers.nativeAccessAvailable()) {
            throw new IllegalStateException(sink + " needs native access for fallocate: run with "
                    + StorageHandlers.nativeAccessFlag());
        }
        dir = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")), "mkwrite-log");
        if (sink == Sink.RAW_ZEROED) {
            file = dir.resolve("zeroed.log");
            channel = FileChannel.open(file, CREATE_NEW, READ, WRITE);
            ByteBuffer zeros = ByteBuffer.allocateDirect(1 << 20);
            for (long o = 0; o < CAPACITY; o += zeros.capacity()) {
                zeros.clear();
                while (zeros.hasRemaining()) {
                    channel.write(zeros, o + zeros.position());
                }
            }
            channel.force(true);
            rawArena = Arena.ofShared();
            raw = channel.map(FileChannel.MapMode.READ_WRITE, 0, CAPACITY, rawArena);
        }
    }

    @Setup(Level.Iteration)
    public void setUpIteration() throws IOException {
        tail.set(0);
        switch (sink) {
            case MKWRITE, MKWRITE_AHEAD, MKWRITE_AROUND, MKWRITE_SPAN, MKWRITE_WRITER -> {
                file = dir.resolve("mkwrite-" + round++ + ".log");
                storage = StorageHandlers.fallocate(GRANULE).faultAround(sink == Sink.MKWRITE_AROUND);
                region = MappedRegion.builder(file).size(CAPACITY).backing(Backing.MEMORY_SEGMENT).handler(storage)
                        .prepareAhead(sink == Sink.MKWRITE_AHEAD ? GRANULE : 0).open();
            }
            case FILE_CHANNEL -> {
                file = dir.resolve("channel-" + round++ + ".log");
                channel = FileChannel.open(file, CREATE_NEW, READ, WRITE);
            }
            case RAW_FALLOCATED -> {
                file = dir.resolve("fallocated-" + round++ + ".log");
                channel = FileChannel.open(file, CREATE_NEW, READ, WRITE);
                Fallocate.allocate(file, CAPACITY);
                rawArena = Arena.ofShared();
                raw = channel.map(FileChannel.MapMode.READ_WRITE, 0, CAPACITY, rawArena);
            }
            case RAW_ZEROED -> {
                // the trial's file, already written; records overwrite the last iteration's
            }
        }
        flushing = true;
        flushFailure = null;
        flusher = Thread.ofPlatform().name("group-flush").daemon().start(this::runFlusher);
    }

    /** Group flush: every {@value #FLUSH_MILLIS} ms, of everything reserved since the last one. */
    private void runFlusher() {
        long flushed = 0;
        try {
            while (flushing) {
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(FLUSH_MILLIS));
                long end = tail.get();
                if (end > flushed) {
                    long begin = System.nanoTime();
                    flush(flushed, end);
                    long took = System.nanoTime() - begin;
                    flushNanos += took;
                    maxFlushNanos = Math.max(maxFlushNanos, took);
                    flushed = end;
                    flushes++;
                }
            }
        } catch (IOException | RuntimeException e) {
            flushFailure = e;
        }
    }

    /** Forces log positions {@code [from, to)}: one or two file ranges, or the whole file. */
    private void flush(long from, long to) throws IOException {
        if (sink == Sink.FILE_CHANNEL) {
            channel.force(false);
            return;
        }
        if (to - from >= CAPACITY) {
            forceRange(0, CAPACITY);
            return;
        }
        long a = from & (CAPACITY - 1);
        long b = to & (CAPACITY - 1);
        if (a < b) {
            forceRange(a, b - a);
        } else {
            forceRange(a, CAPACITY - a);
            if (b > 0) {
                forceRange(0, b);
            }
        }
    }

    private void forceRange(long offset, long length) throws IOException {
        if (mkwrite()) {
            region.flush(offset, length);
        } else {
            raw.asSlice(offset, length).force();
        }
    }

    private boolean mkwrite() {
        return sink.mkwrite();
    }

    /** One appending thread's record buffer, and under {@code MKWRITE_SPAN} its span and where it starts. */
    @State(Scope.Thread)
    public static class Appender {
        final LogRecord record = new LogRecord();
        WriteSpan span;
        MemorySegment memory;
        long spanOffset;
        /** Under {@code MKWRITE_WRITER}: this appender's writer, made on its thread for the iteration's region. */
        RegionWriter writer;

        RegionWriter writer(MappedRegion region) {
            RegionWriter w = writer;
            if (w == null || w.region() != region) {
                if (w != null) {
                    w.close();
                }
                w = writer = region.writer();
            }
            return w;
        }

        /** Closes the span held, if any, and opens one over the page at {@code offset}. */
        void open(MappedRegion region, long offset) {
            closeSpan();
            span = region.write(offset, SPAN);
            memory = span.segment();
            spanOffset = offset;
        }

        /**
         * Closes the span held, if any. JMH calls it on the appender's own thread before the benchmark's
         * tear-down, whose truncate would otherwise wait for the pin.
         */
        @TearDown(Level.Iteration)
        public void closeSpan() {
            if (writer != null) {
                writer.close();
                writer = null;
            }
            if (span != null) {
                span.close();
                span = null;
                memory = null;
            }
        }
    }

    /** One thread appending. */
    @Benchmark
    @Threads(1)
    public void append1(Appender a) throws IOException {
        append(a);
    }

    /** Two threads appending to the same log. */
    @Benchmark
    @Threads(2)
    public void append2(Appender a) throws IOException {
        append(a);
    }

    private void append(Appender a) throws IOException {
        LogRecord record = a.record;
        long position = tail.getAndAdd(LogRecord.SIZE);
        long offset = position & (CAPACITY - 1);
        record.encode(position);
        switch (sink) {
            case MKWRITE, MKWRITE_AHEAD, MKWRITE_AROUND -> region.put(offset, record.segment());
            case MKWRITE_WRITER -> a.writer(region).put(offset, record.segment());
            case MKWRITE_SPAN -> {
                // a span held over another page (the log wrapped, or the other appender took the rest) is closed
                if (a.span == null || offset - a.spanOffset >= SPAN || offset < a.spanOffset) {
                    a.open(region, offset & -SPAN);
                }
                MemorySegment.copy(record.segment(), 0, a.memory, offset - a.spanOffset, LogRecord.SIZE);
                if (((offset + LogRecord.SIZE) & (SPAN - 1)) == 0) {
                    a.closeSpan();
                }
            }
            case FILE_CHANNEL -> {
                ByteBuffer buffer = record.buffer();
                while (buffer.hasRemaining()) {
                    channel.write(buffer, offset + buffer.position());
                }
            }
            case RAW_FALLOCATED, RAW_ZEROED -> MemorySegment.copy(record.segment(), 0, raw, offset, LogRecord.SIZE);
        }
    }

    @TearDown(Level.Iteration)
    public void tearDownIteration() throws IOException, InterruptedException {
        flushing = false;
        flusher.join();
        if (flushFailure != null) {
            throw new UncheckedIOException(new IOException("group flush failed", flushFailure));
        }
        if (flushes == 0) {
            throw new IllegalStateException("no group flush ran during the iteration");
        }
        String waits = "";
        if (mkwrite()) {
            RegionStats stats = region.stats();
            waits = String.format(Locale.ROOT, "; appenders waited for writeback %d times, %.0f ms in all",
                    stats.writebackWaits(), stats.writebackWaitNanos() / 1e6);
        }
        System.out.printf(Locale.ROOT, "  [%s: %,d records, %d group flushes, mean %.2f ms, max %.2f ms%s]%n", sink,
                tail.get() / LogRecord.SIZE, flushes, flushNanos / 1e6 / flushes, maxFlushNanos / 1e6, waits);
        flushes = 0;
        flushNanos = 0;
        maxFlushNanos = 0;
        switch (sink) {
            case MKWRITE, MKWRITE_AHEAD, MKWRITE_AROUND, MKWRITE_SPAN, MKWRITE_WRITER -> {
                region.truncate(0); // drops what is dirty: no writeback between iterations
                region.close();
                storage.close();
                Files.delete(file);
            }
            case FILE_CHANNEL -> {
                channel.truncate(0);
                channel.close();
                Files.delete(file);
            }
            case RAW_FALLOCATED -> {
                rawArena.close();
                channel.truncate(0);
                channel.close();
                Files.delete(file);
            }
            case RAW_ZEROED -> {
                // kept for the next iteration
            }
        }
    }

    @TearDown(Level.Trial)
    public void tearDownTrial() throws IOException {
        if (sink == Sink.RAW_ZEROED) {
            rawArena.close();
            channel.close();
            Files.delete(file);
        }
        Files.delete(dir);
    }
}
