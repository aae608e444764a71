package dev.mkwrite.impl.storage;

import dev.mkwrite.NoSpaceException;
import dev.mkwrite.WriteFault;

import java.io.IOException;
import java.util.concurrent.atomic.LongAdder;

/**
 * A storage handler's counters, which its parts ({@link GranuleAllocator}, {@link ZeroFill}, the
 * handler's populate) add to, and the one place that counts a fault that ends in no space; the handler
 * reads them into its {@code Stats}. Thread-safe.
 */
final class StorageCounters {

    final LongAdder faults = new LongAdder();
    final LongAdder alreadyAllocated = new LongAdder();
    final LongAdder fallocates = new LongAdder();
    final LongAdder zeroFilledBytes = new LongAdder();
    final LongAdder populates = new LongAdder();
    final LongAdder noSpace = new LongAdder();
    final LongAdder aheadGranules = new LongAdder();
    final LongAdder noWaitRefusals = new LongAdder();

    /** A {@link NoSpaceException} for {@code fault}, counted. */
    NoSpaceException noSpace(String reason, WriteFault fault, Throwable cause) {
        noSpace.increment();
        return new NoSpaceException(reason, fault.path(), fault.offset(), fault.page(), cause);
    }

    /**
     * Counts and throws a failure made by {@link GranuleAllocator#fallocateFailure} or the handler's
     * populate if it is {@link NoSpaceException}; returns any other, an
     * {@link IOException}, for the caller to throw.
     */
    IOException failure(Exception e) {
        if (e instanceof NoSpaceException n) {
            noSpace.increment();
            throw n;
        }
        return (IOException) e;
    }
}
