package dev.mkwrite.impl.os;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/**
 * Writes zeros into a file through a {@link FileChannel}, 4 KiB unit by unit, choosing units by what they
 * read: {@link #fillHoles} writes zeros over units that read as all zeros, which allocates a hole's blocks
 * and leaves data alone (zero-fill, so a later store into a mapping needs no new space);
 * {@link #zeroData} writes zeros over units that do not, which erases data and leaves holes unallocated
 * (punching a hole where the filesystem cannot, so a sparse range stays sparse). One walk serves both:
 * read a chunk, compare each unit with zeros, write each run of chosen units. Units are aligned to file
 * offsets; neither writes past the end of the file.
 *
 * <p>Both run on the calling thread and use its interrupt as the channel does: a caller that the user's
 * code may interrupt runs them through {@link BlockingIo#call} and passes the {@link BlockingIo.Cancel} it
 * gets, which is checked before each chunk. Thread-safe: each thread reads into a buffer of its own.
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
     * @param channel the file, open for reading and writing
     * @param from    the first byte
     * @param to      the end; what lies past the end of the file is left alone
     * @param cancel  checked before each chunk
     * @return the bytes written
     * @throws IOException if reading or writing fails, or {@link java.io.InterruptedIOException} once
     *                     {@code cancel} is requested
     */
    public static long fillHoles(FileChannel channel, long from, long to, BlockingIo.Cancel cancel)
            throws IOException {
        return write(channel, from, to, false, cancel);
    }

    /**
     * Writes zeros over the units of {@code [from, to)} that do not read as all zeros.
     *
     * @param channel the file, open for reading and writing
     * @param from    the first byte
     * @param to      the end; what lies past the end of the file is left alone
     * @param cancel  checked before each chunk
     * @return the bytes written
     * @throws IOException if reading or writing fails, or {@link java.io.InterruptedIOException} once
     *                     {@code cancel} is requested
     */
    public static long zeroData(FileChannel channel, long from, long to, BlockingIo.Cancel cancel)
            throws IOException {
        return write(channel, from, to, true, cancel);
    }

    /** The walk: zeros over the units that read as data if {@code overData}, else over those that read zero. */
    private static long write(FileChannel channel, long from, long to, boolean overData, BlockingIo.Cancel cancel)
            throws IOException {
        Chunk chunk = CHUNKS.get();
        ByteBuffer buffer = chunk.buffer;
        MemorySegment bytes = chunk.segment;
        long written = 0;
        for (long pos = from; pos < to; ) {
            cancel.check();
            int n = (int) Math.min(CHUNK, to - pos);
            buffer.clear().limit(n);
            while (buffer.hasRemaining()) {
                if (channel.read(buffer, pos + buffer.position()) < 0) {
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
                    written += writeZeros(channel, chunk, pos, run, i, overData);
                    run = -1;
                }
                i = next;
            }
            if (run >= 0) {
                written += writeZeros(channel, chunk, pos, run, got, overData);
            }
            if (got < n) {
                break; // nothing past the end of the file may be written
            }
            pos += n;
        }
        return written;
    }

    /** Writes bytes {@code [from, to)} of the chunk read at {@code pos}, zeroed first if they held data. */
    private static int writeZeros(FileChannel channel, Chunk chunk, long pos, int from, int to, boolean overData)
            throws IOException {
        if (overData) {
            chunk.segment.asSlice(from, to - from).fill((byte) 0);
        }
        ByteBuffer zeros = chunk.buffer.duplicate().limit(to).position(from);
        while (zeros.hasRemaining()) {
            channel.write(zeros, pos + zeros.position());
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
