package dev.mkwrite.examples.log;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.zip.CRC32C;

/**
 * Reopens a log directory written by {@link LogWriter}, possibly by a writer killed at any point, and
 * checks it: every record below the checkpoint's committed position must be intact, and the records
 * after it are accepted only as long as each one is whole (length in range, CRC32C correct).
 *
 * <p>The scan walks the segments in order from the first record. It stops at the first of:
 * <ul>
 *   <li>a zero length field: the end of the written data. If anything but zeros follows it in the
 *   segment, or a later segment exists, the log ends in a <em>torn tail</em>: records that writers had
 *   reserved or were still copying when they stopped.</li>
 *   <li>a record whose length does not fit or whose CRC fails: a torn tail if it lies at or past the
 *   committed position, and <em>lost data</em> if it lies below it;</li>
 *   <li>the end of a segment file with no end-of-segment marker, or a missing or damaged segment header.</li>
 * </ul>
 * An end-of-segment marker continues the scan in the next segment. A torn tail is never accepted: its
 * records are not counted and not visited. The log is sound when the scan reached the committed position.
 *
 * <p>The files are read through read-only mappings that the verifier closes before it returns. Do not
 * run it on a log that a writer is still appending to. Stateless and thread-safe.
 */
public final class LogVerifier {

    private static final int ZERO_CHUNK = 64 * 1024;
    private static final MemorySegment ZEROS = MemorySegment.ofArray(new byte[ZERO_CHUNK]);

    private LogVerifier() {
    }

    /** Called for each intact record, in log order. */
    @FunctionalInterface
    public interface RecordVisitor {
        /**
         * One record.
         *
         * @param position the record's position in the log
         * @param payload  its payload, read-only and valid only during the call
         */
        void record(long position, MemorySegment payload);
    }

    /**
     * What the scan found.
     *
     * @param records     intact records accepted, in log order
     * @param segments    segment files scanned
     * @param committed   the checkpoint's committed position, or 0 if no group flush completed
     * @param validEnd    the position just past the last accepted record or marker
     * @param tornTail    whether the log ends in a torn tail past the committed position
     * @param stopReason  why the scan stopped, for messages
     * @param segmentSize the log's segment size, or {@code Long.MAX_VALUE} if the log was never started
     */
    public record Result(long records, long segments, long committed, long validEnd, boolean tornTail,
                         String stopReason, long segmentSize) {

        /**
         * Whether a record that a completed flush covered is missing or damaged.
         *
         * @return {@code true} if the scan stopped below the committed position
         */
        public boolean lostFlushedData() {
            return validEnd < committed;
        }

        /**
         * One line about the loss, or null when nothing flushed was lost.
         *
         * @return the description
         */
        public String lossDescription() {
            if (!lostFlushedData()) {
                return null;
            }
            return "flushed data lost: the checkpoint says every record below "
                    + LogFormat.describe(committed, segmentSize) + " was forced, but the log stops at "
                    + LogFormat.describe(validEnd, segmentSize) + ": " + stopReason;
        }
    }

