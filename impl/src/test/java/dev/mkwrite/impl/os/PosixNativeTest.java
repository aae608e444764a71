package dev.mkwrite.impl.os;

import dev.mkwrite.impl.storage.ChildJvm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The bindings: each function is bound on its first call only, and each call reports a negated errno. */
class PosixNativeTest {

    @Test
    void shouldBindOnlyTheFunctionsAJvmCalls(@TempDir Path dir) throws Exception {
        ChildJvm.Result r = ChildJvm.onClassPath(List.of("--enable-native-access=ALL-UNNAMED", "-Xlog:class+init=info"),
                LazyBindingProbe.class, dir.resolve("f").toString());
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.stdout().contains("available=true fd=true close=0"), r.toString());
        String out = r.stdout();
        assertTrue(out.contains("PosixNative$Open"), "open was not bound through its holder:\n" + r);
        assertTrue(out.contains("PosixNative$Close"), r.toString());
        for (String unused : new String[] {"Fallocate", "Madvise", "Mmap", "Munmap", "Msync", "Ftruncate", "Lseek",
            "Strerror"}) {
            assertFalse(out.contains("PosixNative$" + unused), unused + " was bound, though never called:\n" + r);
        }
    }

    @Test
    void shouldReportANegatedErrno(@TempDir Path dir) throws Exception {
        assumeTrue(NativeAccess.available(), NativeAccess.unavailableReason());
        assertEquals(-Errno.ENOENT, PosixNative.open(dir.resolve("missing")));
        assertEquals(-Errno.EBADF, PosixNative.close(-5));
        assertEquals(-Errno.EBADF, PosixNative.fallocate(-5, PosixNative.FALLOC_FL_KEEP_SIZE, 0, 4096));
        assertEquals(-Errno.EBADF, PosixNative.ftruncate(-5, 0));
        assertEquals(-Errno.EBADF, PosixNative.size(-5));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment unaligned = arena.allocate(8192, 4096).asSlice(1);
            assertEquals(-Errno.EINVAL, PosixNative.madvise(unaligned, 4096, PosixNative.MADV_POPULATE_WRITE));
        }
    }

    @Test
    void shouldAllocateAndSizeAFileThroughItsDescriptor(@TempDir Path dir) throws Exception {
        assumeTrue(NativeAccess.available(), NativeAccess.unavailableReason());
        Path file = dir.resolve("f");
        Files.write(file, new byte[0]);
        int fd = PosixNative.open(file);
        assertTrue(fd >= 0, "open: " + fd);
        try {
            assertEquals(0, PosixNative.ftruncate(fd, 1 << 20));
            assertEquals(1 << 20, PosixNative.size(fd));
            int r = PosixNative.fallocate(fd, PosixNative.FALLOC_FL_KEEP_SIZE, 0, 1 << 16);
            assertTrue(r == 0 || r == -Errno.EOPNOTSUPP, "fallocate: " + Errno.name(-r));
            assertEquals(1 << 20, Files.size(file));
        } finally {
            assertEquals(0, PosixNative.close(fd));
        }
    }

    @Test
    void shouldTellTheDeviceAndTheFilesystemOfADescriptor(@TempDir Path dir) throws Exception {
        assumeTrue(NativeAccess.available(), NativeAccess.unavailableReason());
        assertEquals(-Errno.EBADF, PosixNative.deviceOf(-5));
        assertEquals(-Errno.EBADF, PosixNative.filesystemTypeOf(-5));
        Path shm = Path.of("/dev/shm");
        assumeTrue(Files.isDirectory(shm) && Files.getFileStore(shm).type().equals("tmpfs"), "no tmpfs at /dev/shm");
        for (Path file : new Path[] {dir.resolve("f"), Files.createTempFile(shm, "mkwrite-posix", ".dat")}) {
            Files.write(file, new byte[1]);
            int fd = PosixNative.open(file);
            assertTrue(fd >= 0, "open: " + fd);
            try {
                assertEquals(((Number) Files.getAttribute(file, "unix:dev")).longValue(), PosixNative.deviceOf(fd),
                        file.toString());
                boolean tmpfs = Files.getFileStore(file).type().equals("tmpfs");
                assertEquals(tmpfs, PosixNative.filesystemTypeOf(fd) == PosixNative.TMPFS_MAGIC, file.toString());
            } finally {
                assertEquals(0, PosixNative.close(fd));
                Files.delete(file);
            }
        }
    }
}
