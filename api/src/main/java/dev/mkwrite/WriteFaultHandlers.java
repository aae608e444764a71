package dev.mkwrite;

import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Objects;

/**
 * The built-in handlers that prepare storage, for code that imports only {@code dev.mkwrite}. They are
 * the implementation's ({@code dev.mkwrite.impl.storage.StorageHandlers} in mkwrite-impl), reached through
 * the {@link MappedRegionProvider} found on the path, and behave exactly like them. Start with
 * {@link #bestAvailable(int)}:
 *
 * <pre>{@code
 * try (WriteFaultHandlers.Storage storage = WriteFaultHandlers.bestAvailable(1 << 20);   // 1 MiB granules
 *      MappedRegion log = MappedRegion.builder(path).size(1L << 30).handler(storage).open()) {
 *     log.put(offset, record);          // NoSpaceException on a full disk, never InternalError
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
 *   <tr><td>{@link #zeroFill(int)}</td><td>a filesystem without fallocate; needs no native access</td></tr>
 *   <tr><td>{@link #chain(WriteFaultHandler, WriteFaultHandler...)}</td><td>to combine handlers, yours
 *   and these</td></tr>
 *   </tbody>
 * </table>
 * The implementation offers more (space quotas, preparing ahead of a sequential writer, statistics) in
 * {@code dev.mkwrite.impl.storage}.
 *
 * <h2>Native access</h2>
 * {@code fallocate} and {@code madvise} are native calls: they need
 * {@code --enable-native-access=ALL-UNNAMED} on the class path ({@code =dev.mkwrite.impl} on the module
 * path) on the command line of the application that uses your store. Without it each handler falls back
 * to zero-fill (ordinary writes: slower, just as safe), logs the flag to add once, and the JVM prints no
 * warning. {@link #nativeAccessAvailable()} says which it is; {@link #nativeAccessFlag()} gives the flag,
 * for a store's own start-up message.
 *
 * <h2>Lifetime</h2>
 * A {@link Storage} is thread-safe and may serve any number of regions (files). It opens no descriptor of
 * a file whose region it serves: it prepares pages through the region's ({@link WriteFault#file()}), and
 * forgets the file when the region closes. Close it after the regions it serves. Only a file it was called
 * for without a region (directly, as a unit test does) keeps a descriptor of the handler's own, until
 * {@link Storage#release(Path)} or {@link Storage#close()}.
 */
public final class WriteFaultHandlers {

    private WriteFaultHandlers() {
    }

    /**
     * A built-in handler that prepares storage, through the descriptor of the region it serves. Close it
     * after those regions. Thread-safe.
     */
    public interface Storage extends WriteFaultHandler, Closeable {

        /**
         * Forgets {@code path}: drops what is known about the file, and closes the handler's own descriptor of
         * it if it opened one (only for a file it was called for without a region: a region's close releases
         * its file itself). A later fault on the file starts afresh. Never call it while a region over the
         * file is open.
         *
         * @param path the file, as the region names it ({@link MappedRegion#path()})
         * @throws IOException if closing the descriptor failed
         */
        void release(Path path) throws IOException;

        /**
         * Write fault-around: when on, a fault also prepares the pages after its own that the same
         * allocation covers ({@link WriteFault#prepareAround}), so a sequential writer calls the handler
         * about once per 16 pages instead of once per page. Those pages stay clean until written, but keep
         * their blocks until then, until truncated, or until their region closes: a write that finds the
         * disk full is not given them. Off by default.
         *
         * @param on whether to prepare the pages around a fault
         * @return this handler
         */
        Storage faultAround(boolean on);

        /**
         * Closes every file the handler opened. Faults afterwards fail with {@link HandlerFailedException}.
         * Idempotent.
         *
         * @throws IOException if closing a descriptor failed; every file is closed anyway
         */
        @Override
        void close() throws IOException;
    }

