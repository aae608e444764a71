package dev.mkwrite.impl.storage;

import dev.mkwrite.impl.os.NativeAccess;
import dev.mkwrite.impl.os.PosixNative;
import dev.mkwrite.WriteFaultHandler;

import java.nio.file.Path;
import java.util.Objects;

/**
 * The built-in {@link WriteFaultHandler}s that prepare storage, and the way to combine them. Start with
 * {@link #bestAvailable(int)}:
 *
 * <pre>{@code
 * try (StorageHandler storage = StorageHandlers.bestAvailable(1 << 20);
 *      MappedRegion region = MappedRegion.builder(path).size(size).handler(storage).open()) {
 *     region.put(offset, bytes);       // NoSpaceException on a full disk, never InternalError
 * }
 * }</pre>
 *
 * <table class="striped">
 *   <caption>Which handler when</caption>
 *   <thead><tr><th>Factory</th><th>Use it when</th></tr></thead>
 *   <tbody>
 *   <tr><td>{@link #bestAvailable(int)}</td><td>in doubt: fallocate plus populate with native access,
 *   zero-fill without</td></tr>
 *   <tr><td>{@link #fallocate(int)}</td><td>ext4, XFS, tmpfs: reserves a granule of blocks per system
 *   call</td></tr>
 *   <tr><td>{@link #populate()}</td><td>copy-on-write filesystems (btrfs), and to take the kernel's page
 *   fault off the writer's path</td></tr>
 *   <tr><td>{@link #zeroFill(int)}</td><td>no native access, or a filesystem without fallocate</td></tr>
 *   <tr><td>{@link #quota(long)}</td><td>several tenants share one disk; chain it before a storage
 *   handler</td></tr>
 *   <tr><td>{@link #prepareAhead(StorageHandler, int)}</td><td>sequential writers (logs, queues): keeps
 *   granules allocated ahead, off the writer's path</td></tr>
 *   <tr><td>{@link #chain(WriteFaultHandler, WriteFaultHandler...)}</td><td>to combine any of
 *   them</td></tr>
 *   </tbody>
 * </table>
 *
 * <h2>Costs</h2>
 * A fault whose page is already known to be allocated (every fault after the first writeback of a page)
 * makes no system call: tens of nanoseconds. A first fault makes one {@code fallocate} per granule, so a
 * larger granule (64 KiB to 1 MiB) amortises it over a sequential writer's pages; a 4 KiB granule on ext4
 * costs several microseconds per page. Zero-fill reads and writes the granule's holes. Populate makes one
 * {@code madvise} per fault, including repeat faults, and moves the kernel's page fault into it.
 *
 * <p>Native calls need {@code --enable-native-access=ALL-UNNAMED} on the class path, or
 * {@code --enable-native-access=dev.mkwrite.impl} on the module path. Without it every handler falls back
 * to zero-fill, logs the flag to add once, and the JVM prints no warning.
 */
public final class StorageHandlers {

    private StorageHandlers() {
    }

    /**
     * The most protective handler this JVM can run: {@code fallocate} of {@code granule}-sized granules
     * plus {@code madvise(MADV_POPULATE_WRITE)} of each page with native access, otherwise zero-fill of
     * granules (logging once which flag enables native access).
     *
     * @param granule the allocation unit: a power of two from 4 KiB to 1 GiB; on a disk filesystem, at
     *                least the file's folio unit (128 KiB to 2 MiB; see docs/USING.md, Limits)
     * @return a new handler; close it after the regions it serves
     * @throws IllegalArgumentException if {@code granule} is not valid
     */
    public static StorageHandler bestAvailable(int granule) {
        if (NativeAccess.available()) {
            return new StorageHandler(StorageHandler.Allocation.FALLOCATE, granule, true);
        }
        NativeAccess.logUnavailableOnce("fallocate(2) and madvise(MADV_POPULATE_WRITE) fall back to zero-fill"
                + " (ordinary writes: slower, just as safe)");
        return new StorageHandler(StorageHandler.Allocation.ZERO_FILL, granule, false);
    }

    /**
     * Reserves the blocks of each page's granule with {@code fallocate(FALLOC_FL_KEEP_SIZE)}; zero-fills
     * where that is unavailable.
     *
     * @param granule the allocation unit: a power of two from 4 KiB to 1 GiB; on a disk filesystem, at
     *                least the file's folio unit (128 KiB to 2 MiB; see docs/USING.md, Limits)
     * @return a new handler; close it after the regions it serves
     * @throws IllegalArgumentException if {@code granule} is not valid
     */
    public static StorageHandler fallocate(int granule) {
        return new StorageHandler(StorageHandler.Allocation.FALLOCATE, granule, false);
    }

