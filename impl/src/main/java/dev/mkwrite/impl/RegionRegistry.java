package dev.mkwrite.impl;

import dev.mkwrite.MappedRegion;
import dev.mkwrite.RegionBuilder;
import dev.mkwrite.impl.os.LazyLogger;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The regions open in this JVM, one per file, each shared by the {@link RegionHandle}s of every open of
 * the file (the rules are in {@link MappedRegion}'s class documentation). A file is known by its file key
 * (device and inode), so every path to it, through a symbolic link or a hard link, meets the same region.
 *
 * <h2>Life of an entry</h2>
 * <pre>
 *   OPENING --region opened--&gt; OPEN (handles &gt; 0) --last handle closed--&gt; CLOSING --region closed--&gt; GONE
 *      |                          ^                                               |
 *      +--open failed--&gt; GONE    +--close refused (from inside the region's handler)
 * </pre>
 * The opener that puts an entry into {@link #OPEN} opens its region; an opener that finds an entry waits
 * while it is OPENING or CLOSING, then joins it if it is OPEN or, if it is GONE, tries again, and then
 * finds a fresh entry or puts one. An entry leaves {@link #OPEN} before it becomes GONE and only after its
 * region is closed, so a fresh region is opened only once the old one has released the file lock. Hence
 * two opens that race end with one region, and an open that races the last close ends with a handle on an
 * open region, never a closed one.
 *
 * <p>Ordering: the state and handle count of an entry are guarded by its monitor; {@link #OPEN} is a
 * {@link ConcurrentHashMap}, whose {@code putIfAbsent} is the one point where openers of a file meet.
 */
final class RegionRegistry {

    private static final LazyLogger LOG = new LazyLogger(RegionRegistry.class);

    /** The entry of every file that has a region being opened, open, or closing, by file key. */
    private static final ConcurrentHashMap<Object, Entry> OPEN = new ConcurrentHashMap<>();

    /**
     * Held while reading a file key and creating a missing file: creating a file opens and closes a
     * descriptor of it, and closing any descriptor of a file drops every POSIX lock this process holds on
     * it. Under this lock no other open in this JVM can see the new file, and lock it, before that close.
     */
    private static final Object FILE_KEYS = new Object();

    /** How often an open tries again when its path names another file after the open than before it. */
    private static final int RENAME_RETRIES = 8;

    /** Symbolic links followed when creating a missing file, as the kernel's {@code MAXSYMLINKS}. */
    private static final int MAX_LINKS = 40;
    /**
     * For tests: run once, by the next open, right after it opened its region and before it checks that the
     * path still names the file it looked up; null, nothing. A test replaces the file there.
     */
    private static final AtomicReference<Runnable> AFTER_OPEN_FOR_TESTS = new AtomicReference<>();

    private RegionRegistry() {
    }

    /** Opens a handle on {@code spec}'s region: the one open over its file, or a new one. */
    static RegionHandle open(RegionBuilder spec) throws IOException {
        RegionSettings asked = RegionSettings.of(spec);
        for (int replaced = 0; ; ) { // only a path that named another file counts: a close met is no rename
            Object key;
            try {
                key = fileKey(spec.path(), spec.create());
            } catch (java.nio.file.FileSystemException e) {
                throw RegionFile.explained(spec, e);
            }
            Entry mine = new Entry(key, asked, spec.path());
            Entry found = OPEN.putIfAbsent(key, mine);
            RegionHandle handle = found == null ? mine.openFirst(spec) : found.join(spec, asked);
            if (handle != null) {
                return handle;
            }
            if (found == null && ++replaced > RENAME_RETRIES) {
                throw new IOException(spec.path() + " kept naming another file while it was being opened"
                        + " (renamed or replaced meanwhile); open it again");
            }
        }
    }

    /** The entry of {@code path}'s file, or null; for tests. */
    static Entry entryOf(Path path) throws IOException {
        return OPEN.get(keyOf(path));
    }

    /** The key of {@code path}'s file, creating the file first if it is missing and {@code create}. */
    private static Object fileKey(Path path, boolean create) throws IOException {
        synchronized (FILE_KEYS) {
            for (int deleted = 0; ; deleted++) {
                try {
                    return keyOf(path);
                } catch (NoSuchFileException e) {
                    if (!create || deleted > RENAME_RETRIES) { // deleted again after each create: give up
                        throw e;
                    }
                }
                createFollowingLinks(path); // deleted right after it: looked up, and created, again
            }
        }
    }

    /**
     * Creates {@code path}, or the file a dangling symbolic link there points to, as the region's own
     * {@code open(O_CREAT)} would. A file that appears meanwhile (another process) is left as it is.
     */
    private static void createFollowingLinks(Path path) throws IOException {
        Path p = path;
        for (int links = 0; links < MAX_LINKS; links++) {
            try {
                Files.createFile(p);
                return;
            } catch (FileAlreadyExistsException e) {
                if (!Files.isSymbolicLink(p)) {
                    return;
                }
                Path target = Files.readSymbolicLink(p);
                p = p.toAbsolutePath().resolveSibling(target);
            }
        }
        throw new IOException("too many levels of symbolic links: " + path);
    }

    /** The file key of {@code path}, following links: its device and inode, or its real path where the OS has none. */
    static Object keyOf(Path path) throws IOException {
        Object key = Files.readAttributes(path, BasicFileAttributes.class).fileKey();
        return key != null ? key : path.toRealPath();
    }

    /** Tests only: {@code seam} runs once, in the next open (see {@link #AFTER_OPEN_FOR_TESTS}). */
    static void afterOpenForTests(Runnable seam) {
        AFTER_OPEN_FOR_TESTS.set(seam);
    }

    /**
     * One file's region and the number of handles open on it. Everything but the immutable fields is
     * guarded by the entry's monitor.
     */
    static final class Entry {

        private enum State { OPENING, OPEN, CLOSING, GONE }

        private final Object key;
        private final RegionSettings settings;
        private final Path path;
        private State state = State.OPENING;
        private Region region;
        private int handles;
        /**
         * The thread that moves the entry out of OPENING (the opener) or CLOSING (the last handle's closer).
         * An open of the same file on that thread, from a callback of the handler or of a reservation run by
         * the open or the close, would wait for itself: {@link #join} refuses it.
         */
        private Thread settler = Thread.currentThread();

        Entry(Object key, RegionSettings settings, Path path) {
            this.key = key;
            this.settings = settings;
            this.path = path;
        }

        /**
         * Opens the region of this entry, which the caller just put into {@link #OPEN}, and returns its first
         * handle; or returns null if the path named another file, or none, before the file was locked or once the
         * region was open (the caller tries again).
         */
        RegionHandle openFirst(RegionBuilder spec) throws IOException {
            Region opened = null;
            boolean success = false;
            try {
                try {
                    opened = Region.open(spec, key);
                } catch (RegionFile.Replaced e) {
                    LOG.get().debug("{} was replaced before it was locked; looking it up again", spec.path());
                    return null; // the finally leaves the registry
                }
                Runnable seam = AFTER_OPEN_FOR_TESTS.getAndSet(null);
                if (seam != null) {
                    seam.run();
                }
                if (!namesFile(spec.path(), key)) {
                    LOG.get().debug("{} was replaced while it was opened; opening it again", spec.path());
                    return null; // the finally closes the region of the other file
                }
                synchronized (this) {
                    region = opened;
                    handles = 1;
                    state = State.OPEN;
                    notifyAll();
                }
                success = true;
                return new RegionHandle(opened, this);
            } finally {
                if (!success) {
                    try {
                        if (opened != null) {
                            opened.closeUnused(); // no handle reached it: nothing to drain
                        }
                    } finally {
                        gone();
                    }
                }
            }
        }

        /** Whether {@code path} still names the file of {@code key}; a file deleted meanwhile is still it. */
        private static boolean namesFile(Path path, Object key) throws IOException {
            try {
                return key.equals(keyOf(path));
            } catch (NoSuchFileException e) {
                return true;
            }
        }

        /**
         * Opens another handle on this entry's region once it is open, growing the region if {@code spec}
         * asks for more; returns null if the region closed or failed to open (the caller tries again).
         *
         * @throws IllegalStateException if {@code asked} differs from the region's settings
         */
        RegionHandle join(RegionBuilder spec, RegionSettings asked) throws IOException {
            RegionHandle handle;
            synchronized (this) {
                if ((state == State.OPENING || state == State.CLOSING) && settler == Thread.currentThread()) {
                    throw new IllegalStateException("open() of " + spec.path() + " on the thread that is "
                            + (state == State.OPENING ? "opening" : "closing") + " the region over the same file, "
                            + path + ", from a callback of its handler or of a reservation: it would wait for"
                            + " itself. Open it once that " + (state == State.OPENING ? "open" : "close")
                            + " returned");
                }
                if (state == State.CLOSING) {
                    // Inside the closing region's handler, or holding a span of it: the close waits for this thread
                    region.checkCloseNeedNotWaitForThisThread("open");
                }
                awaitSettled();
                if (state == State.GONE) {
                    return null;
                }
                settings.checkShareableWith(asked, path, spec.path());
                handles++;
                handle = new RegionHandle(region, this);
            }
            LOG.get().debug("shared {}: another handle", path);
            if (spec.size() > handle.size()) {
                growFor(handle, spec.size());
            }
            return handle;
        }

        /** Waits, keeping an interrupt for later, while the region is being opened or closed. */
        private void awaitSettled() {
            boolean interrupted = false;
            try {
                while (state == State.OPENING || state == State.CLOSING) {
                    try {
                        wait();
                    } catch (InterruptedException e) {
                        interrupted = true;
                    }
                }
            } finally {
                if (interrupted) {
                    Thread.currentThread().interrupt();
                }
            }
        }

        /** Grows the region to at least {@code size} for a new handle; closes the handle if that fails. */
        private static void growFor(RegionHandle handle, long size) throws IOException {
            try {
                while (handle.size() < size) {
                    try {
                        handle.grow(size);
                    } catch (IllegalArgumentException e) {
                        if (handle.size() < size) {
                            throw e;
                        } // another handle grew it past size meanwhile
                    }
                }
            } catch (IOException | RuntimeException | Error e) {
                handle.abandon(e);
                throw e;
            }
        }

        /**
         * A handle of this entry was closed: closes the region if it was the last. If the region refuses
         * to close (its close was called from inside its own handler), the handle stays counted and the
         * refusal is thrown.
         */
        void release() throws IOException {
            synchronized (this) {
                if (--handles > 0) {
                    return;
                }
                state = State.CLOSING;
                settler = Thread.currentThread();
            }
            boolean closed = false;
            try {
                region.close();
                closed = true;
            } finally {
                if (closed || region.isClosed()) {
                    gone();
                    LOG.get().debug("closed the last handle of {}", path);
                } else {
                    synchronized (this) {
                        handles++;
                        state = State.OPEN;
                        notifyAll();
                    }
                }
            }
        }

        /** Leaves {@link #OPEN}, then wakes the openers waiting for this entry, which try again. */
        private void gone() {
            OPEN.remove(key, this);
            synchronized (this) {
                state = State.GONE;
                notifyAll();
            }
        }

        /** The number of handles open on the region; for tests. */
        synchronized int handles() {
            return handles;
        }
    }
}
