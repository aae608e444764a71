package dev.mkwrite.impl.os;

import dev.mkwrite.StorageFile;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * Makes parts of a file read as zero through a {@link StorageFile} (the file's one shared descriptor), 4 KiB unit by unit, choosing units by
 * what they read: {@link #fillHoles} writes zeros over units that read as all zeros, which allocates a
 * hole's blocks and leaves data alone (zero-fill, so a later store into a mapping needs no new space);
 * {@link #zeroData} writes zeros over units that do not, which erases data and leaves holes unallocated
 * (punching a hole where the filesystem cannot, so a sparse range stays sparse); {@link #punchZeros}
 * punches holes in units that read as all zeros, which gives their blocks back and changes no byte. One
 * walk serves all three: read a chunk, compare each unit with zeros, act on each run of chosen units.
 * Units are aligned to file offsets; nothing past the end of the file is touched.
 *
 * <p>They run on the calling thread; a caller that the user's code may interrupt runs them through
 * {@link BlockingIo#call} and passes the {@link BlockingIo.Cancel} it gets, which is checked before each
 * chunk, so an interrupt stops a walk between chunks. Thread-safe: each thread reads into a buffer of its own.
 */
public final class FileZeros {

    /** The unit compared and written: a typical filesystem block. */
    public static final int UNIT = 4096;
    private static final int CHUNK = 256 * 1024;
    private static final MemorySegment ZERO_UNIT = MemorySegment.ofArray(new byte[UNIT]);
    private static final ThreadLocal<Chunk> CHUNKS = ThreadLocal.withInitial(Chunk::new);

    private FileZeros() {
    }

    /**
     * Writes zeros over the units of {@code [from, to)} that read as all zeros.
     *
     * @param file    the file
     * @param from    the first byte
     * @param to      the end; what lies past the end of the file is left alone
     * @param cancel  checked before each chunk
     * @return the bytes written
     * @throws IOException if reading or writing fails, or {@link java.io.InterruptedIOException} once
     *                     {@code cancel} is requested
     */
    public static long fillHoles(StorageFile file, long from, long to, BlockingIo.Cancel cancel)
            throws IOException {
        return walk(file, from, to, Mode.FILL_HOLES, cancel);
    }

    /**
     * Writes zeros over the units of {@code [from, to)} that do not read as all zeros.
     *
     * @param file    the file
     * @param from    the first byte
     * @param to      the end; what lies past the end of the file is left alone
     * @param cancel  checked before each chunk
     * @return the bytes written
     * @throws IOException if reading or writing fails, or {@link java.io.InterruptedIOException} once
     *                     {@code cancel} is requested
     */
    public static long zeroData(StorageFile file, long from, long to, BlockingIo.Cancel cancel)
            throws IOException {
        return walk(file, from, to, Mode.ZERO_DATA, cancel);
    }

    /**
     * Punches a hole ({@link StorageFile#punchHole}) in each unit of
     * {@code [from, to)} that reads as all zeros, giving its blocks back without changing a byte: how a
     * storage handler returns space it allocated ahead of writers that never came. Needs native access
     * and a filesystem that punches holes.
     *
     * @param file    the file
     * @param from    the first byte
     * @param to      the end; what lies past the end of the file is left alone
     * @param cancel  checked before each chunk
     * @return the bytes of the holes punched
     * @throws IOException if reading or punching fails (or the file cannot punch holes), or
     *                     {@link java.io.InterruptedIOException} once {@code cancel} is requested
     */
    public static long punchZeros(StorageFile file, long from, long to, BlockingIo.Cancel cancel)
            throws IOException {
        return walk(file, from, to, Mode.PUNCH_ZEROS, cancel);
    }

    /** What the walk does with the units it chooses. */
    private enum Mode {
        /** Zeros over units that read as zero. */
        FILL_HOLES,
        /** Zeros over units that do not. */
        ZERO_DATA,
        /** Holes punched in units that read as zero. */
        PUNCH_ZEROS
    }

    /** The walk: reads a chunk, chooses units by whether they read as zero, acts on each run of them. */
    private static long walk(StorageFile file, long from, long to, Mode mode, BlockingIo.Cancel cancel)
            throws IOException {
        boolean overData = mode == Mode.ZERO_DATA;
        Chunk chunk = CHUNKS.get();
        ByteBuffer buffer = chunk.buffer;
        MemorySegment bytes = chunk.segment;
        long written = 0;
        for (long pos = from; pos < to; ) {
            cancel.check();
            int n = (int) Math.min(CHUNK, to - pos);
            buffer.clear().limit(n);
            while (buffer.hasRemaining()) {
                if (file.read(buffer, pos + buffer.position()) < 0) {
                    break; // the end of the file
                }
            }
            int got = buffer.position();
            int run = -1; // start of the current run of chosen units, or -1
            for (int i = 0; i < got; ) {
                int next = (int) Math.min(got, alignUp(pos + i + 1, UNIT) - pos);
                boolean zero = MemorySegment.mismatch(bytes, i, next, ZERO_UNIT, 0, next - i) < 0;
                boolean chosen = zero != overData;
                if (chosen && run < 0) {
                    run = i;
                } else if (!chosen && run >= 0) {
                    written += act(file, chunk, pos, run, i, mode);
                    run = -1;
                }
                i = next;
            }
            if (run >= 0) {
                written += act(file, chunk, pos, run, got, mode);
            }
            if (got < n) {
                break; // nothing past the end of the file may be written
            }
            pos += n;
        }
        return written;
    }

    /** Acts on bytes {@code [from, to)} of the chunk read at {@code pos}: the run of units chosen. */
    private static int act(StorageFile file, Chunk chunk, long pos, int from, int to, Mode mode)
            throws IOException {
        if (mode == Mode.PUNCH_ZEROS) {
            StorageFile.Outcome done = file.punchHole(pos + from, to - from);
            if (done != StorageFile.Outcome.DONE) {
                throw new IOException("cannot punch a hole in " + file.path() + " (" + done + ")");
            }
            return to - from;
        }
        if (mode == Mode.ZERO_DATA) {
            chunk.segment.asSlice(from, to - from).fill((byte) 0);
        }
        ByteBuffer zeros = chunk.buffer.duplicate().limit(to).position(from);
        while (zeros.hasRemaining()) {
            file.write(zeros, pos + zeros.position());
        }
        return to - from;
    }

    private static long alignUp(long value, long alignment) {
        return (value + alignment - 1) & -alignment;
    }

    /** A thread's read buffer, with a segment over all of it whatever the buffer's position. */
    private static final class Chunk {
        final ByteBuffer buffer = ByteBuffer.allocateDirect(CHUNK);
        final MemorySegment segment = MemorySegment.ofBuffer(buffer);
    }
}