    /**
     * Runs the filesystem's {@code ->page_mkwrite} for each page ahead of the store, with
     * {@code madvise(MADV_POPULATE_WRITE)}; zero-fills the page where that is unavailable.
     *
     * @return a new handler; close it after the regions it serves
     */
    public static StorageHandler populate() {
        return new StorageHandler(StorageHandler.Allocation.NONE, UnitTable.UNIT, true);
    }

    /**
     * Writes zeros into the holes of each page's granule, never over data; needs no native access.
     *
     * @param granule the allocation unit: a power of two from 4 KiB to 1 GiB; on a disk filesystem, at
     *                least the file's folio unit (128 KiB to 2 MiB; see docs/USING.md, Limits)
     * @return a new handler; close it after the regions it serves
     * @throws IllegalArgumentException if {@code granule} is not valid
     */
    public static StorageHandler zeroFill(int granule) {
        return new StorageHandler(StorageHandler.Allocation.ZERO_FILL, granule, false);
    }

    /**
     * A handler with any combination of allocation and populate.
     *
     * @param allocation how to allocate each granule
     * @param granule    the allocation unit: a power of two from 4 KiB to 1 GiB; on a disk filesystem, at
     *                least the file's folio unit (128 KiB to 2 MiB; see docs/USING.md, Limits)
     * @param populate   whether to populate each page as well
     * @return a new handler; close it after the regions it serves
     * @throws IllegalArgumentException if {@code granule} is not valid, or {@code allocation} is
     *                                  {@link StorageHandler.Allocation#NONE} without populate
     */
    public static StorageHandler create(StorageHandler.Allocation allocation, int granule, boolean populate) {
        return new StorageHandler(allocation, granule, populate);
    }

    /**
     * An in-process space budget, shared by every region whose handler chain includes it.
     *
     * @param bytes the budget
     * @return a new quota
     * @throws IllegalArgumentException if {@code bytes} is negative
     */
    public static SpaceQuota quota(long bytes) {
        return new SpaceQuota(bytes);
    }

    /**
     * Starts an agent that keeps {@code granulesAhead} granules allocated ahead of each sequential writer,
     * idling with a backoff that parks up to 10 ms and is woken when work is queued.
     *
     * @param handler       a {@link StorageHandler.Allocation#FALLOCATE} handler; prepares every fault
     * @param granulesAhead how many granules to keep ahead, at least 1
     * @return the running wrapper; close it before {@code handler}
     * @throws IllegalArgumentException if {@code granulesAhead} is below 1
     */
    public static PrepareAhead prepareAhead(StorageHandler handler, int granulesAhead) {
        return new PrepareAhead(handler, granulesAhead, PrepareAhead.defaultIdleStrategy());
    }

    /**
     * Runs {@code first}, then each of {@code more}, for every fault. Their reservations are combined into
     * one that mkwrite consumes or releases as a whole. If a handler throws, the reservations of the ones
     * before it are released, then the failure reaches the writer: a quota followed by a storage handler
     * gives the budget back when the disk is full. Every handler's
     * {@link WriteFaultHandler#beforeWriteback beforeWriteback} runs, in order.
     *
     * <p>A handler that drops the region lock should come last: once the lock is dropped, mkwrite adopts
     * what was prepared on the retry without calling the chain again, so the handlers after it do not run
     * for that fault. {@link StorageHandler}s never drop the lock.
     *
     * @param first the first handler
     * @param more  the handlers after it, in order
     * @return the chained handler
     * @throws NullPointerException if a handler, or {@code more}, is null
     */
    public static WriteFaultHandler chain(WriteFaultHandler first, WriteFaultHandler... more) {
        Objects.requireNonNull(more, "more");
        WriteFaultHandler[] all = new WriteFaultHandler[more.length + 1];
        all[0] = Objects.requireNonNull(first, "first");
        for (int i = 0; i < more.length; i++) {
            all[i + 1] = Objects.requireNonNull(more[i], "handler " + (i + 1));
        }
        return new HandlerChain(all);
    }

    /**
     * Whether this JVM lets mkwrite make native calls ({@code fallocate}, {@code madvise}).
     *
     * @return true if native access is enabled for mkwrite's module and the platform is supported
     */
    public static boolean nativeAccessAvailable() {
        return NativeAccess.available();
    }

    /**
     * The command-line flag that enables native access for mkwrite here:
     * {@code --enable-native-access=ALL-UNNAMED} on the class path,
     * {@code --enable-native-access=dev.mkwrite.impl} on the module path.
     *
     * @return the flag
     */
    public static String nativeAccessFlag() {
        return NativeAccess.nativeAccessFlag();
    }
}
