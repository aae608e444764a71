package dev.mkwrite;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Objects;

/**
 * A {@link WriteFault} that forwards every call to another. Extend it to decorate the fault a handler
 * passes on to a handler it wraps: a chain that combines the reservations its handlers cache, a wrapper
 * that counts them, a test double. Override only what changes.
 *
 * <p>Like the fault it wraps, an instance is valid only during the {@link WriteFaultHandler#prepare}
 * call it was made for.
 *
 * <p>Fault-around is not forwarded: {@link #aroundPages()} is zero, because a decorator's handler may
 * prepare less than the handler it wraps (a chain of two handlers may only take the pages both cover).
 * Override both {@code aroundPages} and {@code prepareAround} to pass it on.
 */
public abstract class ForwardingWriteFault implements WriteFault {

    private final WriteFault delegate;

    /**
     * Wraps {@code delegate}.
     *
     * @param delegate the fault every call goes to
     */
    protected ForwardingWriteFault(WriteFault delegate) {
        this.delegate = Objects.requireNonNull(delegate, "delegate");
    }

    /**
     * The wrapped fault.
     *
     * @return the fault every call goes to
     */
    protected final WriteFault delegate() {
        return delegate;
    }

    @Override
    public Path path() {
        return delegate.path();
    }

    @Override
    public StorageFile file() {
        return delegate.file();
    }

    @Override
    public long page() {
        return delegate.page();
    }

    @Override
    public long offset() {
        return delegate.offset();
    }

    @Override
    public int length() {
        return delegate.length();
    }

    @Override
    public MemorySegment memory() {
        return delegate.memory();
    }

    @Override
    public long generation() {
        return delegate.generation();
    }

    @Override
    public boolean isRetry() {
        return delegate.isRetry();
    }

    @Override
    public boolean isNoWait() {
        return delegate.isNoWait();
    }

    @Override
    public boolean mayDropLock() {
        return delegate.mayDropLock();
    }

    @Override
    public void dropLock() {
        delegate.dropLock();
    }

    @Override
    public void cacheReservation(Reservation reservation) {
        delegate.cacheReservation(reservation);
    }

    @Override
    public Reservation cachedReservation() {
        return delegate.cachedReservation();
    }

    /**
     * Offers nothing: see the class documentation.
     *
     * @return zero
     */
    @Override
    public int aroundPages() {
        return 0;
    }

    @Override
    public String toString() {
        return delegate.toString();
    }
}
