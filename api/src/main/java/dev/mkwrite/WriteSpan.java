package dev.mkwrite;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * A pinned window {@code [offset, offset + length)} of a region, open for writes at raw memory speed.
 *
 * <p>Every page it covers was prepared before the span was handed out, and stays WRITABLE and pinned
 * until {@link #close()}: truncate and close wait for the pin, and so do a flush of its pages in a region
 * with {@linkplain RegionBuilder#stablePages(boolean) stable pages} (without them a flush forces the pages
 * as they are and leaves them dirty) and a grow in the cases {@link MappedRegion#grow} names. Keep spans
 * short, as the kernel keeps a write short; never hold one while waiting for something else.
 *
 * <p>A span belongs to the thread that opened it. Views obtained from it must not be used after
 * {@code close()}: on the {@link Backing#MEMORY_SEGMENT} backing such use throws
 * {@link IllegalStateException} once the mapping it came from is unmapped (by a truncate, by the close, or
 * after a grow once that mapping's writers and flushes have left); on {@link Backing#MAPPED_BYTE_BUFFER} it
 * is undefined.
 *
 * <pre>{@code
 * try (WriteSpan span = region.write(offset, record.length)) {
 *     MemorySegment.copy(record, 0, span.segment(), ValueLayout.JAVA_BYTE, 0, record.length);
 * }
 * }</pre>
 */
public interface WriteSpan extends AutoCloseable {

    /**
     * The file offset of the first byte of the span.
     *
     * @return the offset
     */
    long offset();

    /**
     * The length of the span in bytes.
     *
     * @return the length
     */
    long length();

    /**
     * The span's memory as a segment of exactly {@link #length()} bytes, starting at {@link #offset()}.
     * Native on {@link Backing#MEMORY_SEGMENT}; a view of the buffer on {@link Backing#MAPPED_BYTE_BUFFER}.
     *
     * @return the writable segment
     * @throws IllegalStateException if the span is closed
     */
    MemorySegment segment();

    /**
     * The span's memory as a buffer with position zero and limit {@link #length()}, in the region's
     * {@linkplain RegionBuilder#byteOrder byte order} (little-endian unless the builder said otherwise), the
     * same as the region's typed accessors. Native on
     * {@link Backing#MAPPED_BYTE_BUFFER}; a view of the segment on {@link Backing#MEMORY_SEGMENT}.
     *
     * @return the writable buffer
     * @throws IllegalStateException         if the span is closed
     * @throws UnsupportedOperationException if the span is longer than {@code Integer.MAX_VALUE}
     */
    ByteBuffer buffer();

    /**
     * Unpins the span's pages. Idempotent. Must be called on the thread that opened the span.
     *
     * @throws WrongThreadException if called on another thread; the span stays open (a span of no bytes
     *                              pins nothing, and any thread may close it)
     */
    @Override
    void close();
}
