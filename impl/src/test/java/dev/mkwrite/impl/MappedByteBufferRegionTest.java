package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.WriteSpan;
import org.junit.jupiter.api.Test;

import java.nio.MappedByteBuffer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The contract on the MappedByteBuffer backing. */
class MappedByteBufferRegionTest extends RegionContract {

    @Override
    Backing backing() {
        return Backing.MAPPED_BYTE_BUFFER;
    }

    @Test
    void shouldHandOutSlicesOfTheMappedBuffer() throws Exception {
        open();
        try (WriteSpan span = region.write(PAGE + 10, 100)) {
            assertEquals(100, span.buffer().capacity());
            assertEquals(0, span.buffer().position());
            span.buffer().put(0, (byte) 5);
            assertEquals(MappedByteBuffer.class.isAssignableFrom(span.buffer().getClass()), true);
        }
        assertEquals(5, region.getByte(PAGE + 10));
    }

    @Test
    void shouldRefuseToGrowBeyondWhatAByteBufferMaps() throws Exception {
        open();
        assertThrows(IllegalArgumentException.class, () -> region.grow(3L << 30));
        region.putLong(0, 1);
        assertEquals(1, region.getLong(0));
    }
}
