package dev.mkwrite.examples.log;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Locale;
import java.util.zip.CRC32C;

/**
 * The on-disk layout of a log directory. Every integer is little-endian. Stateless and thread-safe.
 *
 * <h2>Files</h2>
 * <ul>
 *   <li>{@code checkpoint}: the durable commit marker (below).</li>
 *   <li>{@code segment-00000000.log}, {@code segment-00000001.log}, ...: the records, each file at most
 *   the segment size. A position in the log is {@code segment * segmentSize + offset}.</li>
 * </ul>
 *
 * <h2>Record</h2>
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |                        Payload length                         |
 *  +---------------------------------------------------------------+
 *  |            CRC32C of the length field and the payload          |
 *  +---------------------------------------------------------------+
 *  |                           Payload                            ...
 *  +---------------------------------------------------------------+
 *  |                 Zero padding to a multiple of 8                |
 *  +---------------------------------------------------------------+
 * </pre>
 * A length of zero never occurs in a record: segments are zero-filled, so a zero length is the end of
 * the written data. The CRC covers the length too, so a header of zeros never passes as a record. A
 * length of {@link #END_OF_SEGMENT} with its CRC ends a segment whose remaining space was too small
 * for the next record; the log continues in the next segment.
 *
 * <h2>Segment header</h2>
 * The first {@link #SEGMENT_HEADER} bytes: magic {@code "MKWSEG01"} (8 bytes), the segment index (8),
 * the segment size (8), a CRC32C of those 24 bytes (4), zeros.
 *
 * <h2>Checkpoint file</h2>
 * {@link #CHECKPOINT_SIZE} bytes: a header (magic {@code "MKWCKPT1"}, segment size, CRC32C of those 16
 * bytes) and two slots at {@link #slotOffset(int) 64 and 128}. Each slot holds a sequence number, a
 * committed position, and a CRC32C of those 16 bytes. Group flush {@code n} writes slot {@code n % 2}
 * and forces it, so the other slot always holds the previous commit intact: a write torn by a power
 * failure leaves one slot whose CRC fails, and the reader takes the valid slot with the higher
 * sequence. The committed position promises that every record below it is complete and was forced.
 */
public final class LogFormat {

    /** Bytes of a record header: the length and the CRC. */
    public static final int RECORD_HEADER = 8;
    /** Records start at multiples of this. */
    public static final int ALIGNMENT = 8;
    /** The length field of an end-of-segment marker. */
    public static final int END_OF_SEGMENT = -1;
    /** Bytes at the start of each segment before its first record. */
    public static final int SEGMENT_HEADER = 64;
    /** Size of the checkpoint file. */
    public static final int CHECKPOINT_SIZE = 4096;
    /** Bytes of one checkpoint slot: sequence, position, CRC. */
    public static final int SLOT_BYTES = 20;
    /** The checkpoint file's name. */
    public static final String CHECKPOINT = "checkpoint";

    static final long SEGMENT_MAGIC = magic("MKWSEG01");
    /** The CRC an end-of-segment marker carries: CRC32C of its length field. */
    static final int END_OF_SEGMENT_CRC = endOfSegmentCrc();
    static final long CHECKPOINT_MAGIC = magic("MKWCKPT1");

    static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private LogFormat() {
    }

    private static long magic(String text) {
        long v = 0;
        for (int i = 7; i >= 0; i--) {
            v = (v << 8) | text.charAt(i);
        }
        return v;
    }

    /**
     * The bytes a record with {@code payloadLength} bytes of payload takes, header and padding included.
     *
     * @param payloadLength the payload's length
     * @return the record's size on disk
     */
    public static int recordBytes(int payloadLength) {
        return (RECORD_HEADER + payloadLength + ALIGNMENT - 1) & -ALIGNMENT;
    }

    /**
     * The file of segment {@code index} in {@code dir}.
     *
     * @param dir   the log directory
     * @param index the segment index
     * @return the path
     */
    public static Path segmentFile(Path dir, long index) {
        return dir.resolve(String.format(Locale.ROOT, "segment-%08d.log", index));
    }

