package dev.mkwrite.benchmarks;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.RegionStats;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.WriteSpan;

import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Properties;

import static java.nio.file.StandardOpenOption.CREATE;
import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.WRITE;

/**
 * Row 5: open a 1 TiB sparse region and write 1 GiB sequentially. Reports absolute figures: the time to
 * open (median of several opens), the page-state metadata before and after, and the write and flush
 * rates. The file is sparse: only the gibibyte written takes space.
 *
 * <p>The write time is the median of {@value #ROUNDS} passes, raw and mkwrite in turn, each on a fresh file,
 * after one unmeasured raw pass and one mkwrite pass reported apart: the first pass of each in a fresh JVM
 * pays for its compilation (mkwrite's fault path runs interpreted at first) and, on a virtual machine, for
 * the host's first touch of the guest's memory.
 *
 * <p>Run: {@code ./dev java -cp benchmarks/target/benchmarks.jar dev.mkwrite.benchmarks.ScaleHarness
 * [--out file.properties] [dir]}
 */
public final class ScaleHarness {

    private static final long TIB = 1L << 40;
    private static final long GIB = 1L << 30;
    private static final int CHUNK = 1 << 20;
    private static final int OPENS = 7;
    /** Measured passes of each, in turn; odd, for a median. */
    private static final int ROUNDS = 5;

    private ScaleHarness() {
    }

