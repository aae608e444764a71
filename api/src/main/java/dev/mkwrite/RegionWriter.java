package dev.mkwrite;

import java.lang.foreign.MemorySegment;

/**
 * One thread's writer into a region: the same writes as the region's own {@code put}s, with the same
 * protocol and the same exceptions, cheaper per call for small writes (values, and records of some tens of
 * bytes), and about as fast as the region's for writes of a page. It keeps a pin slot of its own and the
 * page table's entry for the 4,096 pages around its last write, so a write there reaches neither the
 * thread's shared pin slot nor the region's page table (docs/USING.md gives the figures).
 *
 * <p>Unlike a {@link WriteSpan} held open over a chunk, a writer pins nothing between calls: a flush, a
 * truncate, a grow or a close never waits for an idle writer, and the writer may block between its writes.
 * Each write pins its page for the copy only, as {@link MappedRegion#put(long, MemorySegment)} does.
 *
 * <p>A writer belongs to the thread that made it ({@link MappedRegion#writer()}); a call from another thread
 * throws {@link WrongThreadException}. Close it when the thread is done with it: an open writer's slot is
 * one more for every flush and exclusive operation to look at (a writer whose thread ended unclosed is
 * dropped from those looks when the region next makes a writer). Closing the region, or the handle it came
 * from, ends its writes ({@link RegionClosedException}), and it still needs its own close.
 *
 * <pre>{@code
 * try (RegionWriter log = region.writer()) {
 *     for (MemorySegment record : records) {
 *         log.put(tail, record);
 *         tail += record.byteSize();
 *     }
 * }
 * }</pre>
 */
public interface RegionWriter extends AutoCloseable {

    /**
     * Writes the whole of {@code src} to {@code offset}, as {@link MappedRegion#put(long, MemorySegment)}.
     *
     * @param offset file offset
     * @param src    the bytes
     * @throws WrongThreadException  if called from a thread other than the writer's
     * @throws IllegalStateException if the writer is closed
     * @see MappedRegion#write(long, long) for the other exceptions
     */
    void put(long offset, MemorySegment src);

    /**
     * Writes {@code length} bytes of {@code src} from {@code srcOffset} to {@code offset}, as
     * {@link MappedRegion#put(long, byte[], int, int)}.
     *
     * @param offset    file offset
     * @param src       the bytes
     * @param srcOffset first byte of {@code src} to write
     * @param length    number of bytes
     * @throws IndexOutOfBoundsException if the source range is outside {@code src}; the message names the
     *                                   file, the offset and its page, and nothing is written
     * @throws WrongThreadException      if called from a thread other than the writer's
     * @throws IllegalStateException     if the writer is closed
     * @see MappedRegion#write(long, long) for the other exceptions
     */
    void put(long offset, byte[] src, int srcOffset, int length);

    /**
     * Writes all of {@code src} to {@code offset}.
     *
     * @param offset file offset
     * @param src    the bytes
     * @see #put(long, byte[], int, int) for the exceptions
     */
    default void put(long offset, byte[] src) {
        put(offset, src, 0, src == null ? 0 : src.length); // not src.length: the put below names a null
    }

    /**
     * Writes {@code value} at {@code offset} in the region's byte order, as {@link MappedRegion#putLong}.
     *
     * @param offset file offset
     * @param value  the value
     * @throws WrongThreadException  if called from a thread other than the writer's
     * @throws IllegalStateException if the writer is closed
     * @see MappedRegion#write(long, long) for the other exceptions
     */
    void putLong(long offset, long value);

    /**
     * The region this writer writes into.
     *
     * @return the region
     */
    MappedRegion region();

    /**
     * Ends the writer: its slot is no longer looked at. Idempotent; from the writer's thread only, like its
     * writes.
     *
     * @throws WrongThreadException if called from a thread other than the writer's
     */
    @Override
    void close();
}