    /**
     * The offset of checkpoint slot {@code slot} in the checkpoint file.
     *
     * @param slot 0 or 1
     * @return the offset
     */
    public static int slotOffset(int slot) {
        return 64 + 64 * slot;
    }

    /**
     * The CRC of a record: over its length field, then its payload.
     *
     * @param crc     a CRC32C to reuse; reset here
     * @param payload the payload bytes
     * @return the CRC
     */
    public static int recordCrc(CRC32C crc, MemorySegment payload) {
        crc.reset();
        crc.update(lengthBytes((int) payload.byteSize()));
        crc.update(payload.asByteBuffer());
        return (int) crc.getValue();
    }

    /**
     * The CRC of a record, from a byte array.
     *
     * @param crc     a CRC32C to reuse; reset here
     * @param payload the array
     * @param offset  the payload's first byte
     * @param length  the payload's length
     * @return the CRC
     */
    public static int recordCrc(CRC32C crc, byte[] payload, int offset, int length) {
        crc.reset();
        crc.update(length & 0xff);
        crc.update((length >>> 8) & 0xff);
        crc.update((length >>> 16) & 0xff);
        crc.update((length >>> 24) & 0xff);
        crc.update(payload, offset, length);
        return (int) crc.getValue();
    }

    private static int endOfSegmentCrc() {
        CRC32C crc = new CRC32C();
        crc.update(lengthBytes(END_OF_SEGMENT));
        return (int) crc.getValue();
    }

    private static byte[] lengthBytes(int length) {
        return new byte[] {(byte) length, (byte) (length >>> 8), (byte) (length >>> 16), (byte) (length >>> 24)};
    }

    /** CRC32C of {@code length} bytes of {@code segment} at {@code offset}. */
    static int crcOf(MemorySegment segment, long offset, int length) {
        CRC32C crc = new CRC32C();
        crc.update(segment.asSlice(offset, length).asByteBuffer());
        return (int) crc.getValue();
    }

    /**
     * Encodes the header of segment {@code index} into {@code header}.
     *
     * @param header      at least {@link #SEGMENT_HEADER} bytes
     * @param index       the segment index
     * @param segmentSize the log's segment size
     */
    static void encodeSegmentHeader(MemorySegment header, long index, long segmentSize) {
        header.asSlice(0, SEGMENT_HEADER).fill((byte) 0);
        header.set(LONG, 0, SEGMENT_MAGIC);
        header.set(LONG, 8, index);
        header.set(LONG, 16, segmentSize);
        header.set(INT, 24, crcOf(header, 0, 24));
    }

    /**
     * Encodes the checkpoint file's header.
     *
     * @param file        at least {@link #CHECKPOINT_SIZE} bytes
     * @param segmentSize the log's segment size
     */
    static void encodeCheckpointHeader(MemorySegment file, long segmentSize) {
        file.set(LONG, 0, CHECKPOINT_MAGIC);
        file.set(LONG, 8, segmentSize);
        file.set(INT, 16, crcOf(file, 0, 16));
    }

    /**
     * Encodes a checkpoint slot.
     *
     * @param slot     {@link #SLOT_BYTES} bytes
     * @param sequence the group flush's number
     * @param position the committed position
     */
    static void encodeSlot(MemorySegment slot, long sequence, long position) {
        slot.set(LONG, 0, sequence);
        slot.set(LONG, 8, position);
        slot.set(INT, 16, crcOf(slot, 0, 16));
    }

    /**
     * Splits a position into its segment.
     *
     * @param position    a log position
     * @param segmentSize the log's segment size
     * @return the segment index
     */
    public static long segmentOf(long position, long segmentSize) {
        return position / segmentSize;
    }

    /**
     * Describes a position for messages: {@code segment 2 offset 4096 (position 134221824)}.
     *
     * @param position    a log position
     * @param segmentSize the log's segment size
     * @return the text
     */
    public static String describe(long position, long segmentSize) {
        return "segment " + position / segmentSize + " offset " + position % segmentSize + " (position " + position + ")";
    }
}
