package dev.mkwrite.examples.diskfull;

import dev.mkwrite.MappedRegion;
import dev.mkwrite.NoSpaceException;
import dev.mkwrite.examples.Command;
import dev.mkwrite.examples.Fmt;
import dev.mkwrite.examples.Handlers;
import dev.mkwrite.examples.Options;
import dev.mkwrite.examples.UsageException;
import dev.mkwrite.impl.storage.StorageHandler;

import java.io.IOException;
import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

/**
 * {@code disk-full}: the same records written into a file twice the size of a small filesystem, once
 * through a raw {@link java.nio.MappedByteBuffer} in a child JVM and once through mkwrite. The raw writer
 * dies with {@code InternalError} at whatever store found no space; mkwrite throws a
 * {@link NoSpaceException} at the write that needed it, keeps every earlier record, and completes the
 * same write once space is freed.
 *
 * <p>The small filesystem is an 8 MiB tmpfs the command mounts (as root) and unmounts, or the directory
 * given with {@code --dir}, which must have little free space since the command fills it.
 */
public final class DiskFullCommand implements Command {

    private static final long MAX_FREE = 256L << 20;
    private static final int BALLAST = 256 << 10;
    private static final int GRANULE = 64 << 10;

    /** Creates the command. */
    public DiskFullCommand() {
    }

    @Override
    public String name() {
        return "disk-full";
    }

    @Override
    public String summary() {
        return "a raw MappedByteBuffer (child JVM) and mkwrite on a full filesystem, side by side";
    }

    @Override
    public Options options() {
        return new Options(name())
                .path("dir", "DIR", "a directory on a small filesystem to fill; on a large one, or without it, an 8 MiB"
                        + " tmpfs is mounted (as root) and unmounted after")
                .size("record-size", "B", "128", 8, 1 << 16, "payload bytes per record");
    }

