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
 * <p>A JUnit extension: register it once per class with
 * {@code @RegisterExtension static final SmallFilesystem fs = new SmallFilesystem();}. It gets the
 * filesystem before all tests, empties the class's directory after each, and deletes it (and unmounts what
 * it mounted) after all, so a shared filesystem is left as empty as it was found.
 */
final class SmallFilesystem implements BeforeAllCallback, AfterEachCallback, AfterAllCallback {

    static final long OWN_SIZE = 8L << 20;

    private Path mountPoint; // non-null if we mounted it
    private Path dir;
    private long initialSpace;

    /** Gets the filesystem, or aborts the class's tests with the reason. */
    @Override
    public void beforeAll(ExtensionContext context) throws IOException {
        String given = System.getProperty("mkwrite.tmpfs", "").trim();
        if (!given.isEmpty()) {
            Path root = Path.of(given);
            Assumptions.assumeTrue(Files.isDirectory(root), "mkwrite.tmpfs=" + given + " is not a directory");
            use(null, Files.createTempDirectory(root, "storage-test-"));
            return;
        }
        Path mount = Files.createTempDirectory("mkwrite-storage-tmpfs-");
        String failure = run("mount", "-t", "tmpfs", "-o", "size=" + OWN_SIZE, "tmpfs", mount.toString());
        if (failure != null) {
            Files.deleteIfExists(mount);
            Assumptions.abort("no small filesystem for the disk-full tests: mkwrite.tmpfs is empty and mounting"
                    + " a tmpfs failed (" + failure + "). Run as root, or pass -Dmkwrite.tmpfs=DIR with DIR on a"
                    + " small filesystem (./dev test does this when root).");
        }
        use(mount, Files.createTempDirectory(mount, "storage-test-"));
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
