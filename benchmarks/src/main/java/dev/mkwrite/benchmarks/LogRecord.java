package dev.mkwrite.benchmarks;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/**
 * One thread's reusable {@value #SIZE}-byte log record, in the layout of the log example: a header of the
 * payload length and a CRC32C over the length field and the payload, then the payload. Little-endian.
 *
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |                   Payload length (120)                        |
 *  +---------------------------------------------------------------+
 *  |           CRC32C of the length field and the payload          |
 *  +---------------------------------------------------------------+
 *  |                Log position of the record (8 bytes)           |
 *  +                                                               +
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                  Fixed filler to 128 bytes                   ...
 *  +---------------------------------------------------------------+
 * </pre>
 * The position in the payload makes every record's CRC different, as real payloads would. Not
 * thread-safe: one per appending thread.
 */
final class LogRecord {

    /** Bytes of a record, header included. */
    static final int SIZE = 128;
    private static final int HEADER = 8;
    private static final int PAYLOAD = SIZE - HEADER;

    private final ByteBuffer buffer = ByteBuffer.allocateDirect(SIZE).order(ByteOrder.LITTLE_ENDIAN);
    private final ByteBuffer lengthField = buffer.slice(0, 4);
    private final ByteBuffer payload = buffer.slice(HEADER, PAYLOAD);
    private final MemorySegment segment = MemorySegment.ofBuffer(buffer);
    private final CRC32C crc = new CRC32C();

    LogRecord() {
        buffer.putInt(0, PAYLOAD);
        for (int i = HEADER + 8; i < SIZE; i++) {
            buffer.put(i, (byte) i);
        }
    }

    /**
     * Encodes the record for log position {@code position}: payload, then CRC.
     *
     * @param position the record's log position
     */
    void encode(long position) {
        buffer.putLong(HEADER, position);
        crc.reset();
        crc.update(lengthField.clear());
        crc.update(payload.clear());
        buffer.putInt(4, (int) crc.getValue());
    }

    /**
     * The encoded record as a segment.
     *
     * @return the record's {@value #SIZE} bytes
     */
    MemorySegment segment() {
        return segment;
    }

    /**
     * The encoded record as a buffer, positioned at its start.
     *
     * @return the record's {@value #SIZE} bytes
     */
    ByteBuffer buffer() {
        return buffer.clear();
    }
}