    @Override
    public int run(Options.Values values, PrintStream out) throws Exception {
        int payload = values.intNumber("record-size");
        Path mountPoint = null;
        Path dir;
        if (values.has("dir")) {
            dir = values.path("dir");
            if (!Files.isDirectory(dir)) {
                throw new UsageException(name() + ": --dir " + dir + " is not a directory");
            }
            long free = Files.getFileStore(dir).getUsableSpace();
            if (free > MAX_FREE) {
                // Too big to fill: put a small tmpfs inside it instead (as ./dev example does with a temp dir).
                mountPoint = mountTmpfs(dir, dir + " has " + Fmt.bytes(free) + " free, and this command fills its"
                        + " filesystem; mounting a small tmpfs inside it failed");
                out.println("  " + dir + " has " + Fmt.bytes(free) + " free: using an 8 MiB tmpfs mounted at "
                        + mountPoint + " instead");
                dir = mountPoint;
            }
        } else {
            mountPoint = mountTmpfs(null, "cannot mount a tmpfs, and no --dir was given");
            dir = mountPoint;
        }
        Path work = null;
        try {
            work = Files.createTempDirectory(dir, "mkwrite-disk-full-");
            FileStore store = Files.getFileStore(work);
            long free = store.getUsableSpace();
            if (free > MAX_FREE) {
                throw new UsageException(name() + ": " + dir + " has " + Fmt.bytes(free) + " free, and this command"
                        + " fills it; give a small filesystem, e.g. mount -t tmpfs -o size=8m tmpfs DIR");
            }
            if (free < 4 * BALLAST) {
                throw new UsageException(name() + ": " + dir + " has only " + Fmt.bytes(free) + " free; need at least "
                        + Fmt.bytes(4 * BALLAST));
            }
            long fileSize = (2 * free + (1 << 20)) & -(1L << 20);
            out.printf(Locale.ROOT, "mkwrite disk-full: records of %d B into a %s file on %s (%s, %s free)%n",
                    payload, Fmt.bytes(fileSize), dir, store.type(), Fmt.bytes(free));
            out.println("  each run starts with a " + Fmt.bytes(BALLAST) + " ballast file, freed after the first"
                    + " out-of-space error to show what happens next");

            Path ballast = work.resolve("ballast");
            Files.write(ballast, new byte[BALLAST]);
            RawOutcome raw = runRaw(work.resolve("raw.dat"), fileSize, payload);
            Files.deleteIfExists(work.resolve("raw.dat"));
            Files.deleteIfExists(ballast);

            Files.write(ballast, new byte[BALLAST]);
            MkwriteOutcome mk = runMkwrite(work.resolve("mkwrite.dat"), ballast, fileSize, payload);

            printSideBySide(out, raw, mk, payload);
            boolean intact = mk.intact == mk.written;
            out.println("mkwrite: verified " + mk.intact + " records, " + Math.max(0, mk.written - mk.intact) + " lost");
            return intact ? 0 : 1;
        } finally {
            if (work != null) {
                deleteTree(work);
            }
            if (mountPoint != null) {
                unmount(mountPoint, out);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------

    private record RawOutcome(int exitCode, long written, boolean finished, String error) {
    }

    private RawOutcome runRaw(Path file, long fileSize, int payload) throws IOException, InterruptedException {
        String java = ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> command = List.of(java, "-Xmx64m", "-XX:+UseSerialGC", "-cp", classPath(),
                RawMappedWriter.class.getName(), file.toString(), Long.toString(fileSize), Integer.toString(payload));
        // The child's output goes to the default temporary directory, not to the full filesystem.
        Path stdout = Files.createTempFile("mkwrite-raw", ".out");
        Path stderr = Files.createTempFile("mkwrite-raw", ".err");
        try {
            Process p = new ProcessBuilder(command).redirectOutput(stdout.toFile()).redirectError(stderr.toFile()).start();
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                p.waitFor();
                return new RawOutcome(-1, 0, false, "did not finish in 120 s; killed");
            }
            long written = 0;
            boolean finished = false;
            for (String line : Files.readAllLines(stdout, StandardCharsets.UTF_8)) {
                if (line.startsWith("written ")) {
                    written = Long.parseLong(line.substring(8).trim());
                } else if (line.startsWith("done ")) {
                    written = Long.parseLong(line.substring(5).trim());
                    finished = true;
                }
            }
            String error = null;
            for (String line : Files.readAllLines(stderr, StandardCharsets.UTF_8)) {
                if (line.contains("Error") || line.contains("Exception")) {
                    error = line.replaceFirst("^Exception in thread \"main\" ", "").trim();
                    break;
                }
            }
            return new RawOutcome(p.exitValue(), written, finished, error);
        } finally {
            Files.deleteIfExists(stdout);
            Files.deleteIfExists(stderr);
        }
    }

    /** The jar (or classes directory) this class was loaded from: the child's class path. */
    private static String classPath() throws IOException {
        try {
            return Path.of(DiskFullCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
        } catch (URISyntaxException | RuntimeException e) {
            throw new IOException("cannot locate the examples' jar to start the raw writer", e);
        }
    }

    // ---------------------------------------------------------------------------------------------

    private static final class MkwriteOutcome {
        long written;
        NoSpaceException error;
        boolean retried;
        long faults;
        long prepared;
        long outstanding;
        long intact;
    }

    private MkwriteOutcome runMkwrite(Path file, Path ballast, long fileSize, int payload) throws IOException {
        MkwriteOutcome o = new MkwriteOutcome();
        int stride = Records.stride(payload);
        byte[] record = new byte[stride];
        CRC32C crc = new CRC32C();
        try (StorageHandler space = Handlers.storage(GRANULE)) {
            try (MappedRegion region = MappedRegion.builder(file).size(fileSize).handler(space).open()) {
                long p = 0;
                while (p + stride <= fileSize) {
                    int length = Records.encode(crc, o.written, payload, record);
                    try {
                        region.put(p, record, 0, length);
                    } catch (NoSpaceException e) {
                        if (o.error != null) {
                            break; // full again after the freed space: stop here
                        }
                        o.error = e;
                        Files.delete(ballast); // free some space: the region is still usable
                        try {
                            region.put(p, record, 0, length); // the same write, again
                            o.retried = true;
                        } catch (NoSpaceException again) {
                            break;
                        }
                    }
                    o.written++;
                    p += stride;
                }
                region.flush();
                o.faults = region.stats().faults();
                o.outstanding = region.stats().reservationsOutstanding();
            }
            o.prepared = Handlers.reservedBytes(space);
        }
        o.intact = Records.countIntact(file, payload);
        return o;
    }

    private static void printSideBySide(PrintStream out, RawOutcome raw, MkwriteOutcome mk, int payload) {
        long stride = Records.stride(payload);
        String rawOutcome = raw.finished ? "finished (the filesystem was not full?)"
                : raw.error != null && raw.error.contains("InternalError") ? "JVM died: InternalError"
                : "JVM died, exit code " + raw.exitCode;
        String mkOutcome = mk.error == null ? "finished (the filesystem was not full?)"
                : "NoSpaceException, region still usable";
        out.println();
        String format = "  %-22s %-34s %s%n";
        out.printf(Locale.ROOT, format, "", "raw MappedByteBuffer (child JVM)", "mkwrite MappedRegion");
        out.printf(Locale.ROOT, format, "outcome", rawOutcome, mkOutcome);
        out.printf(Locale.ROOT, format, "records written", Fmt.count(raw.written) + " (" + Fmt.bytes(raw.written * stride)
                + ", last reported)", Fmt.count(mk.written) + " (" + Fmt.bytes(mk.written * stride) + ")");
        out.printf(Locale.ROOT, format, "where it failed", raw.finished ? "-" : "an arbitrary store",
                mk.error == null ? "-" : "before the write that needed space");
        out.printf(Locale.ROOT, format, "after freeing space", "- (the process is gone)",
                mk.retried ? "the same write succeeded" : "-");
        out.printf(Locale.ROOT, format, "process", raw.finished ? "exited " + raw.exitCode : "died, exit code " + raw.exitCode,
                "alive, the region still open and usable");
        out.printf(Locale.ROOT, format, "data after reopen", "-",
                Fmt.count(mk.intact) + " of " + Fmt.count(mk.written) + " records intact");
        out.printf(Locale.ROOT, format, "faults / space", "-", Fmt.count(mk.faults) + " faults, " + Fmt.bytes(mk.prepared)
                + " prepared, " + mk.outstanding + " reservations left");
        out.println();
        out.println("  raw error:     " + (raw.error == null ? "none" : raw.error));
        out.println("  mkwrite error: " + (mk.error == null ? "none" : mk.error.getClass().getName() + ": "
                + mk.error.getMessage()));
    }

    // ---------------------------------------------------------------------------------------------

    /** Mounts an 8 MiB tmpfs on a new directory inside {@code parent} (or the default temporary directory). */
    private Path mountTmpfs(Path parent, String problem) throws IOException, UsageException, InterruptedException {
        Path dir = parent == null ? Files.createTempDirectory("mkwrite-tmpfs-")
                : Files.createTempDirectory(parent, "mkwrite-tmpfs-");
        String result;
        try {
            Process p = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir.toString())
                    .redirectErrorStream(true).start();
            String said = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (p.waitFor() == 0) {
                return dir;
            }
            result = said.isEmpty() ? "exit code " + p.exitValue() : said.replace('\n', ' ');
        } catch (IOException e) {
            result = e.getMessage();
        }
        Files.deleteIfExists(dir);
        throw new UsageException(name() + ": " + problem + " (mount: " + result + "); run as root, or give --dir on"
                + " a small filesystem");
    }

    private static void unmount(Path dir, PrintStream out) throws InterruptedException {
        try {
            Process p = new ProcessBuilder("umount", dir.toString()).redirectErrorStream(true).start();
            String said = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (p.waitFor() != 0) {
                out.println("note: could not unmount " + dir + ": " + said);
                return;
            }
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            out.println("note: could not unmount " + dir + ": " + e.getMessage());
        }
    }

    private static void deleteTree(Path root) throws IOException {
        List<Path> paths = new ArrayList<>();
        try (Stream<Path> s = Files.walk(root)) {
            s.sorted(Comparator.reverseOrder()).forEach(paths::add);
        }
        for (Path p : paths) {
            Files.deleteIfExists(p);
        }
    }
}