    /**
     * Verifies the log in {@code dir}.
     *
     * @param dir     the log directory
     * @param visitor called for each intact record; may be null
     * @return what the scan found
     * @throws NoSuchFileException if {@code dir} holds no checkpoint file
     * @throws IOException         if a file cannot be read, or the checkpoint's header is damaged
     */
    public static Result verify(Path dir, RecordVisitor visitor) throws IOException {
        Path checkpointFile = dir.resolve(LogFormat.CHECKPOINT);
        if (!Files.isRegularFile(checkpointFile)) {
            throw new NoSuchFileException(checkpointFile.toString(), null, "no mkwrite log here (no checkpoint file)");
        }
        long segmentSize;
        long committed;
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(checkpointFile, StandardOpenOption.READ)) {
            boolean complete = ch.size() >= LogFormat.CHECKPOINT_SIZE;
            MemorySegment cp = complete ? ch.map(FileChannel.MapMode.READ_ONLY, 0, LogFormat.CHECKPOINT_SIZE, arena) : null;
            if (!complete || cp.get(LogFormat.LONG, 0) != LogFormat.CHECKPOINT_MAGIC
                    || cp.get(LogFormat.INT, 16) != LogFormat.crcOf(cp, 0, 16)) {
                if (Files.exists(LogFormat.segmentFile(dir, 0))) {
                    // The writer forces the checkpoint's header before it creates the first segment.
                    throw new IOException(checkpointFile + " has a damaged header (" + ch.size() + " bytes)");
                }
                // Killed while creating the log, before any segment: an empty log.
                return new Result(0, 0, 0, 0, false, "the log was never started", Long.MAX_VALUE);
            }
            segmentSize = cp.get(LogFormat.LONG, 8);
            committed = 0;
            long bestSequence = -1;
            for (int slot = 0; slot < 2; slot++) {
                MemorySegment s = cp.asSlice(LogFormat.slotOffset(slot), LogFormat.SLOT_BYTES);
                long sequence = s.get(LogFormat.LONG, 0);
                if (sequence > 0 && s.get(LogFormat.INT, 16) == LogFormat.crcOf(s, 0, 16) && sequence > bestSequence) {
                    bestSequence = sequence;
                    committed = s.get(LogFormat.LONG, 8);
                }
            }
        }
        return new Scan(dir, segmentSize, committed, visitor).run();
    }

    /** One scan over the segments. */
    private static final class Scan {
        private final Path dir;
        private final long segmentSize;
        private final long committed;
        private final RecordVisitor visitor;
        private final CRC32C crc = new CRC32C();
        private long records;
        private long segments;
        private long validEnd;
        private boolean damaged;
        private String reason = "end of the log";

        Scan(Path dir, long segmentSize, long committed, RecordVisitor visitor) {
            this.dir = dir;
            this.segmentSize = segmentSize;
            this.committed = committed;
            this.visitor = visitor;
        }

        Result run() throws IOException {
            long index = 0;
            validEnd = 0;
            boolean more = true;
            while (more) {
                Path file = LogFormat.segmentFile(dir, index);
                if (!Files.isRegularFile(file)) {
                    reason = index == 0 ? "no segment file" : "segment " + index + " does not exist";
                    break;
                }
                segments++;
                try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                    long size = Math.min(ch.size(), segmentSize);
                    MemorySegment seg = size == 0 ? MemorySegment.NULL
                            : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
                    more = scanSegment(index, seg, size);
                }
                index++;
            }
            if (!damaged && laterSegmentExists(index)) {
                damaged = true; // a later segment after the end: reservations that were never completed
                reason += ", but segment " + index + " exists after it";
            }
            boolean torn = damaged && validEnd >= committed;
            return new Result(records, segments, committed, validEnd, torn, reason, segmentSize);
        }

        /** Scans one segment; returns whether the log continues in the next. */
        private boolean scanSegment(long index, MemorySegment seg, long size) {
            long base = index * segmentSize;
            if (size < LogFormat.SEGMENT_HEADER || isZero(seg, 0, LogFormat.SEGMENT_HEADER)) {
                reason = "segment " + index + " has no header yet";
                damaged = size > 0 && !isZero(seg, 0, size);
                return false;
            }
            if (seg.get(LogFormat.LONG, 0) != LogFormat.SEGMENT_MAGIC || seg.get(LogFormat.LONG, 8) != index
                    || seg.get(LogFormat.LONG, 16) != segmentSize
                    || seg.get(LogFormat.INT, 24) != LogFormat.crcOf(seg, 0, 24)) {
                reason = "segment " + index + " has a damaged header";
                damaged = true;
                return false;
            }
            long p = LogFormat.SEGMENT_HEADER;
            validEnd = base + p;
            for (;;) {
                if (p + LogFormat.RECORD_HEADER > size) {
                    reason = "segment " + index + " ends at offset " + size + " without an end-of-segment marker";
                    return false;
                }
                int length = seg.get(LogFormat.INT, p);
                int storedCrc = seg.get(LogFormat.INT, p + 4);
                if (length == 0) {
                    reason = "end of the written data at " + LogFormat.describe(base + p, segmentSize);
                    if (!isZero(seg, p, size - p)) {
                        damaged = true;
                        reason = "a record at " + LogFormat.describe(base + p, segmentSize)
                                + " was never written, but data follows it";
                    }
                    return false;
                }
                if (length == LogFormat.END_OF_SEGMENT && storedCrc == LogFormat.END_OF_SEGMENT_CRC) {
                    validEnd = (index + 1) * segmentSize + LogFormat.SEGMENT_HEADER;
                    return true;
                }
                if (length < 0 || p + LogFormat.recordBytes(length) > size) {
                    damaged = true;
                    reason = "the record at " + LogFormat.describe(base + p, segmentSize) + " has a bad length " + length;
                    return false;
                }
                MemorySegment payload = seg.asSlice(p + LogFormat.RECORD_HEADER, length);
                if (LogFormat.recordCrc(crc, payload) != storedCrc) {
                    damaged = true;
                    reason = "the record at " + LogFormat.describe(base + p, segmentSize) + " fails its CRC32C";
                    return false;
                }
                if (visitor != null) {
                    visitor.record(base + p, payload);
                }
                records++;
                p += LogFormat.recordBytes(length);
                validEnd = base + p;
            }
        }

        private boolean laterSegmentExists(long index) {
            return Files.exists(LogFormat.segmentFile(dir, index));
        }

        private static boolean isZero(MemorySegment seg, long from, long length) {
            long p = from;
            long end = from + length;
            while (p < end) {
                long n = Math.min(ZERO_CHUNK, end - p);
                if (MemorySegment.mismatch(seg, p, p + n, ZEROS, 0, n) != -1) {
                    return false;
                }
                p += n;
            }
            return true;
        }
    }
}
