package dev.mkwrite.examples.log;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The payloads the {@code log} command (and the crash test) append: the writing thread's index, the
 * record's sequence number in that thread, then bytes derived from both. A verifier can so tell not only
 * that a record is whole but which one it is, and that none is missing. Stateless.
 */
final class Payloads {

    /** Bytes of thread index and sequence number at the start of every payload: the smallest payload. */
    static final int HEADER = Integer.BYTES + Long.BYTES;

    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Payloads() {
    }

    /** Writes record {@code seq} of {@code thread} into all of {@code payload}, at least {@link #HEADER} bytes. */
    static void fill(MemorySegment payload, int thread, long seq) {
        payload.set(INT, 0, thread);
        payload.set(LONG, Integer.BYTES, seq);
        for (int i = HEADER; i < payload.byteSize(); i++) {
            payload.set(ValueLayout.JAVA_BYTE, i, pattern(thread, seq, i));
        }
    }

    /** The thread index a payload names. */
    static int thread(MemorySegment payload) {
        return payload.get(INT, 0);
    }

    /** The sequence number a payload names. */
    static long seq(MemorySegment payload) {
        return payload.get(LONG, Integer.BYTES);
    }

    /** Whether {@code payload} is {@code size} bytes and exactly what {@link #fill} wrote for its header. */
    static boolean wellFormed(MemorySegment payload, int size) {
        if (payload.byteSize() != size || size < HEADER) {
            return false;
        }
        int thread = thread(payload);
        long seq = seq(payload);
        for (int i = HEADER; i < size; i++) {
            if (payload.get(ValueLayout.JAVA_BYTE, i) != pattern(thread, seq, i)) {
                return false;
            }
        }
        return true;
    }

    private static byte pattern(int thread, long seq, int i) {
        return (byte) (seq * 31 + thread * 7 + i);
    }
}
