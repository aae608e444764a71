package dev.mkwrite.benchmarks;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.WriteFaultHandler;
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
 * Row 6: reads through the region against raw reads through a second mapping of the same file. Two
 * patterns: {@code RANDOM_64}, 64-byte reads at random 64-byte-aligned offsets (an index or record
 * lookup), and {@code SEQUENTIAL_4K}, 4 KiB reads front to back (a scan), each over a {@value #WINDOW}-byte
 * window that was written whole in setup, so every read hits cache-warm page-cache memory on both sides.
 * The offsets come from the same generator on both sides.
 *
 * <p>mkwrite reads with {@link MappedRegion#get(long, byte[], int, int)} into a heap array ({@code get})
 * and {@link MappedRegion#get(long, MemorySegment)} into a native segment ({@code getSegment}). The raw
 * baselines copy the same bytes into the same destinations: {@code rawSegment} ({@code MemorySegment.copy}
 * from a raw segment into the array), {@code rawSegmentToSegment} (into the native segment), and
 * {@code rawBuffer} ({@code MappedByteBuffer.get(index, byte[], 0, n)}). Target: at least 0.9x raw speed.
 *
 * <p>Compare a variant only with a baseline run on the same backing. The raw methods read the same mapping
 * on either, but the set-up allocates differently on each, so the heap array most likely lands elsewhere,
 * and a 4 KiB copy from a page-aligned source runs slower when the array's address shares its low 12 bits
 * (4K aliasing). The same raw copy into the array measured 72-75 ns on one backing and 113-129 ns on the other,
 * and mkwrite's read moved with it; into the native segment, whose alignment is fixed, both backings
 * measured 71 ns.
 *
 * <p>Region reads take no lock: they read the mapping's memory directly, checked against the region's
 * size, and retry under the lock only when a resize or close raced them.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 3, jvmArgsAppend = {"-Xmx1g"})
public class ReadBenchmark {

    private static final long WINDOW = 1 << 20;

    /** How the reads walk the file. */
    public enum Pattern {
        /** 64 bytes at a random 64-byte-aligned offset. */
        RANDOM_64(64),
        /** 4 KiB at the next 4 KiB of the window. */
        SEQUENTIAL_4K(4096);

        final int size;

        Pattern(int size) {
            this.size = size;
        }
    }

    @Param({"RANDOM_64", "SEQUENTIAL_4K"})
    Pattern pattern;

    @Param({"MEMORY_SEGMENT", "MAPPED_BYTE_BUFFER"})
    Backing backing;

    private Path dir;
    private MappedRegion region;
    private FileChannel rawChannel;
    private Arena rawArena;
    private MemorySegment rawSegment;
    private MappedByteBuffer rawBuffer;
    private int size;
    private boolean random;
    private byte[] dst;
    private MemorySegment dstSegment;
    private long offset;
    private long seed = 0x9E3779B97F4A7C15L;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        dir = Files.createTempDirectory("mkwrite-bench");
        Path file = dir.resolve("read.dat");
        region = MappedRegion.builder(file).size(WINDOW).backing(backing).handler(WriteFaultHandler.none()).open();
        byte[] page = new byte[region.pageSize()];
        for (int i = 0; i < page.length; i++) {
            page[i] = (byte) (i * 31);
        }
        for (long o = 0; o < region.size(); o += page.length) {
            region.put(o, page); // every byte written: no read meets a hole
        }
        rawChannel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
        rawArena = Arena.ofShared();
        rawSegment = rawChannel.map(FileChannel.MapMode.READ_WRITE, 0, region.size(), rawArena);
        rawBuffer = rawChannel.map(FileChannel.MapMode.READ_WRITE, 0, region.size());
        size = pattern.size;
        random = pattern == Pattern.RANDOM_64;
        dst = new byte[size];
        dstSegment = Arena.ofAuto().allocate(size, 64);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        region.truncate(0); // drops the dirty pages: no writeback
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

    /** The next offset: xorshift64 for the random pattern, the next 4 KiB for the sequential one. */
    private long next() {
        if (random) {
            long x = seed;
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            seed = x;
            return x & (WINDOW - 1) & ~63L;
        }
        long o = offset;
        offset = (o + size) & (WINDOW - 1);
        return o;
    }

    /** mkwrite: into a heap array. */
    @Benchmark
    public byte get() {
        region.get(next(), dst, 0, size);
        return dst[0];
    }

    /** mkwrite: into a native segment. */
    @Benchmark
    public byte getSegment() {
        region.get(next(), dstSegment);
        return dstSegment.get(ValueLayout.JAVA_BYTE, 0);
    }

    /** Raw: a segment over the same file, into the heap array. */
    @Benchmark
    public byte rawSegment() {
        MemorySegment.copy(rawSegment, ValueLayout.JAVA_BYTE, next(), dst, 0, size);
        return dst[0];
    }

    /** Raw: a segment over the same file, into the native segment. */
    @Benchmark
    public byte rawSegmentToSegment() {
        MemorySegment.copy(rawSegment, next(), dstSegment, 0, size);
        return dstSegment.get(ValueLayout.JAVA_BYTE, 0);
    }

    /** Raw: a MappedByteBuffer over the same file, into the heap array. */
    @Benchmark
    public byte rawBuffer() {
        rawBuffer.get((int) next(), dst, 0, size);
        return dst[0];
    }
}
