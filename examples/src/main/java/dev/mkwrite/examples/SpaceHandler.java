package dev.mkwrite.examples;

import dev.mkwrite.WriteFaultHandler;

import java.io.IOException;

/**
 * A {@link WriteFaultHandler} that prepares real storage for the pages of one file, with counters the
 * examples print. Made by {@link Handlers}. Thread-safe: {@link #prepare} runs on any writing thread.
 * Close it after the region that uses it.
 */
public interface SpaceHandler extends WriteFaultHandler, AutoCloseable {

    /**
     * Bytes of storage prepared so far, by faults and by prepare-ahead.
     *
     * @return the byte count
     */
    long preparedBytes();

    /**
     * Of {@link #preparedBytes()}, the bytes prepared ahead of the writers, off the fault path.
     *
     * @return the byte count
     */
    long aheadBytes();

    /**
     * Faults that found their granule being prepared, ahead of the writers or by another fault, and
     * waited for it (with the region lock dropped when the fault allowed it).
     *
     * @return the count
     */
    long aheadWaits();

    /**
     * One line saying how space is prepared, for the examples' headers.
     *
     * @return the description
     */
    String describe();

    /**
     * Stops prepare-ahead and closes the file. Call it after the region is closed.
     *
     * @throws IOException if the file could not be closed
     */
    @Override
    void close() throws IOException;
}
