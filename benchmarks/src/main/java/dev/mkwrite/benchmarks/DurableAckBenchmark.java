package dev.mkwrite.benchmarks;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.RegionStats;
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
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static java.nio.file.StandardOpenOption.CREATE_NEW;
import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.WRITE;

/**
 * Row 7: a durable-ack store. Each operation writes one {@value LogRecord#SIZE}-byte record (the log
 * record of row 4: length, CRC32C, payload) at the next position and forces exactly its range before
 * returning, as a store that acknowledges each write only once it is on storage. One thread.
 * <ul>
 *   <li>{@code MKWRITE}: a {@link MappedRegion} over a fresh sparse file with
 *   {@link StorageHandlers#fallocate(int) fallocate} in 1 MiB granules (as row 4);
 *   {@link MappedRegion#put(long, MemorySegment)} of the record, then
 *   {@link MappedRegion#flush(long, long) flush(offset, 128)}. The flush writes the record's page back;
 *   on ext4 and tmpfs, where the storage handler says an overwrite needs no preparing, it leaves the page
 *   PREPARED, and the next record into it enters it with one CAS, without a fault (elsewhere the page
 *   goes CLEAN and the next record faults, with no system call: the granule is known to be
 *   allocated).</li>
 *   <li>{@code MKWRITE_OTHER_WRITER}: the same, with a second thread that wrote once into the region's
 *   last page as it opened and lives on without writing. Its hazard slot makes a flush's drainer call
 *   {@code membarrier}, until the first such call revokes the slot (shown beside the target, no target
 *   of its own).</li>
 *   <li>{@code RAW}: a raw mapping of a fresh file preallocated whole with {@code fallocate(2)}
 *   ({@link Fallocate}); on the segment backing {@code MemorySegment.copy} of the record and
 *   {@code force()} of a 128-byte slice, on the buffer backing {@code MappedByteBuffer.put(index, buffer,
 *   0, 128)} and {@code force(index, 128)}. Both force the page that holds the range ({@code msync}).</li>
 * </ul>
 * The file is {@value #CAPACITY} bytes, fresh for every iteration (like row 4), and the store wraps round
 * it if an iteration writes more. Two places ({@code fs}): {@code TMPDIR}, {@code java.io.tmpdir} as in
 * row 4 (a disk file system unless the machine says otherwise), where each operation waits for the
 * device, and {@code SHM}, {@code /dev/shm} (tmpfs), where the force has no device to wait for and the
 * row shows the protocol's own cost. Each iteration prints the file system's type. Ratio: raw time /
 * mkwrite time, the fraction of raw speed. Target: at least 0.9x on {@code TMPDIR}; {@code SHM} is shown
 * beside it.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 4, time = 1)
@Fork(value = 3, jvmArgsAppend = {"-Xmx1g", "--enable-native-access=ALL-UNNAMED"})
public class DurableAckBenchmark {

    static final long CAPACITY = 64L << 20;
    private static final int GRANULE = 1 << 20;

    /** Where the records go. */
    public enum Sink {
        /** An mkwrite region with the fallocate handler. */
        MKWRITE,
        /**
         * As {@code MKWRITE}, and a second thread that wrote once into the region's last page when it opened
         * and lives on without writing (a main thread that wrote a header, a pool's thread): its hazard slot
         * makes the flushes' drainer call {@code membarrier} until one revokes the slot.
         */
        MKWRITE_OTHER_WRITER,
        /** A raw mapping of a fresh file preallocated with fallocate. */
        RAW
    }

    @Param({"MKWRITE", "MKWRITE_OTHER_WRITER", "RAW"})
    Sink sink;

    @Param({"MEMORY_SEGMENT", "MAPPED_BYTE_BUFFER"})
    Backing backing;

    /** Where the file lives. */
    public enum Fs {
        /** {@code java.io.tmpdir}, as row 4. */
        TMPDIR,
        /** {@code /dev/shm}: tmpfs, no device behind the force. */
        SHM
    }

    @Param({"TMPDIR", "SHM"})
    Fs fs;

    private Path dir;
    private Path file;
    private String fsType;
    private int round;
    private long position;
    private long acks;
    private final LogRecord record = new LogRecord();

    private StorageHandler storage;
    private MappedRegion region;
    /** {@code MKWRITE_OTHER_WRITER}'s second thread, and what ends it. */
    private Thread other;
    private CountDownLatch otherEnd;
    private FileChannel channel;
    private Arena rawArena;
    private MemorySegment rawSegment;
    private MappedByteBuffer rawBuffer;

    @Setup(Level.Trial)
    public void setUpTrial() throws IOException {
        if (!StorageHandlers.nativeAccessAvailable()) {
            throw new IllegalStateException(sink + " needs native access for fallocate: run with "
                    + StorageHandlers.nativeAccessFlag());
        }
        Path parent = Path.of(fs == Fs.SHM ? "/dev/shm" : System.getProperty("java.io.tmpdir"));
        dir = Files.createTempDirectory(parent, "mkwrite-ack");
        fsType = Files.getFileStore(dir).type();
    }

    @Setup(Level.Iteration)
    public void setUpIteration() throws IOException {
        position = 0;
        acks = 0;
        file = dir.resolve(sink.name().toLowerCase(Locale.ROOT) + "-" + round++ + ".dat");
        if (sink != Sink.RAW) {
            storage = StorageHandlers.fallocate(GRANULE);
            region = MappedRegion.builder(file).size(CAPACITY).backing(backing).handler(storage).open();
            if (sink == Sink.MKWRITE_OTHER_WRITER) {
                startOtherWriter();
            }
        } else {
            channel = FileChannel.open(file, CREATE_NEW, READ, WRITE);
            Fallocate.allocate(file, CAPACITY);
            if (backing == Backing.MEMORY_SEGMENT) {
                rawArena = Arena.ofShared();
                rawSegment = channel.map(FileChannel.MapMode.READ_WRITE, 0, CAPACITY, rawArena);
            } else {
                rawBuffer = channel.map(FileChannel.MapMode.READ_WRITE, 0, CAPACITY);
            }
        }
    }

    /** {@code MKWRITE_OTHER_WRITER}: a thread writes once into the last page, then waits for the iteration's end. */
    private void startOtherWriter() {
        CountDownLatch wrote = new CountDownLatch(1);
        CountDownLatch end = new CountDownLatch(1);
        otherEnd = end;
        MappedRegion r = region;
        other = Thread.ofPlatform().name("other-writer").start(() -> {
            r.putLong(CAPACITY - Long.BYTES, -1L);
            wrote.countDown();
            try {
                end.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        try {
            wrote.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while the other writer wrote", e);
        }
    }

    /** Writes one record and forces its range: returns once the record is durable. */
    @Benchmark
    public void writeAndForce() throws IOException {
        long offset = position;
        position = (offset + LogRecord.SIZE) & (CAPACITY - 1);
        record.encode(acks++);
        if (sink != Sink.RAW) {
            region.put(offset, record.segment());
            region.flush(offset, LogRecord.SIZE);
        } else if (backing == Backing.MEMORY_SEGMENT) {
            MemorySegment.copy(record.segment(), 0, rawSegment, offset, LogRecord.SIZE);
            rawSegment.asSlice(offset, LogRecord.SIZE).force();
        } else {
            rawBuffer.put((int) offset, record.buffer(), 0, LogRecord.SIZE);
            rawBuffer.force((int) offset, LogRecord.SIZE);
        }
    }

    @TearDown(Level.Iteration)
    public void tearDownIteration() throws IOException {
        String detail = "";
        if (sink != Sink.RAW) {
            if (other != null) {
                otherEnd.countDown();
                try {
                    other.join();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while the other writer ended", e);
                }
                other = null;
            }
            RegionStats s = region.stats();
            if (s.writablePages() > (sink == Sink.MKWRITE_OTHER_WRITER ? 1 : 0)) { // the other's page: never flushed
                throw new IllegalStateException("a page stayed dirty after its flush: " + s);
            }
            detail = String.format(Locale.ROOT, ", %,d faults, %,d pages written back", s.faults(), s.pagesWrittenBack());
            region.truncate(0);
            region.close();
            storage.close();
        } else {
            if (rawArena != null) {
                rawArena.close();
                rawArena = null;
            }
            rawBuffer = null; // unmapped by the garbage collector; the truncate below frees the blocks now
            channel.truncate(0);
            channel.close();
        }
        Files.delete(file);
        System.out.printf(Locale.ROOT, "  [%s %s on %s (%s): %,d acknowledged records%s]%n", sink, backing, fsType,
                dir.getParent(), acks, detail);
    }

    @TearDown(Level.Trial)
    public void tearDownTrial() throws IOException {
        Files.delete(dir);
    }
}
