package dev.mkwrite.benchmarks;

import dev.mkwrite.MappedRegion;
import dev.mkwrite.WriteSpan;
import dev.mkwrite.impl.storage.StorageHandler;
import dev.mkwrite.impl.storage.StorageHandlers;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;

import static java.nio.file.StandardOpenOption.CREATE_NEW;
import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.WRITE;

/**
 * Row 8's child JVM: opens a fresh file and makes its first 4 KiB write, then prints how long that took
 * from the start of {@code main} and halts. {@link ColdStartHarness} starts it.
 *
 * <p>{@code ColdStartChild MKWRITE|RAW file}. {@code MKWRITE}: a {@link MappedRegion} of
 * {@value #SIZE} bytes with {@link StorageHandlers#fallocate(int) fallocate} in 1 MiB granules, one
 * {@link WriteSpan} over the first 4 KiB. {@code RAW}: {@code FileChannel.map} of the same size into a
 * shared arena and a {@code MemorySegment.copy}. Each variant lives in its own nested class, so nothing
 * of the other is loaded or verified. Prints {@code first-write-ns N} and halts without running shutdown
 * hooks or closing anything: what comes after the first write is not measured, and the file is thrown
 * away.
 */
public final class ColdStartChild {

    static final long SIZE = 64L << 20;
    static final int WRITE_BYTES = 4096;

    private ColdStartChild() {
    }

    public static void main(String[] args) throws IOException {
        long start = System.nanoTime();
        Path file = Path.of(args[1]);
        if (args[0].equals("MKWRITE")) {
            Mkwrite.firstWrite(file);
        } else {
            Raw.firstWrite(file);
        }
        long took = System.nanoTime() - start;
        System.out.println("first-write-ns " + took);
        System.out.flush();
        Runtime.getRuntime().halt(0);
    }

    /** mkwrite: the fallocate handler, a region, one span. */
    static final class Mkwrite {
        @SuppressWarnings("resource") // left open: the JVM halts right after the first write
        static void firstWrite(Path file) throws IOException {
            StorageHandler storage = StorageHandlers.fallocate(1 << 20);
            MappedRegion region = MappedRegion.builder(file).size(SIZE).handler(storage).open();
            MemorySegment src = MemorySegment.ofArray(new byte[WRITE_BYTES]).fill((byte) 0x5A);
            try (WriteSpan span = region.write(0, WRITE_BYTES)) {
                span.segment().copyFrom(src);
            }
        }
    }

    /** Raw: a mapping and a copy. */
    static final class Raw {
        @SuppressWarnings("resource") // left open: the JVM halts right after the first write
        static void firstWrite(Path file) throws IOException {
            FileChannel channel = FileChannel.open(file, CREATE_NEW, READ, WRITE);
            MemorySegment raw = channel.map(FileChannel.MapMode.READ_WRITE, 0, SIZE, Arena.ofShared());
            MemorySegment src = MemorySegment.ofArray(new byte[WRITE_BYTES]).fill((byte) 0x5A);
            MemorySegment.copy(src, 0, raw, 0, WRITE_BYTES);
        }
    }
}
