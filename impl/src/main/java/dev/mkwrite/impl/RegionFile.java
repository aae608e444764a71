package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.RegionBuilder;
import dev.mkwrite.impl.os.Descriptors;
import dev.mkwrite.impl.os.Errno;
import dev.mkwrite.impl.os.LazyLogger;
import dev.mkwrite.impl.os.NativeAccess;
import dev.mkwrite.impl.os.PosixNative;
import dev.mkwrite.impl.os.SharedFile;
import dev.mkwrite.impl.os.Uninterruptible;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The region's file: its descriptors ({@link SharedFile}, which the region's storage handler shares through
 * {@link dev.mkwrite.WriteFault#file()}), the lock that keeps a second region (in this JVM or another
 * process) off it, and its identity ({@code fileKey}).
 *
 * <h2>One descriptor per open file</h2>
 * The file is opened as a channel (which creates it and explains a failure), checked against its file key
 * and, with native access, opened once more as a native descriptor, which takes the lock. The channel is
 * then closed, before anything is locked through it, unless it is needed:
 * <ul>
 *   <li>with native access, a MEMORY_SEGMENT region keeps the native descriptor alone: mmap, ftruncate,
 *   lseek, fallocate, pread and pwrite all go through it;</li>
 *   <li>without native access, the channel alone, with a POSIX lock;</li>
 *   <li>both only where the channel cannot be done without: a MAPPED_BYTE_BUFFER region (a
 *   {@code MappedByteBuffer} comes only from {@code FileChannel.map}) or a region mapped through the channel
 *   for the tests' fallbacks, which with native access still need the descriptor for fallocate and the
 *   open-file-description lock; and a kernel without OFD locks (before 3.15), where the POSIX lock is the
 *   channel's.</li>
 * </ul>
 * Nothing else opens the file: the storage handlers work through the region's {@link SharedFile}.
 *
 * <p>The descriptors are closed only by {@link #close}, after the lock: closing any descriptor of a file
 * drops every POSIX lock the process holds on it. Every operation that changes the file's size runs with the
 * region lock held exclusive.
 */
final class RegionFile {

    private static final LazyLogger LOG = new LazyLogger(RegionFile.class);

    private final SharedFile file;
    /** The POSIX lock without native access; null when the native descriptor holds an OFD lock. */
    private final FileLock lock;

    private RegionFile(SharedFile file, FileLock lock) {
        this.file = file;
        this.lock = lock;
    }

    /**
     * The path no longer names the file the registry looked up, {@code expected}: renamed, replaced or
     * deleted since. Nothing is left open or locked; the registry looks the path up again.
     */
    static final class Replaced extends IOException {
        private static final long serialVersionUID = 1L;

        Replaced(Path path, Throwable cause) {
            super(path + " was renamed, replaced or deleted while it was being opened", cause);
        }
    }

    /** For tests: run once, by the next open, right after it opened its channel; null, nothing. */
    private static final AtomicReference<Runnable> AFTER_CHANNEL_FOR_TESTS = new AtomicReference<>();

    /** Tests only: {@code seam} runs once, in the next open, right after its channel opened. */
    static void afterChannelForTests(Runnable seam) {
        AFTER_CHANNEL_FOR_TESTS.set(seam);
    }

    /**
     * Opens and locks the file of {@code spec}, the file whose key the registry found at its path,
     * {@code expected}; the caller closes it if it cannot use it.
     *
     * @throws Replaced if the path names another file by now, or none (the caller looks it up again): the
     *                  lock taken on it would be another region's, or a file no registry entry knows
     */
    static RegionFile open(RegionBuilder spec, Object expected) throws IOException {
        Set<OpenOption> options = new HashSet<>(Set.of(StandardOpenOption.READ, StandardOpenOption.WRITE));
        if (spec.create()) {
            options.add(StandardOpenOption.CREATE);
        }
        FileChannel channel = openChannel(spec, options);
        int nativeFd = -1;
        boolean success = false;
        try {
            Runnable seam = AFTER_CHANNEL_FOR_TESTS.getAndSet(null);
            if (seam != null) {
                seam.run();
            }
            // Read just after opening: only a rename racing open() itself could make it another file's. That
            // race is caught here, or by the registry's check once the region is open; one more rename between
            // the channel's open and this read, and back, could still leave the channel on another file (its
            // own key cannot be read): a rename away and back inside microseconds, which no store does.
            Object fileKey;
            try {
                fileKey = Files.readAttributes(spec.path(), BasicFileAttributes.class).fileKey();
            } catch (NoSuchFileException e) {
                throw new Replaced(spec.path(), e); // moved away or deleted since the registry found it
            }
            if (fileKey != null && !fileKey.equals(expected)) {
                throw new Replaced(spec.path(), null);
            }
            nativeFd = Descriptors.openSameFile(spec.path(), fileKey);
            if (nativeFd < 0 && fileKey != null && NativeAccess.available() && !namesFile(spec.path(), fileKey)) {
                throw new Replaced(spec.path(), null); // replaced between the two reads: else channel-only for good
            }
            boolean ofd = nativeFd >= 0 && ofdLock(spec.path(), nativeFd);
            if (ofd && Mapping.mapsNatively(spec.backing())) {
                channel.close(); // nothing is locked through it: the native descriptor does everything
                channel = null;
            }
            FileLock fileLock = ofd ? null : posixLock(spec.path(), channel);
            RegionFile file = new RegionFile(new SharedFile(spec.path(), nativeFd, channel), fileLock);
            success = true;
            return file;
        } finally {
            if (!success) {
                if (channel != null) {
                    channel.close();
                }
                if (nativeFd >= 0) {
                    PosixNative.close(nativeFd);
                }
            }
        }
    }

    /** Whether {@code path} still names the file of {@code fileKey}. */
    private static boolean namesFile(Path path, Object fileKey) {
        try {
            return fileKey.equals(Files.readAttributes(path, BasicFileAttributes.class).fileKey());
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * With native access, the region's lock is an open-file-description lock on its own descriptor: only
     * the region's close releases it, where the POSIX lock of {@link #posixLock} is dropped when any other
     * descriptor of the file in the process is closed. Returns false, having locked nothing, where the
     * kernel has no OFD locks (then the POSIX lock is taken instead).
     */
    private static boolean ofdLock(Path path, int fd) throws IOException {
        int r = PosixNative.lockFile(fd);
        // Held by another: a region open elsewhere, or one closing, whose storage handler gives back space under
        // the lock for a moment after its region let go (see StorageHandler's trim). Waited for, briefly.
        long deadline = System.nanoTime() + LOCK_WAIT_NANOS;
        for (long pause = 1_000_000; (r == -Errno.EAGAIN || r == -Errno.EACCES) && System.nanoTime() < deadline
                && !Thread.currentThread().isInterrupted(); pause = Math.min(2 * pause, 32_000_000)) {
            java.util.concurrent.locks.LockSupport.parkNanos(pause);
            r = PosixNative.lockFile(fd);
        }
        if (r == 0) {
            return true;
        }
        if (r == -Errno.EAGAIN || r == -Errno.EACCES) {
            throw new IllegalStateException("a region over " + path + " is already open (in this JVM, or in another"
                    + " process: its file stayed locked for " + LOCK_WAIT_NANOS / 1_000_000 + " ms); one file has one"
                    + " page-state table, so open it once and share the region");
        }
        LOG.get().debug("no open-file-description lock for {} ({}); a POSIX lock instead", path, Errno.name(-r));
        return false;
    }

    /** How long an open waits for the file's lock held by another: a closing region's trim holds it for a moment. */
    static final long LOCK_WAIT_NANOS = 1_000_000_000L;

    /** The POSIX record lock ({@code FileChannel.tryLock}), without native access. */
    private static FileLock posixLock(Path path, FileChannel channel) throws IOException {
        FileLock fileLock;
        try {
            fileLock = channel.tryLock();
        } catch (OverlappingFileLockException e) {
            throw new IllegalStateException("a region over " + path + " is already open in this JVM;"
                    + " one file has one page-state table, so open it once and share the region", e);
        }
        if (fileLock == null) {
            throw new IOException("another process holds a lock on " + path + " (is a region over it open elsewhere?)");
        }
        return fileLock;
    }

    /** Opens the channel, saying what is wrong, for which region, where the JDK gives a bare path. */
    private static FileChannel openChannel(RegionBuilder spec, Set<OpenOption> options) throws IOException {
        try {
            return FileChannel.open(spec.path(), options);
        } catch (FileSystemException e) {
            throw explained(spec, e);
        }
    }

    /**
     * The JDK's failure to open or create {@code spec}'s file, which names only a path, as one that says
     * what is wrong for the region: a missing directory, create(false) on a missing file, or the access a
     * region needs. Same exception type, the JDK's as its cause.
     */
    static FileSystemException explained(RegionBuilder spec, FileSystemException e) {
        Path path = spec.path();
        if (e instanceof NoSuchFileException) {
            Path parent = path.toAbsolutePath().getParent();
            String why = !spec.create() ? "the region's file does not exist, and the builder said create(false)"
                    : parent != null && !Files.isDirectory(parent)
                    ? "cannot create the region's file: its directory " + parent + " does not exist"
                    : "the region's file could not be created: a symbolic link's target directory is missing,"
                    + " or the file was deleted each time it was created (by another process?)";
            return annotated(new NoSuchFileException(path.toString(), null, why), e);
        }
        if (e instanceof AccessDeniedException) {
            return annotated(new AccessDeniedException(path.toString(), null, "a region needs to read and write its"
                    + " file (and to create it, write access to its directory); this process may not"), e);
        }
        return annotated(new FileSystemException(path.toString(), e.getOtherFile(), "opening the region's file"
                + " failed: " + e.getReason()), e);
    }

    private static FileSystemException annotated(FileSystemException e, FileSystemException cause) {
        e.initCause(cause);
        return e;
    }

    /** The file's size now. */
    long size() throws IOException {
        return file.size();
    }

    /**
     * Maps the whole file at {@code size} bytes, extending a shorter file sparsely. Through the channel, like
     * every operation here that may block in it, it runs where the caller's interrupt cannot close the
     * channel ({@link Uninterruptible}); the caller's interrupt status is kept. A mapping made with native
     * calls alone ({@link Mapping#mapsNatively}: {@code lseek}, {@code ftruncate}, {@code mmap}, which
     * ignore interrupts) runs on the caller's thread: no hand-off, and a fresh JVM's first region starts no
     * I/O thread for it (about 6 ms of a cold start's classes and thread).
     */
    Mapping map(Backing backing, long size) throws IOException {
        IOException failure = nextMapFailureForTests;
        if (failure != null) {
            nextMapFailureForTests = null;
            if (nextMapExtendsForTests && size() < size) { // as a map whose mmap fails after the file grew
                if (file.fd() >= 0) {
                    file.truncate(size); // ftruncate(2), which extends too
                } else {
                    file.channel().write(java.nio.ByteBuffer.allocate(1), size - 1);
                }
            }
            throw failure;
        }
        if (file.fd() >= 0 && Mapping.mapsNatively(backing)) {
            return Mapping.NativeMapping.map(file.fd(), size);
        }
        return Uninterruptible.call(() -> Mapping.map(backing, file.channel(), file.fd(), size));
    }

    /** Shrinks the file to {@code size}. */
    void truncate(long size) throws IOException {
        IOException failure = nextTruncateFailureForTests;
        if (failure != null) {
            nextTruncateFailureForTests = null;
            throw failure;
        }
        file.truncate(size);
    }

    /** For tests: what the next {@link #truncate} throws instead of truncating; null for none. */
    private volatile IOException nextTruncateFailureForTests;
    /** For tests: what the next {@link #map} throws instead of mapping; null for none. */
    private volatile IOException nextMapFailureForTests;

    /** For tests: whether the next failing {@link #map} extends a shorter file first. */
    private volatile boolean nextMapExtendsForTests;

    /**
     * For tests: the next {@link #map} throws {@code failure} and maps nothing; if {@code afterExtending}, it
     * first extends a shorter file to the mapping's size, as a map does before its {@code mmap}.
     */
    void failNextMapForTests(IOException failure, boolean afterExtending) {
        nextMapExtendsForTests = afterExtending;
        nextMapFailureForTests = failure;
    }

    /** For tests: the next {@link #truncate} throws {@code failure} and leaves the file as it is. */
    void failNextTruncateForTests(IOException failure) {
        nextTruncateFailureForTests = failure;
    }

    /** Discards {@code [offset, offset + length)} of the file (see {@link FileHoles}). */
    void punch(long offset, long length) throws IOException {
        FileHoles.punch(file, offset, length);
    }

    /** Makes {@code [offset, offset + length)} of the file read as zero, keeping its blocks (see {@link FileHoles}). */
    void zeroInPlace(long offset, long length) throws IOException {
        IOException failure = nextZeroFailureForTests;
        if (failure != null) {
            nextZeroFailureForTests = null;
            throw failure;
        }
        FileHoles.zeroInPlace(file, offset, length);
    }

    /** For tests: what the next {@link #zeroInPlace} throws instead of zeroing; null for none. */
    private volatile IOException nextZeroFailureForTests;

    /** For tests: the next {@link #zeroInPlace} throws {@code failure} and leaves the file as it is. */
    void failNextZeroInPlaceForTests(IOException failure) {
        nextZeroFailureForTests = failure;
    }

    /** The file as the region's handler sees it: the region's own descriptors. */
    SharedFile shared() {
        return file;
    }

    /** Whether the region has a native descriptor of its file: native access is on for it. */
    boolean hasNativeDescriptor() {
        return file.fd() >= 0;
    }

    boolean isOpen() {
        return file.isOpen();
    }

    /**
     * Releases the lock, then closes the channel and the native descriptor once no handler's call uses
     * them. Returns {@code failure}, or the first failure of these, the others suppressed. Idempotent: a
     * second call closes nothing.
     */
    IOException close(IOException failure) {
        if (!file.isOpen()) {
            return failure; // closing a descriptor twice would close whatever file took its number since
        }
        if (lock != null) {
            try {
                lock.release();
            } catch (IOException e) {
                failure = Errno.firstOf(failure, e);
            }
        }
        return file.close(failure);
    }
}
