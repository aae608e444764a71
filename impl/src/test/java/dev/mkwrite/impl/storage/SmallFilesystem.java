package dev.mkwrite.impl.storage;

import dev.mkwrite.impl.os.Errno;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A small, real filesystem where ENOSPC happens: the directory given by system property
 * {@code mkwrite.tmpfs} (surefire passes it; {@code ./dev test} mounts an 8 MiB tmpfs for it), or, when
 * that is empty, an 8 MiB tmpfs this helper mounts in a temporary directory (root only) and unmounts
 * after the class. Tests that cannot get one are skipped with a message that says why.
 *
 * <p>{@link #ext4()} is the same for ext4, which, unlike tmpfs, keeps the blocks a {@code fallocate} got
 * before it ran out of space: the directory given by {@code mkwrite.ext4} ({@code ./dev test} mounts a
 * 16 MiB image on a loop device for it), or a 16 MiB image this helper makes and mounts (root, with
 * {@code mkfs.ext4}).
 *
 * <p>A JUnit extension: register it once per class with
 * {@code @RegisterExtension static final SmallFilesystem fs = new SmallFilesystem();}. It gets the
 * filesystem before all tests, empties the class's directory after each, and deletes it (and unmounts what
 * it mounted) after all, so a shared filesystem is left as empty as it was found.
 */
final class SmallFilesystem implements BeforeAllCallback, AfterEachCallback, AfterAllCallback {

    static final long OWN_SIZE = 8L << 20;
    /**
     * The size of the ext4 image of our own. With 4 KiB blocks (mkfs.ext4 would pick 1 KiB blocks for so
     * small a filesystem) and no blocks reserved for root, whom the tests run as, about 10.6 MiB are free.
     */
    static final long OWN_EXT4_SIZE = 16L << 20;

    private final String type;
    private final String property;
    private Path mountPoint; // non-null if we mounted it
    private Path image; // the ext4 image we made, if any
    private Path dir;
    private long initialSpace;

    /** A tmpfs. */
    SmallFilesystem() {
        this("tmpfs");
    }

    private SmallFilesystem(String type) {
        this.type = type;
        this.property = "mkwrite." + type;
    }

    /** An ext4 filesystem. */
    static SmallFilesystem ext4() {
        return new SmallFilesystem("ext4");
    }

    /** Gets the filesystem, or aborts the class's tests with the reason. */
    @Override
    public void beforeAll(ExtensionContext context) throws IOException {
        String given = System.getProperty(property, "").trim();
        if (!given.isEmpty()) {
            Path root = Path.of(given);
            Assumptions.assumeTrue(Files.isDirectory(root), property + "=" + given + " is not a directory");
            String found = Files.getFileStore(root).type();
            Assumptions.assumeTrue(type.equals("tmpfs") || type.equals(found),
                    property + "=" + given + " is on " + found + ", not " + type);
            use(null, Files.createTempDirectory(root, "storage-test-"));
            return;
        }
        Path mount = Files.createTempDirectory("mkwrite-storage-" + type + "-");
        String failure = mountOwn(mount);
        if (failure != null) {
            Files.deleteIfExists(mount);
            Assumptions.abort("no small " + type + " filesystem for the disk-full tests: " + property + " is empty"
                    + " and mounting one failed (" + failure + "). Run as root, or pass -D" + property + "=DIR"
                    + " with DIR on a small " + type + " filesystem (./dev test does this when root).");
        }
        use(mount, Files.createTempDirectory(mount, "storage-test-"));
    }

    /**
     * Mounts a filesystem of our own at {@code mount}: for ext4, an image beside it, on a loop device.
     *
     * @return null on success, otherwise what went wrong
     */
    private String mountOwn(Path mount) throws IOException {
        if (type.equals("tmpfs")) {
            return run("mount", "-t", "tmpfs", "-o", "size=" + OWN_SIZE, "tmpfs", mount.toString());
        }
        image = mount.resolveSibling(mount.getFileName() + ".img");
        try (FileChannel ch = FileChannel.open(image, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.truncate(0).position(OWN_EXT4_SIZE - 1).write(ByteBuffer.allocate(1)); // sparse
        }
        String failure = run("mkfs.ext4", "-q", "-F", "-b", "4096", "-m", "0", image.toString());
        if (failure == null) {
            failure = run("mount", "-o", "loop", image.toString(), mount.toString());
        }
        if (failure != null) {
            Files.delete(image);
            image = null;
        }
        return failure;
    }

    private void use(Path mount, Path testDir) throws IOException {
        this.mountPoint = mount;
        this.dir = testDir;
        this.initialSpace = Files.getFileStore(testDir).getUsableSpace();
    }

    @Override
    public void afterEach(ExtensionContext context) throws IOException {
        if (dir != null) {
            clear();
        }
    }

    /** The test's own directory on the small filesystem. */
    Path dir() {
        return dir;
    }

    /** Bytes an unprivileged writer could still use. */
    long usableSpace() throws IOException {
        return Files.getFileStore(dir).getUsableSpace();
    }

    /**
     * Fills the filesystem with {@code filler}, written in whole 4 KiB pages, then gives back exactly
     * {@code pagesFree} pages by truncating it.
     */
    void fillLeaving(Path filler, int pagesFree) throws IOException {
        ByteBuffer page = ByteBuffer.allocate(4096);
        try (FileChannel ch = FileChannel.open(filler, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            try {
                for (long pos = 0; ; pos += 4096) {
                    page.clear();
                    while (page.hasRemaining()) {
                        ch.write(page, pos + page.position());
                    }
                }
            } catch (IOException e) {
                if (!Errno.isNoSpace(e)) {
                    throw e;
                }
            }
            long full = ch.size() & -4096L;
            if (full < 4096L * pagesFree) {
                throw new IllegalStateException("the filesystem had only " + full + " bytes free");
            }
            ch.truncate(full - 4096L * pagesFree);
        }
    }

    /**
     * Deletes every file of the test's directory, keeping the directory, and waits until the space is
     * free again: a deleted file's blocks stay allocated while a {@code MappedByteBuffer} still maps it,
     * and only the garbage collector unmaps those.
     */
    void clear() throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            for (Path p : files.toList()) {
                deleteTree(p);
            }
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (usableSpace() < initialSpace && System.nanoTime() < deadline) {
            System.gc();
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while waiting for " + dir + " to free its space", e);
            }
        }
    }

    @Override
    public void afterAll(ExtensionContext context) throws IOException {
        if (dir == null) {
            return;
        }
        try {
            deleteTree(dir);
        } finally {
            if (mountPoint != null) {
                String failure = run("umount", mountPoint.toString());
                if (failure == null) {
                    Files.deleteIfExists(mountPoint);
                    if (image != null) {
                        Files.delete(image);
                    }
                } else {
                    throw new IOException("unmounting " + mountPoint + " failed: " + failure);
                }
            }
        }
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(root)) {
            List<Path> all = walk.sorted(Comparator.reverseOrder()).toList();
            for (Path p : all) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** Runs a command; returns null on success, otherwise what went wrong. */
    private static String run(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            boolean exited = p.waitFor(30, TimeUnit.SECONDS);
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (!exited) {
                p.destroyForcibly();
                return String.join(" ", command) + " did not finish";
            }
            return p.exitValue() == 0 ? null : String.join(" ", command) + ": exit " + p.exitValue() + ": " + out;
        } catch (IOException e) {
            return String.join(" ", command) + ": " + e.getMessage();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return String.join(" ", command) + ": interrupted";
        }
    }
}
