package dev.mkwrite.examples;

import dev.mkwrite.impl.storage.StorageHandler;
import dev.mkwrite.impl.storage.StorageHandlers;

/**
 * The storage handlers of the examples, all mkwrite's built-in ones ({@link StorageHandlers}), and the
 * figures the examples print about them.
 *
 * <p>The examples run from a jar whose manifest says {@code Enable-Native-Access: ALL-UNNAMED}, so
 * {@code fallocate(2)} is available; without native access (for example from an IDE without
 * {@code --enable-native-access=ALL-UNNAMED}) the built-in handlers zero-fill instead and log once which
 * flag to add.
 */
public final class Handlers {

    private Handlers() {
    }

    /**
     * The handler that reserves storage before each page's first write: {@code fallocate} of the
     * page's granule, so that a full disk surfaces as {@link dev.mkwrite.NoSpaceException} at the write
     * that needed the space instead of a crash at a store. One handler serves every file of an example;
     * close it after their regions.
     *
     * @param granule bytes reserved at a time: a power of two from 4 KiB to 1 GiB
     * @return the handler
     */
    public static StorageHandler storage(int granule) {
        return StorageHandlers.fallocate(granule);
    }

    /**
     * Bytes of storage the handler reserved so far: a granule per {@code fallocate} call (clipped to the
     * end of the file by the handler, so this is an upper bound) plus the bytes it zero-filled.
     *
     * @param storage the handler
     * @return the byte count
     */
    public static long reservedBytes(StorageHandler storage) {
        StorageHandler.Stats s = storage.stats();
        return s.fallocates() * storage.granule() + s.zeroFilledBytes();
    }

    /**
     * Bytes the handler reserved ahead of the writers, on a prepare-ahead agent's thread.
     *
     * @param storage the handler a {@link dev.mkwrite.impl.storage.PrepareAhead} wraps
     * @return the byte count
     */
    public static long aheadBytes(StorageHandler storage) {
        return storage.stats().aheadGranules() * storage.granule();
    }
}
