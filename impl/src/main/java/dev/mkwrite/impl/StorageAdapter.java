package dev.mkwrite.impl;

import dev.mkwrite.FaultResult;
import dev.mkwrite.WriteFault;
import dev.mkwrite.WriteFaultHandlers;
import dev.mkwrite.impl.storage.StorageHandler;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * A built-in {@link StorageHandler} as the api's {@link WriteFaultHandlers.Storage}, for code that imports
 * only {@code dev.mkwrite}. Every call goes to the storage handler, unchanged.
 *
 * <p>Forwards every method of {@link dev.mkwrite.WriteFaultHandler}, default or not: add each new one here.
 */
final class StorageAdapter implements WriteFaultHandlers.Storage {

    private final StorageHandler storage;

    StorageAdapter(StorageHandler storage) {
        this.storage = storage;
    }

    /** The storage handler every call goes to. */
    StorageHandler storage() {
        return storage;
    }

    @Override
    public FaultResult prepare(WriteFault fault) throws IOException, InterruptedException {
        return storage.prepare(fault);
    }

    @Override
    public void beforeWriteback(long page, MemorySegment contents) {
        storage.beforeWriteback(page, contents);
    }

    @Override
    public boolean needsStablePages() {
        return storage.needsStablePages();
    }

    @Override
    public boolean preparesOverwrites(Path path) {
        return storage.preparesOverwrites(path);
    }

    @Override
    public void regionClosed(Path path) {
        storage.regionClosed(path);
    }

    @Override
    public void release(Path path) throws IOException {
        storage.release(path);
    }

    @Override
    public WriteFaultHandlers.Storage faultAround(boolean on) {
        storage.faultAround(on);
        return this;
    }

    @Override
    public void close() throws IOException {
        storage.close();
    }

    @Override
    public String toString() {
        return storage.toString();
    }
}
