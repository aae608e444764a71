package dev.mkwrite.impl.storage;

import dev.mkwrite.impl.os.NativeAccess;
import dev.mkwrite.impl.os.SharedFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A file's folio unit is the same whether it is read through the region's native descriptor
 * ({@code fstatfs}, {@code fstat}, and a block device's limits remembered) or through the path (the file
 * store, the attribute view): on the temporary directory's filesystem, on {@code /dev/shm} (one page), and
 * on the tests' tmpfs and ext4 image where they are mounted.
 */
class FolioUnitTest {

    @Test
    void shouldAgreeThroughTheDescriptorAndThePath(@TempDir Path dir) throws Exception {
        assumeTrue(NativeAccess.available(), NativeAccess.unavailableReason());
        List<Path> dirs = new ArrayList<>(List.of(dir));
        Path shm = Path.of("/dev/shm");
        if (Files.isDirectory(shm) && Files.getFileStore(shm).type().equals("tmpfs")) {
            dirs.add(shm);
        }
        for (String property : new String[] {"mkwrite.tmpfs", "mkwrite.ext4"}) {
            String mounted = System.getProperty(property);
            if (mounted != null && !mounted.isBlank() && Files.isDirectory(Path.of(mounted))) {
                dirs.add(Path.of(mounted));
            }
        }
        for (Path d : dirs) {
            Path file = Files.createTempFile(d, "mkwrite-folio", ".dat");
            SharedFile shared = SharedFile.open(file, "the test");
            try {
                int byPath = FolioUnit.of(file);
                assertEquals(byPath, FolioUnit.of(file, shared), file.toString());
                assertEquals(byPath, FolioUnit.of(file, shared), "remembered for " + file);
                if (Files.getFileStore(file).type().equals("tmpfs")) {
                    assertEquals(UnitTable.UNIT, byPath, file.toString());
                }
            } finally {
                shared.close(null);
                Files.delete(file);
            }
        }
    }
}
