package dev.mkwrite.examples.log;

import dev.mkwrite.MappedRegion;
import dev.mkwrite.WriteSpan;

import java.lang.foreign.MemorySegment;

/**
 * One appender of a log whose appenders reserve their records from a shared tail (an atomic add), written
 * the way docs/USING.md teaches ("A log's appenders: a span over the page"): it holds a {@link WriteSpan}
 * over the page its records fall in and copies them into the span's segment, so the pin, its checks and
 * the unpin are paid once a page rather than once a record. Row 4's {@code MKWRITE_SPAN} measures it.
 *
 * <p>A truncate and the region's close wait for the spans held over a page, and so does a flush in a
 * region with stable pages (without them a flush forces the page as it is and leaves it dirty for the next
 * flush). The appender closes its span when a record ends the page, and when the next record falls in
 * another page; {@link #release()} closes it otherwise, and must be called before the appending thread goes
 * idle or blocks on anything (a queue, a lock, a flush), or those operations wait for it. A record that
 * crosses a page boundary is written by {@link MappedRegion#put(long, MemorySegment)} after the span is
 * released, never while holding it: a thread that pins while it holds a pin can wait on a truncate, a close
 * or a stable-page flush that waits for it.
 *
 * <p>Not thread-safe: one per appending thread. The region's size must be a multiple of its page size, so
 * that every page a record lands in is whole.
 */
public final class PageAppender implements AutoCloseable {

    private final MappedRegion log;
    private final long page;
    private WriteSpan span;
    private MemorySegment memory;
    private long spanStart;

    /**
     * An appender into {@code log}.
     *
     * @param log the log's region; its size a multiple of its page size
     */
    public PageAppender(MappedRegion log) {
        this.log = log;
        this.page = log.pageSize();
    }

    /**
     * Writes {@code record} at {@code offset}, the position this appender reserved for it.
     *
     * @param offset where the record goes
     * @param record the record's bytes
     */
    public void append(long offset, MemorySegment record) {
        long length = record.byteSize();
        if (length == 0) {
            return;
        }
        long start = offset & -page;
        if (offset + length - start > page) { // crosses into the next page: no span of one page holds it
            release();
            log.put(offset, record);
            return;
        }
        if (span == null || start != spanStart) {
            release();
            span = log.write(start, page); // faults the page in if it is not writable, and pins it
            memory = span.segment();
            spanStart = start;
        }
        MemorySegment.copy(record, 0, memory, offset - start, length);
        if (offset + length - start == page) { // the record ends the page: nothing more of ours goes there
            release();
        }
    }

    /** Closes the span held, if any: before this thread goes idle or blocks, a flush it waits for included. */
    public void release() {
        if (span != null) {
            span.close();
            span = null;
            memory = null;
        }
    }

    /** {@link #release()}. */
    @Override
    public void close() {
        release();
    }
}
