package dev.mkwrite.impl.reliability;

import org.junit.jupiter.api.extension.AnnotatedElementContext;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.io.TempDirFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Creates {@code @TempDir} directories in the directory named by {@code -Dfsx.dir} if given, else in
 * {@code /dev/shm} (a tmpfs on Linux) where it exists and is writable, else in the default temporary
 * directory. On tmpfs {@code msync} costs nothing, so a test that
 * flushes tens of thousands of times measures mkwrite, not the disk; the page-cache semantics it checks
 * (truncate zeroing the partial page, holes reading as zero, shared mappings) are the same.
 */
final class ShmTempDir implements TempDirFactory {

    static final Path SHM = Path.of("/dev/shm");

    @Override
    public Path createTempDirectory(AnnotatedElementContext element, ExtensionContext extension) throws IOException {
        String dir = FsxTest.property(FsxTest.DIR);
        if (dir != null) {
            return Files.createTempDirectory(Path.of(dir), "mkwrite-fsx-");
        }
        if (Files.isDirectory(SHM) && Files.isWritable(SHM)) {
            return Files.createTempDirectory(SHM, "mkwrite-fsx-");
        }
        return Files.createTempDirectory("mkwrite-fsx-");
    }
}
