package dev.mkwrite.benchmarks;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.RegionWriter;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.WriteSpan;
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
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;

/**
 * Row 1: writes into pages that are already WRITABLE, the fast path, against raw writes through a second
 * mapping of the same file: a raw {@code MemorySegment} and a raw {@code MappedByteBuffer}.
 *
 * <p>Every page of the region is written once in setup, and the region is never flushed, so no write
 * faults. Writes walk a 1 MiB window, so both sides write the same cache-warm memory. The target is at
 * least 0.9x raw at 4 KiB and 0.5x raw at 64 B. Each is compared like for like, from the same source: on
 * the segment backing {@code span} (from a native segment) with {@code rawSegment}, and {@code put} (from a
 * {@code byte[]}) with {@code rawSegmentArray}; on the buffer backing both with {@code rawBuffer} (the raw
 * {@code MappedByteBuffer}'s put of a {@code byte[]}). {@code writerPut} and {@code writerPutLong} make
 * {@code put}'s and {@code putLong}'s writes through a {@link RegionWriter} of the benchmark thread's own,
 * against the same baselines: every write but the first of each page takes the writer's fast path.
 *
 * <p>The native source sits at the same offset within its page in every fork. A 4 KiB copy whose source
 * shares its destination's low 12 bits (4K aliasing) runs slower, and an allocator's placement differs
 * from fork to fork, so the raw 4 KiB copy measured 69.6 to 86.3 ns across the forks of one run. A
 * {@code byte[]}'s address cannot be chosen, so {@code put} and {@code rawSegmentArray} keep that spread.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 3, jvmArgsAppend = {"-Xmx1g"})
public class FastPathBenchmark {

    private static final long WINDOW = 1 << 20;
    /** Where the native source starts within its page. */
    private static final long SRC_PAGE_OFFSET = 2048;

    @Param({"64", "512", "4096"})
    int size;

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
    private long offset;

    /** Faults once every page was written in setup (fault-around may have taken several per fault). */
    private long faultsAfterSetup;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        dir = Files.createTempDirectory("mkwrite-bench");
        Path file = dir.resolve("fastpath.dat");
        region = MappedRegion.builder(file).size(WINDOW + 8192).backing(backing).handler(WriteFaultHandler.none())
                .open();
        for (long o = 0; o < region.size(); o += region.pageSize()) {
            region.putByte(o, (byte) 1); // every page WRITABLE: no write below faults
        }
        rawChannel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
        rawArena = Arena.ofShared();
        rawSegment = rawChannel.map(FileChannel.MapMode.READ_WRITE, 0, region.size(), rawArena);
        rawBuffer = rawChannel.map(FileChannel.MapMode.READ_WRITE, 0, region.size());
        src = new byte[size];
        for (int i = 0; i < size; i++) {
            src[i] = (byte) i;
        }
        // At a fixed offset within its page in every fork: the destinations are size-aligned, and a source
        // whose address shares their low 12 bits (4K aliasing) copies slower, so a source placed by chance
        // would move either side between forks. Half a page: no 4 KiB copy's source aliases its destination.
        srcSegment = Arena.ofAuto().allocate(size + SRC_PAGE_OFFSET, 4096).asSlice(SRC_PAGE_OFFSET, size);
        srcSegment.copyFrom(MemorySegment.ofArray(src));
        faultsAfterSetup = region.stats().faults(); // every page written once: none may fault from here
        writer = region.writer(); // on the benchmark's one thread: JMH runs a trial's set-up there
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        if (region.stats().faults() != faultsAfterSetup) {
            throw new IllegalStateException("the fast path faulted: " + region.stats() + ", " + faultsAfterSetup
                    + " faults after setup");
        }
        writer.close();
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

    private RegionWriter writer;

    private long next() {
        long o = offset;
        offset = (o + size) & (WINDOW - 1);
        return o;
    }

    /** A span, filled through its segment: the zero-copy shape. */
    @Benchmark
    public void span() {
        try (WriteSpan span = region.write(next(), size)) {
            MemorySegment.copy(srcSegment, 0, span.segment(), 0, size);
        }
    }

    /** The convenience put of a byte array. */
    @Benchmark
    public void put() {
        region.put(next(), src, 0, size);
    }

    /** {@code put} through a {@link RegionWriter} of the thread's own. */
    @Benchmark
    public void writerPut() {
        writer.put(next(), src, 0, size);
    }

    /** {@code putLong} through a {@link RegionWriter} of the thread's own. */
    @Benchmark
    public void writerPutLong() {
        writer.putLong(next() & ~7L, 42L);
    }

    /** A raw segment over the same file. */
    @Benchmark
    public void rawSegment() {
        MemorySegment.copy(srcSegment, 0, rawSegment, next(), size);
    }

    /** A raw segment over the same file, filled from the byte array {@code put} copies: its baseline. */
    @Benchmark
    public void rawSegmentArray() {
        MemorySegment.copy(src, 0, rawSegment, ValueLayout.JAVA_BYTE, next(), size);
    }

    /** A raw MappedByteBuffer over the same file. */
    @Benchmark
    public void rawBuffer() {
        rawBuffer.put((int) next(), src, 0, size);
    }

    /** An eight-byte store: the smallest write. */
    @Benchmark
    public void putLong() {
        region.putLong(next() & ~7L, 42L);
    }

    /** The raw eight-byte store. */
    @Benchmark
    public void rawPutLong() {
        rawSegment.set(ValueLayout.JAVA_LONG_UNALIGNED, next() & ~7L, 42L);
    }
}
