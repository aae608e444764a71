package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.impl.os.Errno;
import dev.mkwrite.impl.os.LazyLogger;
import dev.mkwrite.impl.os.NativeAccess;
import dev.mkwrite.impl.os.PosixNative;
import dev.mkwrite.impl.os.Uninterruptible;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One mapping of the region's whole file. Both backings expose the mapping as a {@link MemorySegment},
 * so the protocol code is shared; they differ in what a span hands out natively, in how a range is
 * forced, and in whether the mapping can be unmapped.
 *
 * <p>A mapping is replaced only under the region lock held exclusive. A shrink unmaps the old one after
 * every pin drained and every writeback ended; a grow retires it, and it is unmapped once the writers and
 * flushes that were using it have left (see {@code Region.retire}). Either way nothing of mkwrite's own
 * touches it after {@link #unmap()}.
 */
abstract sealed class Mapping permits Mapping.NativeMapping, Mapping.SegmentMapping, Mapping.BufferMapping {

    /**
     * The whole mapping, a field of the base class so a write reaches it with one load and no type check:
     * every write reads it.
     */
    private final MemorySegment segment;
    /** Flushes that write back through this mapping; each takes it under the region lock. */
    private final AtomicInteger users = new AtomicInteger();

    Mapping(MemorySegment segment) {
        this.segment = segment;
    }

    /** A flush starts to use the mapping. Caller holds the region lock, so the mapping is current. */
    void use() {
        users.incrementAndGet();
    }

    /** The flush is done with it. */
    void release() {
        users.decrementAndGet();
    }

    /** Flushes still using it; once a mapping is replaced, this only falls. */
    int users() {
        return users.get();
    }

    /** Whether {@link #unmap()} releases anything; a buffer's mapping lives until it is collected. */
    abstract boolean unmaps();

    /** The whole mapping. */
    final MemorySegment segment() {
        return segment;
    }

    /** A buffer over {@code [offset, offset + length)}, position zero: a view of the segment. */
    ByteBuffer buffer(long offset, long length) {
        if (length > Integer.MAX_VALUE) {
            throw new UnsupportedOperationException("a span of " + length
                    + " bytes does not fit a ByteBuffer; use segment()");
        }
        return segment().asSlice(offset, length).asByteBuffer();
    }

    /** A segment over {@code [offset, offset + length)}. */
    MemorySegment segment(long offset, long length) {
        return segment().asSlice(offset, length);
    }

    /**
     * The whole mapping for reading without the region lock: memory that {@link #unmap()} unmaps by
     * closing a shared arena, so a read that races the unmap ends with {@link IllegalStateException},
     * never with a fault, and a read-only view of it dies the same way. The segment mappings read their
     * own memory; a buffer mapping, which nothing can unmap, keeps a read-only companion mapping.
     */
    MemorySegment readSegment() throws IOException {
        return segment();
    }

    /** {@link #readSegment()} if it is mapped already, else null; maps nothing. */
    MemorySegment mappedReadSegment() {
        return segment();
    }

    /** Set once the kernel refused MADV_POPULATE_WRITE (before Linux 5.14): populate is then a no-op. */
    private static volatile boolean populateUnsupported;

    /**
     * Write-faults the page tables of {@code [offset, offset + length)} in now ({@code MADV_POPULATE_WRITE}),
     * so the first stores there take no kernel fault. Advisory: without native access, on an old kernel,
     * or if the kernel cannot (no space, say), nothing happens and the stores fault as usual. The caller
     * pins the range, so the mapping stays.
     */
    void populate(long offset, long length) {
        if (length <= 0 || populateUnsupported || !NativeAccess.available()) {
            return;
        }
        // madvise takes page-aligned addresses (EINVAL otherwise): the OS pages the range touches, within
        // the mapping. The caller pins the region pages of the range, which hold those OS pages.
        long osPage = OsPage.size();
        long from = offset & -osPage;
        long to = Math.min(segment().byteSize(), (offset + length + osPage - 1) & -osPage);
        int r = PosixNative.madvise(segment().asSlice(from, to - from), to - from, PosixNative.MADV_POPULATE_WRITE);
        if (r == -dev.mkwrite.impl.os.Errno.EINVAL) {
            populateUnsupported = true; // aligned, so the kernel does not know the advice
        }
    }

    /** Whether {@link #populate} still asks the kernel: for tests. */
    static boolean populateSupported() {
        return !populateUnsupported;
    }

    /** Forces {@code [offset, offset + length)} to storage (msync). */
    final void force(long offset, long length) throws IOException {
        if (length != 0) {
            forceRange(offset, length);
        }
    }

    /** {@link #force} of a range of at least one byte. */
    abstract void forceRange(long offset, long length) throws IOException;

    /**
     * Releases the mapping, waiting while a native call holds its arena: a channel read or write of a read
     * view's buffer (a view of this mapping) acquires the arena for the whole call, and a shared arena so
     * acquired cannot be closed (the JDK's {@code IllegalStateException}). Ignores interrupts, keeping the
     * thread's status. Idempotent.
     */
    abstract void unmap();

    /** {@link #unmap()} unless a native call holds the arena now: then nothing, and false. */
    abstract boolean tryUnmap();

    /** How long {@link #closeWhenFree} waits before it says, once, what it waits for. */
    private static final long WAIT_NOTICE_NANOS = 1_000_000_000L;
    private static final LazyLogger WAITS = new LazyLogger(Mapping.class);

    /** Closes {@code arena}, waiting while a native call holds it (see {@link #unmap()}). */
    static void closeWhenFree(Arena arena, long bytes) {
        long start = System.nanoTime();
        long park = 10_000;
        boolean interrupted = false;
        boolean told = false;
        while (!tryClose(arena)) {
            if (!told && System.nanoTime() - start > WAIT_NOTICE_NANOS) {
                told = true;
                WAITS.get().warn("unmapping a mapping of {} bytes waits for a channel operation on a read view of"
                        + " it (a read or write of a view's buffer) to end", bytes);
            }
            java.util.concurrent.locks.LockSupport.parkNanos(park);
            park = Math.min(2 * park, 10_000_000);
            interrupted |= Thread.interrupted();
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** Closes {@code arena} unless a native call holds it now; true if it is closed (also if it was already). */
    static boolean tryClose(Arena arena) {
        try {
            arena.close();
            return true;
        } catch (IllegalStateException e) {
            return !arena.scope().isAlive(); // closed already; else acquired
        }
    }

    /**
     * Extends the file to {@code newSize} if this mapping already covers it, so a grow needs no new
     * mapping. Lock held exclusive.
     *
     * @return false if the mapping cannot cover {@code newSize}; nothing changed
     */
    boolean extendInPlace(long newSize) throws IOException {
        return false;
    }

    /** Whether {@link #extendInPlace} would cover {@code newSize}: the mapping has room for it. */
    boolean hasRoomFor(long newSize) {
        return false;
    }

    /**
     * Maps the region's file, extending it sparsely to {@code size} if it is shorter. With the region's
     * native descriptor ({@code fd >= 0}), a MEMORY_SEGMENT region is mapped by {@link NativeMapping},
     * with room to grow, and needs no channel; otherwise through {@code FileChannel.map}, which needs
     * {@code channel}.
     */
    static Mapping map(Backing backing, FileChannel channel, int fd, long size) throws IOException {
        return switch (backing) {
            case MEMORY_SEGMENT -> fd >= 0 && NativeMapping.usable()
                    ? NativeMapping.map(fd, size) : SegmentMapping.map(channel, size);
            case MAPPED_BYTE_BUFFER -> BufferMapping.map(channel, size);
        };
    }

    /**
     * Whether a region of {@code backing} is mapped without a channel, given a native descriptor: a
     * MEMORY_SEGMENT region with native access ({@link NativeMapping}). A MAPPED_BYTE_BUFFER can only come
     * from {@code FileChannel.map}.
     */
    static boolean mapsNatively(Backing backing) {
        return backing == Backing.MEMORY_SEGMENT && NativeMapping.usable();
    }

    /**
     * One {@code mmap(2)} of a capacity beyond the file's size (the next power of two, at least
     * {@value #MIN_CAPACITY} bytes), over the region's native descriptor: a grow within the capacity is one
     * {@code ftruncate(2)}, with no new mapping, no unmap and no handshake. Bytes past the end of the file
     * are never touched (they would raise SIGBUS): the region checks every access against its size.
     */
    static final class NativeMapping extends Mapping {
        static final long MIN_CAPACITY = 1L << 20;
        /** Tests only: map through FileChannel.map even with native access, to keep that path tested. */
        private static final boolean CHANNEL_MAPS_ONLY = Boolean.getBoolean("dev.mkwrite.impl.testing.channelMaps");
        private static final LazyLogger LOG = new LazyLogger(NativeMapping.class);

        private final Arena arena;
        private final int fd;

        private NativeMapping(Arena arena, MemorySegment segment, int fd) {
            super(segment);
            this.arena = arena;
            this.fd = fd;
        }

        static boolean usable() {
            return NativeAccess.available() && !CHANNEL_MAPS_ONLY;
        }

        static long capacity(long size) {
            if (size <= MIN_CAPACITY) {
                return MIN_CAPACITY;
            }
            long pow2 = Long.highestOneBit(size - 1) << 1;
            return pow2 > 0 ? pow2 : size;
        }

        /** Maps the file of the region's descriptor {@code fd}, which the region owns and closes. */
        static Mapping map(int fd, long size) throws IOException {
            Arena arena = Arena.ofShared();
            boolean success = false;
            try {
                long current = PosixNative.size(fd);
                if (current < 0) {
                    throw new dev.mkwrite.impl.os.ErrnoException("lseek", (int) -current, null, 0, 0, null);
                }
                if (current < size) {
                    truncate(fd, size, "the region's file");
                }
                long capacity = capacity(size);
                MemorySegment segment;
                try {
                    segment = PosixNative.mapShared(fd, capacity, arena);
                } catch (IOException e) {
                    LOG.get().debug("mapping {} bytes failed ({}); mapping {} only", capacity, e.getMessage(), size);
                    segment = PosixNative.mapShared(fd, Math.max(size, 1), arena);
                }
                success = true;
                return new NativeMapping(arena, segment, fd);
            } finally {
                if (!success) {
                    arena.close();
                }
            }
        }

        private static void truncate(int fd, long size, Object what) throws IOException {
            int r = PosixNative.ftruncate(fd, size);
            if (r < 0) {
                throw new IOException("ftruncate of " + what + " to " + size + " bytes failed: "
                        + Errno.name(-r) + " (" + Errno.describe(-r) + ")");
            }
        }

        @Override
        boolean hasRoomFor(long newSize) {
            return newSize <= segment().byteSize();
        }

        @Override
        boolean extendInPlace(long newSize) throws IOException {
            if (!hasRoomFor(newSize)) {
                return false;
            }
            truncate(fd, newSize, "the region's file");
            return true;
        }

        @Override
        void forceRange(long offset, long length) throws IOException {
            int r = PosixNative.msync(segment(), offset, length, OsPage.size());
            if (r < 0) {
                throw new IOException("msync of [" + offset + ", " + (offset + length) + ") failed: "
                        + Errno.name(-r) + " (" + Errno.describe(-r) + ")");
            }
        }

        @Override
        boolean unmaps() {
            return true;
        }

        @Override
        void unmap() {
            closeWhenFree(arena, segment().byteSize()); // the descriptor is the region's: it closes it last
        }

        @Override
        boolean tryUnmap() {
            return tryClose(arena);
        }
    }

    /** {@code FileChannel.map(mode, 0, size, arena)} in a shared arena of its own. */
    static final class SegmentMapping extends Mapping {
        private final Arena arena;

        private SegmentMapping(Arena arena, MemorySegment segment) {
            super(segment);
            this.arena = arena;
        }

        static SegmentMapping map(FileChannel channel, long size) throws IOException {
            Arena arena = Arena.ofShared();
            boolean success = false;
            try {
                MemorySegment segment = channel.map(FileChannel.MapMode.READ_WRITE, 0, size, arena);
                success = true;
                return new SegmentMapping(arena, segment);
            } finally {
                if (!success) {
                    arena.close();
                }
            }
        }

        @Override
        void forceRange(long offset, long length) throws IOException {
            try {
                segment().asSlice(offset, length).force();
            } catch (UncheckedIOException e) {
                throw e.getCause();
            }
        }

        @Override
        boolean unmaps() {
            return true;
        }

        @Override
        void unmap() {
            closeWhenFree(arena, segment().byteSize());
        }

        @Override
        boolean tryUnmap() {
            return tryClose(arena);
        }
    }

    /**
     * {@code FileChannel.map(mode, 0, size)}: a MappedByteBuffer, viewed as a segment. The JDK cannot
     * unmap a buffer, and a read through one after the file shrank under it faults; so reads without the
     * region lock and read views go through a read-only companion mapping in a shared arena, made on first
     * use and closed by {@link #unmap()}.
     */
    static final class BufferMapping extends Mapping {
        private final MappedByteBuffer buffer;
        private final FileChannel channel;
        /** The companion for reads; null until first used. Guarded by this; read volatile. */
        private volatile MemorySegment reads;
        private Arena readArena;
        private boolean unmapped;

        private BufferMapping(MappedByteBuffer buffer, FileChannel channel) {
            super(MemorySegment.ofBuffer(buffer));
            this.buffer = buffer;
            this.channel = channel;
        }

        @Override
        MemorySegment readSegment() throws IOException {
            MemorySegment r = reads; // volatile: pairs with the store below
            return r != null ? r : mapReads();
        }

        @Override
        MemorySegment mappedReadSegment() {
            return reads;
        }

        private synchronized MemorySegment mapReads() throws IOException {
            if (unmapped) {
                throw new IllegalStateException("Already closed"); // as the JDK says for a closed arena
            }
            if (reads == null) {
                Arena arena = Arena.ofShared();
                try {
                    long size = segment().byteSize();
                    reads = Uninterruptible.call(() -> channel.map(FileChannel.MapMode.READ_ONLY, 0, size, arena));
                    readArena = arena;
                } finally {
                    if (readArena != arena) {
                        arena.close();
                    }
                }
            }
            return reads;
        }

        static BufferMapping map(FileChannel channel, long size) throws IOException {
            if (size > Backing.MAX_BYTE_BUFFER_REGION) {
                throw new IllegalArgumentException("the MAPPED_BYTE_BUFFER backing maps at most "
                        + Backing.MAX_BYTE_BUFFER_REGION + " bytes; use Backing.MEMORY_SEGMENT for " + size);
            }
            return new BufferMapping(channel.map(FileChannel.MapMode.READ_WRITE, 0, size), channel);
        }

        @Override
        ByteBuffer buffer(long offset, long length) {
            return buffer.slice((int) offset, (int) length);
        }

        @Override
        void forceRange(long offset, long length) throws IOException {
            try {
                buffer.force((int) offset, (int) length);
            } catch (UncheckedIOException e) {
                throw e.getCause();
            }
        }

        @Override
        boolean unmaps() {
            return false;
        }

        /** Closes the read companion; the buffer itself the garbage collector unmaps once unreachable. */
        @Override
        synchronized void unmap() {
            unmapped = true;
            if (readArena != null) {
                closeWhenFree(readArena, segment().byteSize());
                readArena = null;
            }
        }

        @Override
        synchronized boolean tryUnmap() {
            unmapped = true;
            if (readArena != null) {
                if (!tryClose(readArena)) {
                    return false;
                }
                readArena = null;
            }
            return true;
        }
    }
}