    /**
     * The most protective handler this JVM can run: {@code fallocate} of {@code granule}-sized granules
     * plus {@code madvise(MADV_POPULATE_WRITE)} of each page with native access, otherwise zero-fill of
     * granules (logging once which flag enables native access).
     *
     * @param granule the allocation unit: a power of two from 4 KiB to 1 GiB; on a disk filesystem, at
     *                least the file's folio unit (128 KiB to 2 MiB; see docs/USING.md, Limits); one
     *                system call per granule
     * @return a new handler; close it after the regions it serves
     * @throws IllegalArgumentException if {@code granule} is not valid
     * @throws IllegalStateException    if no implementation is on the path
     */
    public static Storage bestAvailable(int granule) {
        return Providers.provider().bestAvailable(granule);
    }

    /**
     * Reserves the blocks of each page's granule with {@code fallocate(FALLOC_FL_KEEP_SIZE)}; zero-fills
     * where that is unavailable.
     *
     * @param granule the allocation unit: a power of two from 4 KiB to 1 GiB; on a disk filesystem, at
     *                least the file's folio unit (128 KiB to 2 MiB; see docs/USING.md, Limits)
     * @return a new handler; close it after the regions it serves
     * @throws IllegalArgumentException if {@code granule} is not valid
     * @throws IllegalStateException    if no implementation is on the path
     */
    public static Storage fallocate(int granule) {
        return Providers.provider().fallocate(granule);
    }

    /**
     * Runs the filesystem's {@code ->page_mkwrite} for each page ahead of the store, with
     * {@code madvise(MADV_POPULATE_WRITE)}; zero-fills the page where that is unavailable.
     *
     * @return a new handler; close it after the regions it serves
     * @throws IllegalStateException if no implementation is on the path
     */
    public static Storage populate() {
        return Providers.provider().populate();
    }

    /**
     * Writes zeros into the holes of each page's granule, never over data; needs no native access.
     *
     * @param granule the allocation unit: a power of two from 4 KiB to 1 GiB; on a disk filesystem, at
     *                least the file's folio unit (128 KiB to 2 MiB; see docs/USING.md, Limits)
     * @return a new handler; close it after the regions it serves
     * @throws IllegalArgumentException if {@code granule} is not valid
     * @throws IllegalStateException    if no implementation is on the path
     */
    public static Storage zeroFill(int granule) {
        return Providers.provider().zeroFill(granule);
    }

    /**
     * Runs {@code first}, then each of {@code more}, for every fault. Their reservations are combined into
     * one that mkwrite consumes or releases as a whole. If a handler throws, the reservations of the ones
     * before it are released, then the failure reaches the writer. Every handler's
     * {@link WriteFaultHandler#beforeWriteback beforeWriteback} runs, in order. A handler that drops the
     * region lock should come last: the retry adopts what was prepared without calling the chain again.
     * The chain does not close the handlers it runs; close each yourself.
     *
     * @param first the first handler
     * @param more  the handlers after it, in order
     * @return the chained handler
     * @throws NullPointerException  if a handler is null
     * @throws IllegalStateException if no implementation is on the path
     */
    public static WriteFaultHandler chain(WriteFaultHandler first, WriteFaultHandler... more) {
        Objects.requireNonNull(first, "first");
        Objects.requireNonNull(more, "more");
        for (int i = 0; i < more.length; i++) {
            Objects.requireNonNull(more[i], "handler " + (i + 1));
        }
        return Providers.provider().chain(first, more.clone());
    }

    /**
     * Whether this JVM lets mkwrite make native calls ({@code fallocate}, {@code madvise}).
     *
     * @return true if native access is enabled for mkwrite and the platform is supported
     * @throws IllegalStateException if no implementation is on the path
     */
    public static boolean nativeAccessAvailable() {
        return Providers.provider().nativeAccessAvailable();
    }

    /**
     * The command-line flag that enables native access for mkwrite in this JVM:
     * {@code --enable-native-access=ALL-UNNAMED} on the class path,
     * {@code --enable-native-access=dev.mkwrite.impl} on the module path.
     *
     * @return the flag
     * @throws IllegalStateException if no implementation is on the path
     */
    public static String nativeAccessFlag() {
        return Providers.provider().nativeAccessFlag();
    }
}
