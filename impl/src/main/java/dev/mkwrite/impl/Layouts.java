package dev.mkwrite.impl;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The typed accesses in a region's byte order. Each layout is a constant, so the JIT folds the access to
 * a plain load or store (with a byte swap where the order is not the machine's): a layout held in a field
 * would not fold, and costs several nanoseconds per access. The order is chosen per region by a final
 * boolean, a branch the processor predicts perfectly.
 */
final class Layouts {

    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT_BE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG_BE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private final boolean bigEndian;

    Layouts(ByteOrder order) {
        this.bigEndian = order == ByteOrder.BIG_ENDIAN;
    }

    int getInt(MemorySegment m, long offset) {
        return bigEndian ? m.get(INT_BE, offset) : m.get(INT_LE, offset);
    }

    long getLong(MemorySegment m, long offset) {
        return bigEndian ? m.get(LONG_BE, offset) : m.get(LONG_LE, offset);
    }

    void setInt(MemorySegment m, long offset, int value) {
        if (bigEndian) {
            m.set(INT_BE, offset, value);
        } else {
            m.set(INT_LE, offset, value);
        }
    }

    void setLong(MemorySegment m, long offset, long value) {
        if (bigEndian) {
            m.set(LONG_BE, offset, value);
        } else {
            m.set(LONG_LE, offset, value);
        }
    }
}
