package dev.mkwrite.benchmarks;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.WriteSpan;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;

/**
 * Row 1b: an appender that keeps one {@link WriteSpan} open over a chunk and writes {@value #RECORD}-byte
 * records into it back to back; at the chunk's end it closes the span and opens one over the next chunk.
 * One benchmark operation is one record. The appender keeps a cursor within the open span, as the README's
 * appender does (its offset loop), and writes each record at the cursor. The baseline writes the same
 * records at the same offsets through a second, raw mapping of the same file: a raw {@code MemorySegment},
 * and a raw {@code MappedByteBuffer} for the buffer backing.
 *
 * <p>The chunk is one page (4 KiB) or 64 KiB (sixteen 4 KiB region pages under one span). Every page of
 * the region is written once in setup and the region is never flushed, so no measured write faults
 * (teardown checks it). The appender walks a {@value #WINDOW}-byte window and wraps, as row 1 does, so
 * mkwrite and raw write the same cache-warm memory. On the segment backing a record is
 * {@code MemorySegment.copy} from a native source into the span's segment (obtained once per span); on
 * the buffer backing it is {@code ByteBuffer.put(index, byte[], 0, 64)} into the span's buffer (obtained
 * once per span): {@code appendSegment} and {@code appendBuffer}, one method each so neither branches on
 * the backing. The span is closed at the end of each iteration, on the benchmark thread that opened it.
 *
 * <p>Two shapes. The {@code ...Loop} methods are the README's appender itself: one call writes a batch of
 * {@value #BATCH} records (4 KiB) in a loop over the open span, opening the next span first when the open
 * one is full, and JMH divides by the batch; their raw baselines run the same loop over the raw mapping.
 * They are the row's measure. The methods without the suffix write one record per call, so JMH's call and
 * the appender's cursor check and store surround every record, on mkwrite's side only: kept to compare
 * with the runs before the loop shape was added. Target: at least 0.95x raw speed.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 3, jvmArgsAppend = {"-Xmx1g"})
public class AppendBenchmark {

    static final int RECORD = 64;
    /** Records per call of the loop shape: 4 KiB, so every chunk holds whole batches. */
    static final int BATCH = 64;
    private static final long WINDOW = 1 << 20;

    /** The span's length: one page, or sixteen. */
    @Param({"4096", "65536"})
    int chunk;

    @Param({"MEMORY_SEGMENT", "MAPPED_BYTE_BUFFER"})
    Backing backing;

    private Path dir;
    private MappedRegion region;
    private FileChannel rawChannel;
    private Arena rawArena;
    private MemorySegment rawSegment;
    private MappedByteBuffer rawBuffer;
    private byte[] src;
    private MemorySegment srcSegment;

    /** The raw baselines' next record's file offset, in {@code [0, WINDOW)}. */
    private long position;
    /** The open span, or null before the first record of an iteration. */
    private WriteSpan span;
    /** Where the open span starts in the window, and its memory (obtained once per span). */
    private long spanStart;
    private MemorySegment spanSegment;
    private ByteBuffer spanBuffer;
    /** The appender's cursor: the next record's offset within the open span; {@link #chunk} when it is full. */
    private int at;

    /** Faults once every page was written in setup (fault-around may have taken several per fault). */
    private long faultsAfterSetup;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        if (WINDOW % chunk != 0 || chunk % RECORD != 0) {
            throw new IllegalStateException("chunk " + chunk + " must divide the window and hold whole records");
        }
        dir = Files.createTempDirectory("mkwrite-bench");
        Path file = dir.resolve("append.dat");
        region = MappedRegion.builder(file).size(WINDOW).backing(backing).handler(WriteFaultHandler.none()).open();
        for (long o = 0; o < region.size(); o += region.pageSize()) {
            region.putByte(o, (byte) 1); // every page WRITABLE: no write below faults
        }
        rawChannel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
        rawArena = Arena.ofShared();
        rawSegment = rawChannel.map(FileChannel.MapMode.READ_WRITE, 0, region.size(), rawArena);
        rawBuffer = rawChannel.map(FileChannel.MapMode.READ_WRITE, 0, region.size());
        src = new byte[RECORD];
        for (int i = 0; i < RECORD; i++) {
            src[i] = (byte) i;
        }
        srcSegment = Arena.ofAuto().allocate(RECORD);
        srcSegment.copyFrom(MemorySegment.ofArray(src));
        faultsAfterSetup = region.stats().faults(); // every page written once: none may fault from here
        at = chunk; // no span open yet: the first record opens one at 0
    }

    @TearDown(Level.Iteration)
    public void closeSpan() {
        if (span != null) {
            span.close(); // the thread that opened it: JMH runs iteration fixtures on the benchmark thread
            span = null;
        }
        at = chunk; // the next iteration starts at 0 again, as the raw baselines' position does
        position = 0;
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        if (region.stats().faults() != faultsAfterSetup) {
            throw new IllegalStateException("the appender faulted: " + region.stats() + ", " + faultsAfterSetup
                    + " faults after setup");
        }
        if (region.stats().pins() != 0) {
            throw new IllegalStateException("a span was left open: " + region.stats());
        }
        region.close();
        rawArena.close();
        rawChannel.close();
        try (var files = Files.list(dir)) {
            for (Path p : files.toList()) {
                Files.delete(p);
            }
        }
        Files.delete(dir);
    }

    /**
     * Closes the full span and opens one over the next chunk of the window (the first at 0), taking the view
     * the appender writes through once per span: the segment, or the buffer. The cursor goes back to 0.
     */
    private void nextSpan(boolean buffer) {
        long start = 0;
        if (span != null) {
            span.close();
            start = (spanStart + chunk) & (WINDOW - 1); // the window's end is a chunk boundary
        }
        span = region.write(start, chunk);
        spanStart = start;
        at = 0;
        if (buffer) {
            spanBuffer = span.buffer();
        } else {
            spanSegment = span.segment();
        }
    }

    /** The raw baselines' next record's offset; wraps at the window's end. */
    private long next() {
        long o = position;
        position = (o + RECORD) & (WINDOW - 1);
        return o;
    }

    /**
     * mkwrite through the span's segment (run on the segment backing): one record at the cursor, after
     * opening the next span if the open one is full (or none is open), as the README's appender does.
     */
    @Benchmark
    public void appendSegment() {
        if (at == chunk) {
            nextSpan(false);
        }
        MemorySegment.copy(srcSegment, 0, spanSegment, at, RECORD);
        at += RECORD;
    }

    /** mkwrite through the span's buffer (run on the buffer backing): as {@link #appendSegment}. */
    @Benchmark
    public void appendBuffer() {
        if (at == chunk) {
            nextSpan(true);
        }
        spanBuffer.put(at, src, 0, RECORD);
        at += RECORD;
    }

    /** The same record through a raw segment over the same file. */
    @Benchmark
    public void rawSegment() {
        MemorySegment.copy(srcSegment, 0, rawSegment, next(), RECORD);
    }

    /** The same record through a raw MappedByteBuffer over the same file. */
    @Benchmark
    public void rawBuffer() {
        rawBuffer.put((int) next(), src, 0, RECORD);
    }

    /**
     * The README's appender: {@value #BATCH} records written in a loop through the open span's segment, after
     * opening the next span if the open one is full (or none is open).
     */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void appendSegmentLoop() {
        if (at == chunk) {
            nextSpan(false);
        }
        MemorySegment memory = spanSegment;
        long base = at;
        for (int i = 0; i < BATCH; i++) {
            MemorySegment.copy(srcSegment, 0, memory, base + (long) i * RECORD, RECORD);
        }
        at += BATCH * RECORD;
    }

    /** As {@link #appendSegmentLoop}, through the open span's buffer (run on the buffer backing). */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void appendBufferLoop() {
        if (at == chunk) {
            nextSpan(true);
        }
        ByteBuffer memory = spanBuffer;
        int base = at;
        for (int i = 0; i < BATCH; i++) {
            memory.put(base + i * RECORD, src, 0, RECORD);
        }
        at += BATCH * RECORD;
    }

    /** The same loop of records through a raw segment over the same file. */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void rawSegmentLoop() {
        long base = position;
        position = (base + BATCH * RECORD) & (WINDOW - 1);
        for (int i = 0; i < BATCH; i++) {
            MemorySegment.copy(srcSegment, 0, rawSegment, base + (long) i * RECORD, RECORD);
        }
    }

    /** The same loop of records through a raw MappedByteBuffer over the same file. */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void rawBufferLoop() {
        int base = (int) position;
        position = (base + BATCH * RECORD) & (WINDOW - 1);
        for (int i = 0; i < BATCH; i++) {
            rawBuffer.put(base + i * RECORD, src, 0, RECORD);
        }
    }
}