    public static void main(String[] args) throws Exception {
        Path out = null;
        Path given = null;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--out")) {
                out = Path.of(args[++i]);
            } else {
                given = Path.of(args[i]);
            }
        }
        Path dir = given != null ? given : Files.createTempDirectory("mkwrite-scale");
        Path file = dir.resolve("tebibyte.dat");
        long[] openNanos = new long[OPENS];
        for (int i = 0; i < OPENS; i++) {
            Files.deleteIfExists(file);
            long start = System.nanoTime();
            MappedRegion region = open(file);
            openNanos[i] = System.nanoTime() - start;
            region.close();
        }
        Arrays.sort(openNanos);
        Files.deleteIfExists(file);
        // Once unmeasured: the first gibibyte a fresh virtual machine touches costs the host's faults too.
        rawFirstTouch(file);
        Files.deleteIfExists(file);
        // mkwrite's first pass in this JVM, reported apart: its fault path runs interpreted until the JIT
        // has compiled it, where the raw loop above has been compiled already.
        long coldNanos;
        long emptyMetadata;
        try (MappedRegion region = open(file)) {
            emptyMetadata = region.stats().metadataBytes();
            coldNanos = writeGibibyte(region);
        }
        Files.deleteIfExists(file);
        // Then raw and mkwrite in turn, each on a fresh file, so both meet the same machine: medians. The
        // last mkwrite pass's region stays open for the metadata and flush figures.
        long[] rawNanos = new long[ROUNDS];
        long[] writeNanos = new long[ROUNDS];
        MappedRegion last = null;
        for (int i = 0; i < ROUNDS; i++) {
            if (last != null) {
                last.close();
                Files.deleteIfExists(file);
            }
            rawNanos[i] = rawFirstTouch(file);
            Files.deleteIfExists(file);
            last = open(file);
            writeNanos[i] = writeGibibyte(last);
        }
        try (MappedRegion region = last) {
            RegionStats written = region.stats();
            long start = System.nanoTime();
            long pages = region.flush();
            long flushNanos = System.nanoTime() - start;
            double write = ColdStartHarness.medianMillis(writeNanos);
            double raw = ColdStartHarness.medianMillis(rawNanos);
            System.out.printf(Locale.ROOT, "region size            %,d bytes (1 TiB, sparse, %s)%n", region.size(),
                    region.backing());
            System.out.printf(Locale.ROOT, "open time              median %.2f ms, min %.2f ms, max %.2f ms (%d opens)%n",
                    openNanos[OPENS / 2] / 1e6, openNanos[0] / 1e6, openNanos[OPENS - 1] / 1e6, OPENS);
            System.out.printf(Locale.ROOT, "metadata, empty        %,d bytes%n", emptyMetadata);
            System.out.printf(Locale.ROOT, "metadata, 1 GiB dirty  %,d bytes (%.2f MiB) for %,d writable pages%n",
                    written.metadataBytes(), written.metadataBytes() / 1048576.0, written.writablePages());
            System.out.printf(Locale.ROOT, "write 1 GiB            median %.0f ms, %.0f MiB/s (%d passes, ms: %s; %,d faults in the last)%n",
                    write, 1024 / (write / 1e3), ROUNDS, ColdStartHarness.millis(writeNanos), written.faults());
            System.out.printf(Locale.ROOT, "flush 1 GiB            %.0f ms, %,d pages written back%n", flushNanos / 1e6, pages);
            System.out.printf(Locale.ROOT, "raw first touch 1 GiB  median %.0f ms, %.0f MiB/s (%d passes, ms: %s; same file"
                    + " size, raw segment): mkwrite/raw time %.2fx%n", raw, 1024 / (raw / 1e3), ROUNDS,
                    ColdStartHarness.millis(rawNanos), write / raw);
            System.out.printf(Locale.ROOT, "  (mkwrite's first pass in this JVM, before its fault path was compiled: %.0f ms,"
                    + " %.2fx)%n", coldNanos / 1e6, coldNanos / 1e6 / raw);
            if (out != null) {
                Properties p = new Properties();
                p.setProperty("open.median.ms", Double.toString(openNanos[OPENS / 2] / 1e6));
                p.setProperty("metadata.empty.bytes", Long.toString(emptyMetadata));
                p.setProperty("metadata.dirty.bytes", Long.toString(written.metadataBytes()));
                p.setProperty("write.ms", Double.toString(write));
                p.setProperty("write.cold.ms", Double.toString(coldNanos / 1e6));
                p.setProperty("raw.ms", Double.toString(raw));
                p.setProperty("flush.ms", Double.toString(flushNanos / 1e6));
                try (OutputStream o = Files.newOutputStream(out)) {
                    p.store(o, "ScaleHarness");
                }
            }
        } finally {
            Files.deleteIfExists(file);
            if (given == null) {
                Files.deleteIfExists(dir);
            }
        }
    }

    /** Writes the first gibibyte of {@code region} a mebibyte span at a time; returns the nanoseconds taken. */
    private static long writeGibibyte(MappedRegion region) {
        MemorySegment chunk = MemorySegment.ofArray(new byte[CHUNK]).fill((byte) 0x5A);
        long start = System.nanoTime();
        for (long offset = 0; offset < GIB; offset += CHUNK) {
            try (WriteSpan span = region.write(offset, CHUNK)) {
                span.segment().copyFrom(chunk);
            }
        }
        return System.nanoTime() - start;
    }

    /** The same writes through a raw mapping of a fresh sparse file: the kernel's own first-touch cost. */
    private static long rawFirstTouch(Path file) throws java.io.IOException {
        try (FileChannel channel = FileChannel.open(file, CREATE, READ, WRITE); Arena arena = Arena.ofShared()) {
            MemorySegment raw = channel.map(FileChannel.MapMode.READ_WRITE, 0, TIB, arena);
            MemorySegment chunk = MemorySegment.ofArray(new byte[CHUNK]).fill((byte) 0x5A);
            long start = System.nanoTime();
            for (long offset = 0; offset < GIB; offset += CHUNK) {
                MemorySegment.copy(chunk, 0, raw, offset, CHUNK);
            }
            return System.nanoTime() - start;
        }
    }

    private static MappedRegion open(Path file) throws java.io.IOException {
        return MappedRegion.builder(file).size(TIB).backing(Backing.MEMORY_SEGMENT).handler(WriteFaultHandler.none())
                .open();
    }
}
