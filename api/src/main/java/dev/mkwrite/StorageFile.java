package dev.mkwrite;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * The region's file as a {@link WriteFaultHandler} prepares it: through the region's own descriptor, so a
 * handler opens no descriptor of its own and keeps none after the region closed. The kernel's
 * {@code ->page_mkwrite} works on the {@code struct file} of the mapping in the same way. Obtained from
 * {@link WriteFault#file()}.
 *
 * <h2>What it may do</h2>
 * Read the file, write into it, allocate blocks and give blocks back, all without changing its size:
 * the region owns the size (grow and truncate), and each operation here leaves whatever lies past the end
 * of the file alone. Allocation and punching report the expected conditions, no space and no support, as
 * an {@link Outcome}; anything else fails with an {@link IOException} that names the call and the errno.
 *
 * <h2>Lifetime and threads</h2>
 * Valid from the fault it came with until the region closes; afterwards every call fails with
 * {@link java.nio.channels.ClosedChannelException}. The region's close waits for calls in progress, so a
 * descriptor is never closed under a call. Thread-safe: a handler may use it outside the fault, on a thread
 * of its own (to allocate ahead of writers, say). An interrupt of the calling thread never closes the file:
 * a call runs to its end and the interrupt status is kept.
 */
public interface StorageFile {

    /** How an allocation or a punch ended, where it did not fail. */
    enum Outcome {
        /** The range is allocated (or, for a punch, deallocated). */
        DONE,
        /** The filesystem has no space ({@code ENOSPC}); it may have kept part of the range allocated. */
        NO_SPACE,
        /** The user's or group's disk quota is exhausted ({@code EDQUOT}). */
        OVER_QUOTA,
        /**
         * The filesystem (or, without native access, the JVM) cannot do it; nothing changed. Fall back to
         * writing zeros.
         */
        UNSUPPORTED
    }

    /**
     * The region's file.
     *
     * @return the path the region was opened with
     */
    Path path();

    /**
     * The file's size now.
     *
     * @return the size in bytes
     * @throws IOException if it cannot be read, or the region is closed
     */
    long size() throws IOException;

    /**
     * Allocates the blocks of {@code [offset, offset + length)} without changing the file's size
     * ({@code fallocate(FALLOC_FL_KEEP_SIZE)}): later stores into the range need no new space.
     *
     * @param offset the first byte
     * @param length bytes, at least one
     * @return {@link Outcome#DONE}, or why not
     * @throws IOException on any other failure, or if the region is closed
     */
    Outcome allocate(long offset, long length) throws IOException;

    /**
     * Deallocates the blocks of {@code [offset, offset + length)} without changing the file's size
     * ({@code fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)}): the range reads as zeros afterwards.
     * Never call it for bytes a writer may store into.
     *
     * @param offset the first byte
     * @param length bytes, at least one
     * @return {@link Outcome#DONE}, or {@link Outcome#UNSUPPORTED}
     * @throws IOException on any other failure, or if the region is closed
     */
    Outcome punchHole(long offset, long length) throws IOException;

    /**
     * Reads bytes at {@code position} into {@code dst}, as {@link java.nio.channels.FileChannel#read(ByteBuffer,
     * long)} does.
     *
     * @param dst      the buffer
     * @param position the file offset
     * @return the bytes read, possibly fewer than remain in {@code dst}; -1 at the end of the file
     * @throws IOException if reading fails, or the region is closed
     */
    int read(ByteBuffer dst, long position) throws IOException;

    /**
     * Writes the bytes of {@code src} at {@code position}, as {@link java.nio.channels.FileChannel#write(
     * ByteBuffer, long)} does. Never write at or past the end of the file: that would change its size.
     *
     * @param src      the buffer
     * @param position the file offset
     * @return the bytes written, possibly fewer than remain in {@code src}
     * @throws IOException if writing fails (one whose message says the device is full where it is), or the
     *                     region is closed
     */
    int write(ByteBuffer src, long position) throws IOException;
}
