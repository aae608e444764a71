package dev.mkwrite.impl.storage;

import dev.mkwrite.Reservation;
import dev.mkwrite.StorageFile;
import dev.mkwrite.WriteFault;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/** A {@link WriteFault} for unit tests that call handlers directly, without a region. */
final class TestFault implements WriteFault {

    private final Path path;
    private final long page;
    private final int pageSize;
    private final int length;
    private final long generation;
    private final MemorySegment memory;
    private boolean noWait;
    private StorageFile file;

    TestFault(Path path, long page, int pageSize, int length, long generation, MemorySegment memory) {
        this.path = path;
        this.page = page;
        this.pageSize = pageSize;
        this.length = length;
        this.generation = generation;
        this.memory = memory;
    }

    static TestFault page(Path path, long page) {
        return new TestFault(path, page, 4096, 4096, 0, MemorySegment.NULL);
    }

    TestFault noWait() {
        this.noWait = true;
        return this;
    }

    /** The fault comes with {@code file}, as a region's fault comes with the region's file. */
    TestFault through(StorageFile file) {
        this.file = file;
        return this;
    }

    @Override
    public Path path() {
        return path;
    }

    @Override
    public StorageFile file() {
        return file;
    }

    @Override
    public long page() {
        return page;
    }

    @Override
    public long offset() {
        return page * pageSize;
    }

    @Override
    public int length() {
        return length;
    }

    @Override
    public MemorySegment memory() {
        return memory;
    }

    @Override
    public long generation() {
        return generation;
    }

    @Override
    public boolean isRetry() {
        return false;
    }

    @Override
    public boolean isNoWait() {
        return noWait;
    }

    @Override
    public boolean mayDropLock() {
        return false;
    }

    @Override
    public void dropLock() {
        throw new IllegalStateException("a test fault cannot drop a lock");
    }

    @Override
    public void cacheReservation(Reservation reservation) {
        throw new IllegalStateException("a test fault holds no lock to drop");
    }

    @Override
    public Reservation cachedReservation() {
        return null;
    }
}
