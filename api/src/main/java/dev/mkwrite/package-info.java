/**
 * mkwrite: the kernel's {@code page_mkwrite} protocol for Java writes through memory-mapped files.
 *
 * <h2>The problem</h2>
 * A store through a shared file mapping into a page the filesystem cannot back (a full disk, a quota,
 * an I/O error) raises {@code SIGBUS}; in Java it surfaces as
 * {@code java.lang.InternalError: a fault occurred in an unsafe memory access operation}, at an
 * arbitrary store, after earlier stores have already landed. mkwrite moves that failure to a point
 * where it can be handled: before the first store into a page.
 *
 * <h2>The protocol</h2>
 * A {@link dev.mkwrite.MappedRegion} keeps a state for every page of its file:
 * <pre>
 * CLEAN --fault: claim--&gt; PREPARING --handler ok--&gt; WRITABLE --flush--&gt; WRITEBACK --forced--&gt; CLEAN
 *   ^                        |
 *   +------ handler error ---+        truncate: reservation released, generation moves on
 * </pre>
 * <ol>
 *   <li><b>Write fault (K1, K3).</b> Before any byte lands in a page that is not WRITABLE, mkwrite calls
 *   the region's {@link dev.mkwrite.WriteFaultHandler} with a {@link dev.mkwrite.WriteFault}. The handler
 *   prepares backing storage and returns a {@link dev.mkwrite.Reservation}. mkwrite then rechecks that
 *   the page still lies in the region at the same generation and only then makes it WRITABLE.</li>
 *   <li><b>Region lock (K2).</b> Faults hold the region lock shared; {@code grow}, {@code truncate} and
 *   {@code close} hold it exclusive. The lock prefers writers, so one slow fault would stall everyone
 *   queued behind an exclusive operation. Writes into WRITABLE pages take no lock at all.</li>
 *   <li><b>Dropping the lock (K4, K5).</b> On its first attempt a handler may
 *   {@linkplain dev.mkwrite.WriteFault#dropLock() drop the lock} once, block (reserve space, wait for
 *   I/O), record what it prepared with {@link dev.mkwrite.WriteFault#cacheReservation} and return
 *   {@link dev.mkwrite.FaultResult#RETRY}. The retry re-takes the lock and reads the page-state table;
 *   a page prepared meanwhile completes without calling the handler again. A retry may not drop the lock,
 *   which is what guarantees progress.</li>
 *   <li><b>Generations (K6).</b> Truncate moves the generation of every page it removes. A retry whose
 *   page changed generation releases its reservation, exactly once, and never adopts it.</li>
 *   <li><b>Errors (K7).</b> A handler failure becomes a {@link dev.mkwrite.WriteFaultException} at the
 *   write that faulted: nothing of that write lands, the page returns to CLEAN, any reservation is
 *   released, and the region stays usable.</li>
 *   <li><b>Writeback (K8).</b> {@link dev.mkwrite.MappedRegion#flush()} takes WRITABLE pages to WRITEBACK
 *   once no writer holds them, forces exactly those ranges, consumes their reservations and makes them
 *   CLEAN, so the next write faults again: exact dirty tracking. Pages are stable during writeback.</li>
 *   <li><b>Interrupts and no-wait (K9).</b> A thread interrupted while it waits in a fault gets a
 *   {@link dev.mkwrite.FaultInterruptedException}; {@link dev.mkwrite.MappedRegion#tryWrite} never waits.</li>
 * </ol>
 *
 * <h2>Handlers</h2>
 * Most applications need no handler of their own: the implementation module, {@code mkwrite-impl}, has
 * built-in ones in {@code dev.mkwrite.impl.storage} (see
 * <a href="https://javadoc.io/doc/dev.mkwrite/mkwrite-impl/latest/dev.mkwrite.impl/dev/mkwrite/impl/storage/StorageHandlers.html">StorageHandlers</a>).
 * {@code StorageHandlers.fallocate(1 << 20)} reserves the blocks of each page's 1 MiB granule with
 * {@code fallocate(2)} before the page's first write, so a full disk is a {@link dev.mkwrite.NoSpaceException}
 * at that write; without {@code --enable-native-access=ALL-UNNAMED} it zero-fills the granule instead and
 * logs once, through SLF4J under {@code dev.mkwrite}, which flag to add.
 *
 * <h2>Threads</h2>
 * A region is safe for use by any number of threads. A {@link dev.mkwrite.WriteSpan} belongs to the thread
 * that opened it until it is closed, and a {@link dev.mkwrite.RegionWriter} to the thread that made it. Handlers run on the writing thread, and on the prepare-ahead thread
 * for the pages it prepares ahead.
 */
package dev.mkwrite;
