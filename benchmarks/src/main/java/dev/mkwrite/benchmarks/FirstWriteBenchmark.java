package dev.mkwrite.benchmarks;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.RegionStats;
import dev.mkwrite.WriteFaultHandler;
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
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static java.nio.file.StandardOpenOption.CREATE_NEW;
import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.WRITE;

/**
 * Row 2: the first write into each page of a fresh sparse file, written sequentially 4 KiB at a time,
 * against the same writes through a raw mapping (the kernel's own page fault and {@code ->page_mkwrite}).
 *
 * <p>Each measured shot writes {@value #FILE_BYTES} bytes into a file created sparse just before it
 * ({@code Level.Iteration}); nothing of it was ever written, so every page faults in the kernel, and in
 * mkwrite every region page faults once as well. The variants:
 * <ul>
 *   <li>{@code RAW}: a raw {@code MemorySegment} mapping; the baseline.</li>
 *   <li>{@code NOOP}, {@code NOOP_64K}: mkwrite with {@link WriteFaultHandler#none()}, 4 KiB and 64 KiB
 *   region pages: the cost of the protocol itself.</li>
 *   <li>{@code POPULATE_64K}: {@link StorageHandlers#populate()} on 64 KiB region pages: one
 *   {@code madvise(MADV_POPULATE_WRITE)} runs the kernel's fault for 16 OS pages at once.</li>
 *   <li>{@code FALLOCATE_64K}: {@link StorageHandlers#fallocate(int)} with a 64 KiB granule on 4 KiB
 *   region pages: one {@code fallocate} per 16 faults, the kernel still faults every page.</li>
 *   <li>{@code PREPARE_AHEAD}: the same handler, and the region's prepare-ahead ({@code
 *   RegionBuilder.prepareAhead}, 1 MiB): a background thread faults pages in and populates their page
 *   tables ahead of the writer, which then meets neither fault where the thread kept ahead.</li>
 * </ul>
 * Ratio: variant time / {@code RAW} time, as the writer sees it. Targets: {@code NOOP} at most 1.3,
 * {@code POPULATE_64K} below 1, {@code PREPARE_AHEAD} at most 0.77 (1.3x faster than the kernel's path).
 * After each shot the file is truncated to zero before the region closes, so no writeback runs between
 * shots.
 *
 * <p>150 warm-up shots: {@code RAW} is flat from its third shot, but mkwrite's fault path, the handler
 * and the prepare-ahead thread reach C2 only after many shots (C2 compiles by invocation counts, in
 * compiler threads that share the two cores with the writer; {@code -XX:+PrintCompilation} showed
 * {@code GranuleAllocator.allocate} and the writer's loop compiled at 1.35-1.56 s on a host whose raw shot
 * took 15 ms). With ten, the measured shots still fell from 30 ms to 10 ms. With fifty, on a host whose raw
 * shot takes 8 ms, PREPARE_AHEAD's shots were still falling when measurement began (shot by shot: 30, 17,
 * 13, 10, 8 ms averaged over each ten shots, then about 6 ms from shot 60 on), and two forks measured 8.5 ms
 * (1.04x raw) where 200 warm-ups measured 5.9 ms (0.72x). The row is to measure the first writes of a
 * running store, not the JIT's warm-up.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 150, batchSize = 1)
@Measurement(iterations = 20, batchSize = 1)
@Fork(value = 5, jvmArgsAppend = {"-Xmx1g", "--enable-native-access=ALL-UNNAMED"})
public class FirstWriteBenchmark {

    static final int FILE_BYTES = 16 << 20;
    private static final int CHUNK = 4096;
    private static final int GRANULE = 64 << 10;

    /** How the first writes are made. */
    public enum Variant {
        /** A raw mapping: the kernel's own first touch. */
        RAW,
        /** mkwrite, no-op handler, 4 KiB region pages. */
        NOOP,
        /** mkwrite, no-op handler, 64 KiB region pages. */
        NOOP_64K,
        /** mkwrite, populate handler, 64 KiB region pages. */
        POPULATE_64K,
        /** mkwrite, fallocate handler with 64 KiB granules, 4 KiB region pages. */
        FALLOCATE_64K,
        /** As FALLOCATE_64K, with the region's prepare-ahead of 1 MiB. */
        PREPARE_AHEAD
    }

    @Param({"RAW", "NOOP", "NOOP_64K", "POPULATE_64K", "FALLOCATE_64K", "PREPARE_AHEAD"})
    Variant variant;

    private Path dir;
    private Path file;
    private MemorySegment src;
    private FileChannel rawChannel;
    private Arena rawArena;
    private MemorySegment raw;
    private StorageHandler storage;
    private MappedRegion region;
    private int shot;

    @Setup(Level.Trial)
    public void setUpTrial() throws IOException {
        if ((variant == Variant.POPULATE_64K || variant == Variant.FALLOCATE_64K || variant == Variant.PREPARE_AHEAD)
                && !StorageHandlers.nativeAccessAvailable()) {
            throw new IllegalStateException(variant + " needs native access: run with "
                    + StorageHandlers.nativeAccessFlag() + ", or it would measure the zero-fill fallback");
        }
        dir = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")), "mkwrite-first");
        src = Arena.ofAuto().allocate(CHUNK).fill((byte) 0x5A);
    }

    @Setup(Level.Iteration)
    public void setUpShot() throws IOException {
        file = dir.resolve("first-" + shot++ + ".dat");
        switch (variant) {
            case RAW -> {
                rawChannel = FileChannel.open(file, CREATE_NEW, READ, WRITE);
                rawArena = Arena.ofShared();
                raw = rawChannel.map(FileChannel.MapMode.READ_WRITE, 0, FILE_BYTES, rawArena); // extends sparsely
            }
            case NOOP -> region = open(WriteFaultHandler.none(), 4096);
            case NOOP_64K -> region = open(WriteFaultHandler.none(), GRANULE);
            case POPULATE_64K -> {
                storage = StorageHandlers.populate();
                region = open(storage, GRANULE);
            }
            case FALLOCATE_64K -> {
                storage = StorageHandlers.fallocate(GRANULE);
                region = open(storage, 4096);
            }
            case PREPARE_AHEAD -> {
                storage = StorageHandlers.fallocate(GRANULE);
                region = MappedRegion.builder(file).size(FILE_BYTES).pageSize(4096).backing(Backing.MEMORY_SEGMENT)
                        .prepareAhead(AHEAD).handler(storage).open();
            }
        }
    }

    private static final long AHEAD = 1 << 20;

    private MappedRegion open(WriteFaultHandler handler, int pageSize) throws IOException {
        return MappedRegion.builder(file).size(FILE_BYTES).pageSize(pageSize).backing(Backing.MEMORY_SEGMENT)
                .handler(handler).open();
    }

    /** Writes the whole file once, front to back, 4 KiB at a time: every page is written for the first time. */
    @Benchmark
    public void firstWrite() {
        if (region == null) {
            for (long o = 0; o < FILE_BYTES; o += CHUNK) {
                MemorySegment.copy(src, 0, raw, o, CHUNK);
            }
        } else {
            for (long o = 0; o < FILE_BYTES; o += CHUNK) {
                try (WriteSpan span = region.write(o, CHUNK)) {
                    MemorySegment.copy(src, 0, span.segment(), 0, CHUNK);
                }
            }
        }
    }

    @TearDown(Level.Iteration)
    public void tearDownShot() throws IOException {
        if (region != null) {
            // Exact once the writer is done: a page is counted WRITABLE before the CAS that lets it write it.
            RegionStats stats = region.stats();
            // Every page written, none faulted twice (fault-around takes several pages per fault; the
            // prepare-ahead agent's no-wait faults may give up and leave a page to the writer).
            boolean faultsBounded = variant == Variant.PREPARE_AHEAD || stats.faults() <= stats.pages();
            if (!faultsBounded || stats.writablePages() != stats.pages()) {
                throw new IllegalStateException("expected every page written, at most one fault each: " + stats);
            }
            region.truncate(0); // drops the dirty pages: no writeback between shots
            region.close();
            region = null;
            if (storage != null) {
                StorageHandler.Stats s = storage.stats();
                if (s.zeroFilledBytes() != 0) {
                    throw new IllegalStateException(variant + " fell back to zero-fill: " + s);
                }
                storage.close();
                storage = null;
            }
        } else {
            rawArena.close();
            rawChannel.truncate(0);
            rawChannel.close();
        }
        Files.delete(file);
    }

    @TearDown(Level.Trial)
    public void tearDownTrial() throws IOException {
        Files.delete(dir);
    }
}
