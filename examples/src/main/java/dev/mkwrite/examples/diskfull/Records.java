package dev.mkwrite.examples.diskfull;

import dev.mkwrite.examples.log.LogFormat;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.zip.CRC32C;

/**
 * The records both disk-full writers write, back to back from offset 0, in the log's record format
 * ({@link LogFormat}): payload = sequence number and a pattern derived from it. Stateless.
 */
final class Records {

    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Records() {
    }

    /** The bytes between the starts of two records. */
    static int stride(int payload) {
        return LogFormat.recordBytes(payload);
    }

    /** Encodes record {@code seq} into {@code dst}; returns the bytes to write (header and payload). */
    static int encode(CRC32C crc, long seq, int payload, byte[] dst) {
        MemorySegment d = MemorySegment.ofArray(dst);
        d.set(LONG, LogFormat.RECORD_HEADER, seq);
        for (int i = Long.BYTES; i < payload; i++) {
            dst[LogFormat.RECORD_HEADER + i] = pattern(seq, i);
        }
        d.set(INT, 0, payload);
        d.set(INT, 4, LogFormat.recordCrc(crc, dst, LogFormat.RECORD_HEADER, payload));
        return LogFormat.RECORD_HEADER + payload;
    }

    private static byte pattern(long seq, int i) {
        return (byte) (seq * 131 + i);
    }

    /**
     * Counts the records at the start of {@code file} that are intact and numbered 0, 1, 2, ... in order.
     *
     * @return the count
     */
    static long countIntact(Path file, int payload) throws IOException {
        int stride = stride(payload);
        CRC32C crc = new CRC32C();
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size == 0) {
                return 0;
            }
            MemorySegment m = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            long n = 0;
            for (long p = 0; p + stride <= size; p += stride, n++) {
                if (m.get(INT, p) != payload) {
                    break;
                }
                MemorySegment body = m.asSlice(p + LogFormat.RECORD_HEADER, payload);
                if (m.get(INT, p + 4) != LogFormat.recordCrc(crc, body) || body.get(LONG, 0) != n) {
                    break;
                }
            }
            return n;
        }
    }
}
