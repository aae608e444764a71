package dev.mkwrite.impl.os;

import dev.mkwrite.StorageFile;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The descriptors of one open file, shared by everything that works on it: a region and the storage
 * handler that prepares its pages ({@link StorageFile}), or a handler's own when it is called outside a
 * region. A native descriptor where native access is enabled, a {@link FileChannel} where it is not or
 * where {@code FileChannel.map} needs one (a MAPPED_BYTE_BUFFER region); both only in that last case.
 * Every operation goes through the native descriptor when there is one, and otherwise through the
 * channel.
 *
 * <h2>No readahead</h2>
 * The native descriptor reads without readahead ({@link PosixNative#adviseRandom}), so what its reads
 * bring into the page cache comes in single pages. Every give-back reads the units it may punch through
 * it first ({@link FileZeros#punchZeros}), and readahead, growing with reads that walk the file, fills
 * the page cache with large folios (Linux 6.16 on ext4): a folio left holding a written page and a hole
 * punched beside it (a dirty folio does not split) makes ext4's {@code ->page_mkwrite}, which covers the
 * whole folio, need a block for the hole at the next write of the page after its writeback; with the
 * disk full that store dies with SIGBUS, though the page has its block. Single pages keep every hole in
 * a folio of its own. A channel alone cannot be advised: without native access nothing is punched.
 *
 * <h2>Interrupts</h2>
 * An interrupt never closes a descriptor here: native calls ignore interrupts (EINTR is retried), and the
 * channel's blocking calls run on an I/O thread ({@link Uninterruptible}, inline when the caller is one
 * already). A call runs to its end; the caller keeps its interrupt status.
 *
 * <h2>Closing</h2>
 * Each call holds a read lock for its duration; {@link #close} takes the write lock, so it waits for calls
 * in progress, and every call after it fails with {@link ClosedChannelException}: a descriptor number is
 * never used after its close (it may name another file by then) and never closed twice. Thread-safe.
 */
public final class SharedFile implements StorageFile {

    private final Path path;
    /** The native descriptor, or -1. */
    private final int fd;
    /** The channel, or null. */
    private final FileChannel channel;
    private final ReentrantReadWriteLock uses = new ReentrantReadWriteLock();
    /**
     * Held shared by {@link #allocate}, exclusive by {@link #truncate}: an allocation clamped to the file's
     * size keeps to it. Prepare-ahead allocates without the region lock, from a size it read before a
     * truncate; unclamped, its {@code fallocate(KEEP_SIZE)} held blocks past the new end that no give-back
     * walks (they stop at the end of the file), for as long as the file lived.
     */
    private final ReentrantReadWriteLock extent = new ReentrantReadWriteLock();
    /** Written under the write lock; read under the read lock, or volatile by {@link #isOpen()}. */
    private volatile boolean closed;

    /**
     * Takes over {@code fd} and {@code channel}, at least one of them, which {@link #close} closes. Turns
     * readahead off for {@code fd} (see "No readahead").
     *
     * @param path    the file, for messages
     * @param fd      a native descriptor of it, open for reading and writing, or -1
     * @param channel a channel of it, open for reading and writing, or null
     */
    public SharedFile(Path path, int fd, FileChannel channel) {
        if (fd < 0 && channel == null) {
            throw new IllegalArgumentException("a file needs a descriptor or a channel: " + path);
        }
        this.path = path;
        this.fd = fd;
        this.channel = channel;
        if (fd >= 0) {
            PosixNative.adviseRandom(fd); // advice: a kernel that ignores it leaves readahead on
        }
    }

    /**
     * Opens {@code path} once, for a user that has no region's file to share: a native descriptor with
     * native access, else a channel.
     *
     * @param path the file, which must exist
     * @param why  what opens it, for the message of a failure
     * @return the file
     * @throws IOException if it cannot be opened
     */
    public static SharedFile open(Path path, String why) throws IOException {
        if (!NativeAccess.available()) {
            return new SharedFile(path, -1, FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE));
        }
        int r = PosixNative.open(path);
        if (r < 0) {
            throw new ErrnoException("open", -r, path, 0, 0, why);
        }
        return new SharedFile(path, r, null);
    }

    @Override
    public Path path() {
        return path;
    }

    /**
     * The native descriptor, for the owner's own calls (mmap, the file lock), or -1.
     *
     * @return the descriptor, valid until {@link #close}
     */
    public int fd() {
        return fd;
    }

    /**
     * The channel, for the owner's {@code FileChannel.map} and {@code FileLock}, or null.
     *
     * @return the channel, open until {@link #close}
     */
    public FileChannel channel() {
        return channel;
    }

    @Override
    public long size() throws IOException {
        begin();
        try {
            if (fd < 0) {
                return Uninterruptible.call(channel::size);
            }
            long r = PosixNative.size(fd);
            if (r < 0) {
                throw new ErrnoException("lseek", (int) -r, path, 0, 0, null);
            }
            return r;
        } finally {
            end();
        }
    }

    /**
     * Sets the file's size ({@code ftruncate}, or without a native descriptor {@link FileChannel#truncate},
     * which only shrinks). For the region, which owns the size.
     *
     * @param size the new size
     * @throws IOException if it fails
     */
    public void truncate(long size) throws IOException {
        extent.writeLock().lock();
        try {
            truncateLocked(size);
        } finally {
            extent.writeLock().unlock();
        }
    }

    private void truncateLocked(long size) throws IOException {
        begin();
        try {
            if (fd < 0) {
                Uninterruptible.run(() -> channel.truncate(size));
                return;
            }
            int r = PosixNative.ftruncate(fd, size);
            if (r < 0) {
                throw new ErrnoException("ftruncate", -r, path, 0, size, null);
            }
        } finally {
            end();
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Clamped to the file's size, atomically with respect to {@link #truncate}: a range wholly past the
     * end allocates nothing and answers {@link Outcome#DONE} (there is nothing of it to write into).
     */
    @Override
    public Outcome allocate(long offset, long length) throws IOException {
        if (fd < 0) {
            return fallocate(PosixNative.FALLOC_FL_KEEP_SIZE, "fallocate", offset, length); // UNSUPPORTED, or closed
        }
        extent.readLock().lock();
        try {
            long end = Math.min(offset + length, size());
            if (end <= offset) {
                return Outcome.DONE;
            }
            return fallocate(PosixNative.FALLOC_FL_KEEP_SIZE, "fallocate", offset, end - offset);
        } finally {
            extent.readLock().unlock();
        }
    }

    @Override
    public Outcome punchHole(long offset, long length) throws IOException {
        return fallocate(PosixNative.FALLOC_FL_PUNCH_HOLE | PosixNative.FALLOC_FL_KEEP_SIZE, "fallocate(PUNCH_HOLE)",
                offset, length);
    }

    /**
     * Makes {@code [offset, offset + length)} read as zero and keeps its blocks: {@code fallocate(ZERO_RANGE |
     * KEEP_SIZE)}, a change of the extents, journaled as a punch is. {@link Outcome#UNSUPPORTED} where the file
     * system cannot (tmpfs), or without native access.
     */
    public Outcome zeroRange(long offset, long length) throws IOException {
        return fallocate(PosixNative.FALLOC_FL_ZERO_RANGE | PosixNative.FALLOC_FL_KEEP_SIZE, "fallocate(ZERO_RANGE)",
                offset, length);
    }

    private Outcome fallocate(int mode, String call, long offset, long length) throws IOException {
        begin();
        try {
            if (fd < 0) {
                return Outcome.UNSUPPORTED;
            }
            int r = PosixNative.fallocate(fd, mode, offset, length);
            return switch (-r) {
                case 0 -> Outcome.DONE;
                case Errno.ENOSPC -> Outcome.NO_SPACE;
                case Errno.EDQUOT -> Outcome.OVER_QUOTA;
                case Errno.EOPNOTSUPP, Errno.ENOSYS -> Outcome.UNSUPPORTED;
                default -> throw new ErrnoException(call, -r, path, offset, length, Errno.fallocateHint(-r));
            };
        } finally {
            end();
        }
    }

    @Override
    public int read(ByteBuffer dst, long position) throws IOException {
        return transfer(dst, position, false);
    }

    @Override
    public int write(ByteBuffer src, long position) throws IOException {
        return transfer(src, position, true);
    }

    /** One pread or pwrite through the native descriptor, or a positional channel read or write. */
    private int transfer(ByteBuffer buffer, long position, boolean write) throws IOException {
        begin();
        try {
            if (fd < 0) {
                return Uninterruptible.call(() -> write ? channel.write(buffer, position)
                        : channel.read(buffer, position));
            }
            int n = buffer.remaining();
            if (n == 0) {
                return 0;
            }
            long r;
            if (buffer.isDirect()) {
                r = PosixNative.transfer(fd, MemorySegment.ofBuffer(buffer), position, write);
            } else {
                try (Arena arena = Arena.ofConfined()) { // a heap buffer cannot be handed to the C library
                    MemorySegment bounce = arena.allocate(n);
                    if (write) {
                        bounce.copyFrom(MemorySegment.ofBuffer(buffer));
                    }
                    r = PosixNative.transfer(fd, bounce, position, write);
                    if (!write && r > 0) {
                        MemorySegment.copy(bounce, 0, MemorySegment.ofBuffer(buffer), 0, r);
                    }
                }
            }
            if (r < 0) {
                throw new ErrnoException(write ? "pwrite" : "pread", (int) -r, path, position, n, null);
            }
            if (r == 0 && !write) {
                return -1; // the end of the file
            }
            buffer.position(buffer.position() + (int) r);
            return (int) r;
        } finally {
            end();
        }
    }

    /**
     * Whether {@link #close} has not run yet.
     *
     * @return true while open
     */
    public boolean isOpen() {
        return !closed; // volatile
    }

    /**
     * Closes the channel and the native descriptor once the calls in progress ended. Idempotent: the
     * second call closes nothing, since a descriptor's number may belong to another file by then.
     *
     * @param failure an earlier failure of the caller's, or null
     * @return {@code failure}, or the first failure of closing, the others suppressed
     */
    public IOException close(IOException failure) {
        uses.writeLock().lock();
        try {
            if (closed) {
                return failure;
            }
            closed = true; // volatile
            IOException first = failure;
            if (channel != null) {
                try {
                    channel.close();
                } catch (IOException e) {
                    first = Errno.firstOf(first, e);
                }
            }
            if (fd >= 0) {
                int r = PosixNative.close(fd);
                if (r < 0) {
                    first = Errno.firstOf(first, new ErrnoException("close", -r, path, 0, 0, null));
                }
            }
            return first;
        } finally {
            uses.writeLock().unlock();
        }
    }

    private void begin() throws ClosedChannelException {
        uses.readLock().lock();
        if (closed) {
            uses.readLock().unlock();
            throw new ClosedChannelException();
        }
    }

    private void end() {
        uses.readLock().unlock();
    }

    @Override
    public String toString() {
        return "SharedFile[" + path + (fd >= 0 ? ", fd " + fd : "") + (channel != null ? ", channel" : "")
                + (closed ? ", closed" : "") + "]";
    }
}
