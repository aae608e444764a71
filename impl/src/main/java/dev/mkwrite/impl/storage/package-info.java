/**
 * Built-in {@link dev.mkwrite.WriteFaultHandler}s that prepare storage, so that a write through a
 * {@link dev.mkwrite.MappedRegion} on a full disk fails with {@link dev.mkwrite.NoSpaceException} instead
 * of killing the JVM with {@code InternalError}. Start at {@link dev.mkwrite.impl.storage.StorageHandlers}.
 *
 * <h2>Why preparing storage is enough</h2>
 * A store into a shared file mapping dies with {@code SIGBUS} when the filesystem's {@code ->page_mkwrite}
 * cannot back the page: tmpfs and ext4 (delalloc) find no block to reserve. mkwrite calls a handler before
 * the first store into each page after every writeback; if the handler makes the page's blocks allocated
 * (fallocate, zero-fill) or runs {@code ->page_mkwrite} itself (populate), the store cannot fail. Each
 * handler reports the failure it meets as {@link dev.mkwrite.NoSpaceException} at the write that needed the
 * page; earlier writes are untouched, pages already prepared keep taking writes, and the same write
 * succeeds once space is freed.
 *
 * <p>On ext4 with large page-cache folios, {@code ->page_mkwrite} reserves for the whole folio: a page
 * allocated beside a hole in its folio could still die on a full disk. So the handlers allocate and give
 * back in folio units ({@code FolioUnit}), aligned spans no folio straddles, sized per file from its
 * device's readahead limits; at the disk's edge a fault reports no space rather than allocate part of one.
 *
 * <p>The exception is a copy-on-write filesystem (btrfs, bcachefs, ZFS), which needs new space for every
 * overwrite: allocation does not help there, populate does, but the kernel's own background writeback can
 * still write-protect a page behind mkwrite's back, and the next store would then fault in the kernel
 * without a handler. No user-space preparation closes that gap.
 *
 * <h2>Handlers</h2>
 * <ul>
 *   <li>{@link dev.mkwrite.impl.storage.StorageHandler}: fallocate, zero-fill and populate, alone or
 *   together, with their fallbacks. Remembers per 4 KiB unit of each file what it allocated, so repeat
 *   faults cost no system call.</li>
 *   <li>{@link dev.mkwrite.impl.storage.SpaceQuota}: an in-process budget shared by regions.</li>
 *   <li>{@link dev.mkwrite.impl.storage.PrepareAhead}: a background agent that allocates ahead of
 *   sequential writers.</li>
 *   <li>{@link dev.mkwrite.impl.storage.StorageHandlers#chain}: composition, releasing what earlier handlers
 *   reserved when a later one fails.</li>
 * </ul>
 *
 * <h2>Descriptors</h2>
 * A handler opens no descriptor of a region's file: it works through the region's own
 * ({@link dev.mkwrite.WriteFault#file()}), so a region and its handler hold one descriptor of the file (a
 * native one with native access, a channel without; both only for a MAPPED_BYTE_BUFFER region, whose
 * buffer only {@code FileChannel.map} makes, while fallocate needs the native one), and none once the
 * region closed. A handler called without a region (its unit tests) opens the file itself, once, until
 * {@code release(path)}; so does the release that follows a region's close, briefly, to give back space
 * allocated ahead of writers that never came.
 *
 * <h2>Map of the code</h2>
 * <ul>
 *   <li>{@code dev.mkwrite.impl.os}, below the core and the handlers: {@code PosixNative}, every native
 *   downcall, bound only when native access is enabled; {@code Errno}, errno names and the one definition
 *   of "no space"; {@code ErrnoException}, a system call that failed, with errno, file and range (the
 *   cause a writer sees); {@code SharedFile}, the descriptors of one open file, which the region owns and
 *   its handler shares (the api's {@code StorageFile}); {@code FileZeros}, zero-fill's walk over a file;
 *   {@code BlockingIo}, where zero-fill's I/O runs, out of reach of writers' interrupts.</li>
 *   <li>{@code StorageHandler}: the fault, what it delegates, populate, the files it knows;
 *   {@code GranuleAllocator}, allocation with fallocate (a granule, down to the page's folio unit; ahead
 *   of writers); {@code ZeroFill}, allocation by writing zeros (the page's whole folio unit, neighbours by
 *   folio unit); {@code SpaceEdge}, giving whole untouched folio units back when space runs out;
 *   {@code FolioUnit}, how large a file's folio unit is; {@code StorageCounters}, what they count.</li>
 *   <li>{@code UnitTable}: one word per 4 KiB unit: touched, filling, mapping stamp, allocated generation.
 *   Words change only by volatile CAS.</li>
 *   <li>{@code FileSpace}: a handler's state for one file: its unit table, folio unit, mapping period, the
 *   region's file it prepares through (a descriptor of its own only without a region), and prepare-ahead window.</li>
 *   <li>{@code HandlerChain}: the chain and its combined reservation.</li>
 * </ul>
 */
package dev.mkwrite.impl.storage;

