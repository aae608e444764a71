package dev.mkwrite;

import java.io.Closeable;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * A memory-mapped file whose pages are prepared by a {@link WriteFaultHandler} before their first write.
 *
 * <pre>{@code
 * try (MappedRegion region = MappedRegion.builder(Path.of("wal.000"))
 *         .size(1L << 30)                         // sparse; grows later with grow()
 *         .handler(myHandler)                     // reserves space before a page is first written
 *         .open()) {
 *     try (WriteSpan span = region.write(offset, 128)) {   // faults in, pins
 *         span.segment().copyFrom(record);
 *     }                                                    // unpins
 *     region.flush();                                      // exact dirty pages, then CLEAN again
 * } catch (NoSpaceException e) {
 *     // the write that needed space; nothing of it landed, all earlier writes are intact
 * }
 * }</pre>
 *
 * <h2>Writes</h2>
 * {@link #write} returns a pinned {@link WriteSpan}; the {@code put} methods are the same for small
 * writes, without the span, and a thread that makes many small ones takes a {@link RegionWriter} of its
 * own ({@link #writer()}), whose writes skip the lookups of the thread's pin slot and of the page. A write into
 * pages that are already WRITABLE takes no lock and does not allocate (except the span object). A write into any other page faults: the handler runs first, and
 * no byte of the write lands unless the handler succeeded for every page the write covers.
 *
 * <p>Where the fault happens differs: a {@code put} runs it inside the call, between the moment the
 * caller computed its bytes and the moment they land; opening a {@link WriteSpan} runs it when the span
 * opens, before any store. A store that takes a timestamp, a sequence number or a commit value just
 * before its stores should take it after its span is open, so that a slow fault in one writer never lands
 * an older value after a newer one of another.
 *
 * <h2>Reads</h2>
 * Reads never fault and never call the handler. A read sees every byte written by a write that
 * <i>happens-before</i> it: an earlier write of the same thread, or a write of another thread whose span
 * was closed (or whose {@code put} returned) before that thread did something the reading thread then
 * synchronizes with: released a lock the reader takes, wrote a volatile field it reads, completed a
 * future it waits for, and so on. Writes do not create that edge themselves: they take no lock, and
 * closing a span ends its pin with a release store that reads do not acquire, so a read that merely
 * comes later in time may see all, part or none of a write. A {@link #flush} orders them too: once it
 * returns, reads on the thread that called it see every write into the flushed range that completed
 * before the flush began, and, in a region with {@linkplain RegionBuilder#stablePages(boolean) stable
 * pages}, every write that the flush waited for (a writer pinned in one of its pages). Without stable
 * pages a flush waits for no writer: a write still in progress when it began is ordered by nothing.
 *
 * <p>On tmpfs the kernel allocates a page even to read a hole (a page never written, or punched) through a
 * mapping, and such a read raises {@code InternalError} when the file system is full. So a region on tmpfs
 * whose handler keeps written pages prepared ({@link WriteFaultHandler#preparesOverwrites} false, as the
 * storage handlers answer there) reads the pages no write has prepared since it opened through its file
 * ({@code pread}: zeros for a hole, nothing allocated, a system call and the region lock a read), and the
 * others through the mapping. Limits remain: a read view ({@link #view}, {@link #viewBuffer}) is the mapping
 * itself, and a read through it of a hole on a full tmpfs raises {@code InternalError}, as a raw mapping's
 * read would; so may a read racing a {@link #punchHole} of its page, or a truncate below it and a grow back;
 * and a region whose handler prepares overwrites reads through the mapping, as a raw mapping does (its writes
 * are not protected from a full tmpfs either). Disk file systems (ext4, XFS, btrfs) allocate nothing for
 * reads.
 *
 * <h2>Errors</h2>
 * Offsets and lengths that are negative, or whose sum overflows, throw {@link IllegalArgumentException}.
 * Ranges past the end throw {@link OutOfRegionException}, but for {@link #flush(long, long)}, which writes
 * back the dirty pages its range meets and none past the end. A caller's own segment that cannot be used
 * (its arena closed, or confined to another thread) throws the JDK's type for it, naming the region. A call
 * that would wait for the calling thread itself (from inside the region's handler, or over a page it holds
 * in a {@link WriteSpan}) throws {@link IllegalStateException}. A null argument throws
 * {@link NullPointerException} naming the file, offset and page. Every other failure of a write is a
 * {@link WriteFaultException}. None of them changes the region: the same call may be made again.
 *
 * <h2>Opening a file more than once: one region, several handles</h2>
 * A file has at most one region in a JVM: one page-state table, one mapping, one file lock. What
 * {@link RegionBuilder#open()} returns is a <i>handle</i> on that region. Opening a file that is already
 * open in this JVM returns a new handle on the region that is open, not a second region, provided these
 * settings are the same as the region's:
 * <ul>
 *   <li>the {@linkplain RegionBuilder#backing backing};</li>
 *   <li>the {@linkplain RegionBuilder#pageSize page size} (not given means the operating system's, so
 *   it matches an explicit page size equal to it);</li>
 *   <li>the {@linkplain RegionBuilder#handler handler}: the same instance ({@code ==}), since it is
 *   called for the pages of every handle;</li>
 *   <li>the {@linkplain RegionBuilder#dirtyLimit dirty limit};</li>
 *   <li>{@linkplain RegionBuilder#stablePages(boolean) stable pages}, the
 *   {@linkplain RegionBuilder#byteOrder byte order} and {@linkplain RegionBuilder#prepareAhead prepare-ahead}.</li>
 * </ul>
 * Any of them different: {@link IllegalStateException}, naming the file and the setting. Two settings
 * need not match. {@linkplain RegionBuilder#create create} only matters for a file that does not exist,
 * and an open file exists. A {@linkplain RegionBuilder#size size} at most the region's (or none) leaves
 * the region as it is; a larger one grows it, exactly as {@link #grow} would (so the open waits for
 * writers of a last page that the old size covers partly): like the first open, an open promises a
 * region of at least the size asked for.
 *
 * <p>"The same file" means the same file key ({@code BasicFileAttributes.fileKey()}: device and inode),
 * so paths through a symbolic link or a hard link meet at one region. Every handle answers
 * {@link #path()} with the path the region was first opened with, and the exceptions of every handle
 * name that path.
 *
 * <p>Handles share everything but their {@code close}: a write through one is read through another
 * (under the rules of <i>Reads</i> above), a {@link #flush} through one writes back every dirty page of the
 * region, and a {@link #grow} or {@link #truncate} through one changes the size for all. Each handle is
 * closed on its own: {@link #close()} is idempotent for that handle, afterwards that handle's reads, writes,
 * flushes and resizes throw {@link RegionClosedException} naming the file, and the other handles go on.
 * The close of the last open handle closes the region. Opens and closes may race freely from any threads:
 * opens that race end with one region and a handle each, and an open that races the last close waits for
 * that close to end and then opens the region afresh; it never returns a handle on a closed region.
 * Another process that opens the file fails on the region's file lock.
 *
 * <h2>Threads</h2>
 * All methods are safe to call from any thread, and a handle may be shared between threads. The typed
 * accessors, and the buffers a span or view hands out, use the region's
 * {@linkplain RegionBuilder#byteOrder byte order}, little-endian unless the builder said otherwise.
 */
public interface MappedRegion extends Closeable {

    /**
     * Starts describing a region over {@code path}.
     *
     * @param path the file; created if missing unless {@link RegionBuilder#create(boolean)} says otherwise
     * @return a builder
     */
    static RegionBuilder builder(Path path) {
        return new RegionBuilder(path);
    }

    /**
     * The file this region maps.
     *
     * @return the path
     */
    Path path();

    /**
     * The current size of the region, which is the size of its file.
     *
     * @return the size in bytes
     */
    long size();

    /**
     * The unit of preparation: a power of two, at least the operating system's page size.
     *
     * @return the page size in bytes
     */
    int pageSize();

    /**
     * How the file is mapped.
     *
     * @return the backing
     */
    Backing backing();

    /**
     * Opens a pinned span over {@code [offset, offset + length)}, faulting in every page it covers.
     * Blocks while a page is being prepared by another writer, while an exclusive operation holds the
     * region lock, while the region is at its {@linkplain RegionBuilder#dirtyLimit dirty limit} (the fault
     * writes back first), and, in a region with {@linkplain RegionBuilder#stablePages(boolean) stable
     * pages}, while a page is under writeback. Without stable pages a write into a page under writeback
     * goes ahead, and the page stays dirty for the next flush.
     *
     * @param offset file offset of the first byte
     * @param length number of bytes, zero or more
     * @return the span; close it to unpin
     * @throws IllegalArgumentException if {@code offset} or {@code length} is negative or their sum
     *                                  overflows
     * @throws OutOfRegionException     if the span reaches past the end of the region
     * @throws NoSpaceException         if the handler found no space for a page
     * @throws HandlerFailedException   if the handler failed or broke the protocol
     * @throws RegionClosedException    if the region is closed
     * @throws FaultInterruptedException if the thread was interrupted while it waited
     * @throws IllegalStateException    if called from inside this region's handler and a page would fault
     */
    WriteSpan write(long offset, long length);

    /**
     * Like {@link #write}, but never waits ({@code RETRY_NOWAIT}): returns {@code null} if any page is
     * being prepared by another writer, or is under writeback in a region with stable pages, if an
     * exclusive operation holds the region lock, if the region is at its dirty limit, or if the handler
     * answered {@link FaultResult#RETRY} to a {@linkplain WriteFault#isNoWait() no-wait fault}
     * ({@link WouldBlock.Reason} says which). The handler does run for CLEAN pages.
     *
     * @param offset file offset of the first byte
     * @param length number of bytes, zero or more
     * @return the span, or {@code null} if opening it would have had to wait
     * @throws IllegalArgumentException if {@code offset} or {@code length} is negative or their sum
     *                                  overflows
     * @throws OutOfRegionException     if the span reaches past the end of the region
     * @throws NoSpaceException         if the handler found no space for a page
     * @throws HandlerFailedException   if the handler failed or broke the protocol
     * @throws RegionClosedException    if the region is closed
     */
    WriteSpan tryWrite(long offset, long length);

    /**
     * {@link #tryWrite(long, long)}, saying why it returned {@code null} in {@code why}.
     *
     * @param offset file offset of the first byte
     * @param length number of bytes, zero or more
     * @param why    receives the reason when the call returns {@code null}; reuse one per thread
     * @return the span, or {@code null} if opening it would have had to wait
     * @see #tryWrite(long, long) for the exceptions
     */
    WriteSpan tryWrite(long offset, long length, WouldBlock why);

    /**
     * Prepares {@code [offset, offset + length)} for writing without writing: faults in every page the
     * handler has not prepared (as {@link #write} would), and, with native access, populates the pages'
     * page tables ({@code MADV_POPULATE_WRITE}), so the first stores there take neither an mkwrite fault
     * nor a kernel fault. For a store that moves that cost off its hot path, such as a log that prepares
     * its next segment; {@link RegionBuilder#prepareAhead} does it in the background for sequential
     * writers. The pages become dirty as if written: the next flush writes them back.
     *
     * @param offset file offset of the first byte
     * @param length number of bytes, zero or more
     * @see #write(long, long) for the exceptions
     */
    void prepare(long offset, long length);

    /**
     * A writer of this thread's own: the region's {@code put}s, cheaper per call for small writes into the
     * same pages (see {@link RegionWriter}). It pins nothing between calls, so
     * nothing ever waits for an idle writer. Close it when the thread is done.
     *
     * @return a new writer, confined to the calling thread
     * @throws RegionClosedException if the region is closed
     */
    RegionWriter writer();

    /**
     * Writes {@code length} bytes of {@code src} starting at {@code srcOffset} to {@code offset}.
     *
     * @param offset    file offset
     * @param src       the bytes
     * @param srcOffset first byte of {@code src} to write
     * @param length    number of bytes
     * @throws IndexOutOfBoundsException if the source range is outside {@code src}; the message names the
     *                                   file, the offset and its page, and nothing is written
     * @see #write(long, long) for the other exceptions
     */
    void put(long offset, byte[] src, int srcOffset, int length);

    /**
     * Writes all of {@code src} to {@code offset}.
     *
     * @param offset file offset
     * @param src    the bytes
     * @see #write(long, long) for the exceptions
     */
    default void put(long offset, byte[] src) {
        put(offset, src, 0, src == null ? 0 : src.length); // not src.length: the put below names a null
    }

    /**
     * Writes the whole of {@code src} to {@code offset}.
     *
     * @param offset file offset
     * @param src    the bytes
     * @see #write(long, long) for the exceptions
     */
    void put(long offset, MemorySegment src);

    /**
     * Writes the remaining bytes of {@code src} to {@code offset} and advances its position.
     *
     * @param offset file offset
     * @param src    the bytes
     * @see #write(long, long) for the exceptions
     */
    void put(long offset, ByteBuffer src);

    /**
     * Writes one byte.
     *
     * @param offset file offset
     * @param value  the byte
     * @see #write(long, long) for the exceptions
     */
    void putByte(long offset, byte value);

    /**
     * Writes an int in the region's byte order, at any alignment.
     *
     * @param offset file offset
     * @param value  the value
     * @see #write(long, long) for the exceptions
     */
    void putInt(long offset, int value);

    /**
     * Writes a long in the region's byte order, at any alignment.
     *
     * @param offset file offset
     * @param value  the value
     * @see #write(long, long) for the exceptions
     */
    void putLong(long offset, long value);

    /**
     * Reads {@code length} bytes at {@code offset} into {@code dst} from {@code dstOffset}.
     *
     * @param offset    file offset
     * @param dst       destination
     * @param dstOffset first byte of {@code dst} to fill
     * @param length    number of bytes
     * @throws IllegalArgumentException  if {@code offset} or {@code length} is negative or overflows
     * @throws IndexOutOfBoundsException if the destination range is outside {@code dst}; the message names
     *                                   the file, the offset and its page
     * @throws OutOfRegionException      if the range reaches past the end of the region
     * @throws RegionClosedException     if the region is closed
     */
    void get(long offset, byte[] dst, int dstOffset, int length);

    /**
     * Reads {@code dst.byteSize()} bytes at {@code offset} into {@code dst}.
     *
     * @param offset file offset
     * @param dst    destination
     * @see #get(long, byte[], int, int) for the exceptions
     */
    void get(long offset, MemorySegment dst);

    /**
     * Reads one byte.
     *
     * @param offset file offset
     * @return the byte
     * @see #get(long, byte[], int, int) for the exceptions
     */
    byte getByte(long offset);

    /**
     * Reads an int in the region's byte order, at any alignment.
     *
     * @param offset file offset
     * @return the value
     * @see #get(long, byte[], int, int) for the exceptions
     */
    int getInt(long offset);

    /**
     * Reads a long in the region's byte order, at any alignment.
     *
     * @param offset file offset
     * @return the value
     * @see #get(long, byte[], int, int) for the exceptions
     */
    long getLong(long offset);

    /**
     * A read-only view of {@code [offset, offset + length)}, at raw memory speed: no lock, no copy.
     * Reads through it see writes as {@link #get} does (see <i>Reads</i> above). It stays valid until the
     * region closes, or until a {@link #grow} or {@link #truncate} replaces the region's mapping (a grow
     * within the mapping's room to grow does not; with the {@code MAPPED_BYTE_BUFFER} backing every grow
     * does) and the old mapping is unmapped: at once for a truncate, and for a grow with the
     * {@code MAPPED_BYTE_BUFFER} backing; for a grow with {@code MEMORY_SEGMENT}, once the writers and
     * flushes still using the old mapping have left. Afterwards every access through it throws
     * {@link IllegalStateException}, never a crash, so take a new view after a grow or truncate. An access
     * that meets the unmapping while it runs also gets the thread's interrupt status set by the JVM (HotSpot
     * stops such an access that way), which nobody sent: clear it ({@code Thread.interrupted()}) where you
     * catch that exception, or the thread's next blocking call fails (mkwrite's own reads do this). A channel
     * operation on a view's buffer ({@link #viewBuffer}, a zero-copy send) holds the view's mapping for the
     * whole call: a truncate or close that must unmap it waits for that call to end (and says so in the log
     * after a second), holding the region lock, so faults (and, on tmpfs, reads of pages no write prepared)
     * wait too; never let that call wait for such a thread, nor for the one that truncates or closes. Byte
     * order:
     * the segment has none of its own; use layouts in the region's {@linkplain RegionBuilder#byteOrder byte
     * order}.
     *
     * @param offset file offset of the first byte
     * @param length number of bytes
     * @return a read-only segment over the range
     * @throws IllegalArgumentException if {@code offset} or {@code length} is negative or overflows
     * @throws OutOfRegionException     if the range reaches past the end of the region
     * @throws RegionClosedException    if the region is closed
     */
    MemorySegment view(long offset, long length);

    /**
     * {@link #view} as a read-only {@link ByteBuffer} in the region's byte order, position zero; valid as
     * long as the view.
     *
     * @param offset file offset of the first byte
     * @param length number of bytes, at most {@link Integer#MAX_VALUE}
     * @return a read-only buffer over the range
     * @see #view(long, long) for the exceptions
     */
    ByteBuffer viewBuffer(long offset, long length);

    /**
     * Calls {@code ranges} with the dirty byte ranges of the region, in ascending order, adjacent dirty
     * pages merged: what the next {@link #flush} would write back (pages a flush is writing back now
     * included). A racy snapshot: writes and flushes go on meanwhile. Costs one read per page of the
     * page-state chunks that were ever written, and takes no lock.
     *
     * @param ranges receives each range
     * @return the number of dirty pages
     * @throws RegionClosedException if the region is closed
     */
    long dirtyRanges(RangeConsumer ranges);

    /**
     * Writes back every dirty page: {@link #flush(long, long)} over the whole region.
     *
     * @return the number of pages written back
     * @throws IOException           if forcing failed, now or in any earlier writeback of the region: see
     *                               {@link #flush(long, long)}
     * @throws RegionClosedException if the region is closed
     */
    long flush() throws IOException;

    /**
     * Writes back the dirty pages that intersect {@code [offset, offset + length)} (rule K8). Every WRITABLE
     * page of the range goes to WRITEBACK at once, whether or not a writer holds it pinned, is shown to
     * {@link WriteFaultHandler#beforeWriteback} and forced to storage; its reservation is consumed and it
     * becomes CLEAN, so its next write faults again (or, where the handler says an overwrite needs no
     * preparing, {@link WriteFaultHandler#preparesOverwrites}, enters it without calling the handler). Pages
     * already under writeback by another flush are waited for. What writers meet depends on
     * {@linkplain RegionBuilder#stablePages(boolean) stable pages}:
     * <ul>
     *   <li>without them (the default) the flush never waits for a writer, nor a writer for the flush: a
     *   page that a writer holds pinned (a {@link WriteSpan} open over it), or that a writer enters during
     *   its writeback, is forced as it is and stays dirty, with its reservation, for the next flush;</li>
     *   <li>with them, a writer that reaches a page under writeback waits for the writeback to end
     *   ({@link #tryWrite} returns {@code null}), and the flush first waits for the writers already pinned
     *   in its pages to leave, so the handler and the disk see each page as its writers left it.</li>
     * </ul>
     * Either way, a write that completed before this call started is in what it forced, and so is a write
     * that this call waited for.
     *
     * <p><b>A failed force is final.</b> If forcing fails (the kernel's writeback reports an I/O error), in a
     * flush or in the writeback a {@link #grow} or a failed {@link #punchHole} does, the pages stay dirty, but
     * no later flush can tell whether their data reached the disk: Linux reports a failed writeback once per
     * open file and marks clean the pages it could not write, so a second force of them succeeds with their
     * data lost. So from the first failure on, every flush of the region, and the {@link #close()} that
     * closes it, throws an {@link IOException} that says so, with the first failure as its cause. Reads and
     * writes go on, with no {@linkplain RegionBuilder#dirtyLimit dirty limit} any more; close the region and
     * recover from what the file holds, as a database recovers after {@code fsync} failed.
     *
     * @param offset file offset of the first byte
     * @param length number of bytes
     * @return the number of pages this call wrote back
     * @throws IllegalArgumentException if {@code offset} or {@code length} is negative or overflows
     * @throws IOException              if forcing failed, now or in any earlier writeback of the region (see
     *                                  above)
     * @throws RegionClosedException    if the region is closed
     * @throws IllegalStateException    if called from inside this region's handler
     */
    long flush(long offset, long length) throws IOException;

    /**
     * Extends the region and its file to {@code newSize}, sparsely. New pages start CLEAN. Takes the
     * region lock exclusively, so faults wait for it (reads take no lock and go on), but of the pinned
     * writers it waits only for those of a last page that the old size covers partly (and for a writeback
     * of that page): the page's
     * extent changes, so grow writes it back and gives it a new generation, and its next write prepares the
     * whole page. Writers pinned in any other page go on writing during the grow; if the grow maps the file
     * anew they write through the old mapping, which maps the same file pages and stays mapped until they
     * have left. One exception keeps old mappings from piling up: with {@link Backing#MEMORY_SEGMENT}, once
     * 32 old mappings wait for writers that stay pinned, the next grow that maps anew waits for every
     * pinned writer and unmaps them all (a span of the calling thread makes it throw instead). Another: after a {@link #truncate} whose file could not be shortened,
     * in a region whose handler keeps written-back pages prepared, the grow shortens the file first and then
     * waits for the writers of the region's last 2 MiB unit, whose tail that freed (their pages are prepared
     * again, whole); a span of the calling thread there makes it throw instead.
     *
     * @param newSize the new size, at least {@link #size()}
     * @throws IllegalArgumentException if {@code newSize} is smaller than the size, or larger than the
     *                                  backing can map
     * @throws IOException              if the file could not be extended or remapped, or writing back its
     *                                  last page failed (then final: see {@link #flush(long, long)})
     * @throws RegionClosedException    if the region is closed
     * @throws IllegalStateException    if called from inside this region's handler, or, as above, with a span
     *                                  of the calling thread open in pages the grow waits for
     */
    void grow(long newSize) throws IOException;

    /**
     * Sets the region and its file to {@code newSize}, like {@code ftruncate}. When shrinking, every
     * removed page's reservation is released and its generation moves on, so a fault that prepared it
     * with the lock dropped finds its work stale; bytes past the new end read as zero if the region is
     * extended again. A shrink waits for every pinned writer and every writeback in the region, not only
     * in the removed pages; a truncate to a larger size is a {@link #grow}.
     *
     * @param newSize the new size, zero or more
     * @throws IllegalArgumentException if {@code newSize} is negative or larger than the backing can map
     * @throws IOException              if the file could not be remapped (nothing changed then), or, when
     *                                  shrinking, could not be truncated: the region then has its new size,
     *                                  as after a shrink that worked (a {@code SpaceQuota}'s
     *                                  {@code truncated} applies), and stays open; the file is truncated
     *                                  again before the region grows (a grow that cannot do so throws,
     *                                  unchanged) and at close (a close that cannot throws, and the file keeps
     *                                  the discarded bytes past the region's end)
     * @throws RegionClosedException    if the region is closed
     * @throws IllegalStateException    if called from inside this region's handler
     */
    void truncate(long newSize) throws IOException;

    /**
     * Discards {@code [offset, offset + length)}, like {@code fallocate(FALLOC_FL_PUNCH_HOLE)}: the bytes
     * read as zero afterwards and the file keeps its size. Every page of the range becomes CLEAN: its dirty
     * data is dropped, not written back; its reservation is released; and its generation moves on, so a
     * fault that prepared it with the lock dropped finds its work stale and the next write faults again and
     * asks the handler to prepare the page anew (the storage handlers allocate it again).
     *
     * <p>The range must be whole pages: {@code offset} a multiple of {@link #pageSize()}, and the end a
     * multiple of it or the end of the region. Takes the region lock exclusively, so faults wait, and waits
     * for writeback and for pinned writers of the pages in the range; writers of other pages go on. So the
     * calling thread must not hold a span over a page of the range. Where native access is enabled on Linux
     * the blocks are freed with {@code fallocate(2)} on the region's own descriptor, whatever the path names
     * now. Without native access, or where the file system cannot punch holes, the data in the range is
     * overwritten with zeros through the region's own file (holes stay holes): it reads the same but frees
     * no space, and an interrupt stops it after the chunk it is in, with an {@link IOException}. A
     * {@code SpaceQuota} learns of the freed space from the application, as it does for truncate.
     *
     * <p>Only the range's whole 2 MiB units, aligned, are punched, and the last unit's part up to the
     * region's end. The rest of the range is zeroed in place and keeps its blocks
     * ({@code FALLOC_FL_ZERO_RANGE} on ext4 and XFS; where the file system cannot, as on tmpfs, whose faults
     * allocate no blocks beside a page, it is punched). A hole beside a written page of its unit would share a
     * large page-cache folio with that page, and the kernel's fault of that folio, at the page's next store
     * after a writeback, needs blocks for the hole: {@code SIGBUS} on a full disk, whatever the handler
     * prepared. To free space, punch whole 2 MiB units.
     *
     * @param offset file offset of the first byte, page-aligned
     * @param length number of bytes, whole pages or reaching the end of the region; zero does nothing
     * @throws IllegalArgumentException if the range is negative, overflows or is not whole pages
     * @throws OutOfRegionException     if the range reaches past the end of the region
     * @throws IOException              if the file could not be changed: the range's dirty pages are written
     *                                  back first, as they are, then discarded as on success (their next
     *                                  write faults); if that writeback fails too, its failure is suppressed
     *                                  in this one, the pages it could not write are discarded unwritten, and
     *                                  the failed force is final (see {@link #flush(long, long)}). Bytes of
     *                                  the range may already read as zero
     * @throws RegionClosedException    if the region is closed
     * @throws IllegalStateException    if called from inside this region's handler
     */
    void punchHole(long offset, long length) throws IOException;

    /**
     * A snapshot of the region's counters.
     *
     * @return the statistics
     */
    RegionStats stats();

    /**
     * Whether this handle is closed, or the region is closed or closing (its close holds the region lock).
     *
     * @return {@code true} once closing
     */
    boolean isClosed();

    /**
     * Closes this handle (see <i>Opening a file more than once</i> in the class documentation), and the
     * region with it if this is the region's last open handle. Idempotent for each handle. Afterwards this
     * handle's reads, writes, flushes and resizes throw {@link RegionClosedException}; its accessors
     * ({@link #path()}, {@link #size()}, {@link #stats()}...) still answer.
     *
     * <p>The close of the last handle writes back every dirty page, waits for pinned writers and faults in
     * progress, unmaps the file and releases its lock. Afterwards every reservation the region accepted has
     * been consumed or released. A write that runs during that close either pinned its pages before the
     * close froze them, and is then waited for and written back with the rest, or throws
     * {@link RegionClosedException}; every write that starts after the close returned throws it. The close
     * of any other handle returns at once; the region goes on for the other handles.
     *
     * @throws IOException           if the final writeback failed, or a flush's failed before (see
     *                               {@link #flush(long, long)}); the region is closed anyway
     * @throws IllegalStateException if called from inside this region's handler when it would close the
     *                               region; this handle then stays open
     */
    @Override
    void close() throws IOException;
}
