package dev.mkwrite.impl.storage;

import dev.mkwrite.impl.os.Errno;
import dev.mkwrite.impl.os.ErrnoException;
import dev.mkwrite.impl.os.NativeAccess;
import dev.mkwrite.impl.os.PosixNative;
import dev.mkwrite.HandlerFailedException;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.NoSpaceException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** How errno values become exceptions: no space, or an {@link ErrnoException} that names everything. */
class ErrnoMappingTest {

    private static final Path FILE = Path.of("/data/segment-7");
    private static final TestFault FAULT = TestFault.page(FILE, 3);

    @Test
    void shouldReportEnospcFromFallocateAsNoSpaceNamingTheCall() {
        NoSpaceException e = assertInstanceOf(NoSpaceException.class,
                GranuleAllocator.fallocateFailure(Errno.ENOSPC, FAULT, 0, 65536));
        assertEquals(FILE, e.path());
        assertEquals(3 * 4096, e.offset());
        assertEquals(3, e.page());
        ErrnoException cause = assertInstanceOf(ErrnoException.class, e.getCause());
        assertEquals(28, cause.errno());
        assertEquals("ENOSPC", cause.errnoName());
        assertEquals("fallocate", cause.call());
        assertEquals(65536, cause.length());
    }

    @Test
    void shouldReportEdquotFromFallocateAsNoSpace() {
        NoSpaceException e = assertInstanceOf(NoSpaceException.class,
                GranuleAllocator.fallocateFailure(Errno.EDQUOT, FAULT, 0, 4096));
        assertTrue(e.getMessage().contains("EDQUOT"), e.getMessage());
        assertEquals(122, ((ErrnoException) e.getCause()).errno());
    }

    @Test
    void shouldNameErrnoNumberNamePathOffsetAndLengthForAnyOtherFallocateError() {
        ErrnoException e = assertInstanceOf(ErrnoException.class,
                GranuleAllocator.fallocateFailure(Errno.EIO, FAULT, 8192, 65536));
        assertEquals(5, e.errno());
        assertEquals("EIO", e.errnoName());
        assertEquals(FILE, e.path());
        assertEquals(8192, e.offset());
        assertEquals(65536, e.length());
        String m = e.getMessage();
        for (String part : new String[] {"fallocate", "errno 5", "EIO", FILE.toString(), "offset 8192",
            "length 65536"}) {
            assertTrue(m.contains(part), "message lacks '" + part + "': " + m);
        }
        if (NativeAccess.available()) {
            assertTrue(m.contains("Input/output error"), "message lacks strerror: " + m);
        }
    }

    @Test
    void shouldNameAnErrnoItHasNoNameFor() {
        ErrnoException e = new ErrnoException("fallocate", 4095, FILE, 0, 1, null);
        assertEquals("errno 4095", e.errnoName());
        assertTrue(e.getMessage().contains("errno 4095"), e.getMessage());
    }

    @Test
    void shouldReportPopulateEfaultAsNoSpaceWhenTheFilesystemIsFull() {
        NoSpaceException e = assertInstanceOf(NoSpaceException.class,
                StorageHandler.populateFailure(Errno.EFAULT, 0, FAULT));
        assertTrue(e.getMessage().contains("EFAULT"), e.getMessage());
        assertEquals(14, ((ErrnoException) e.getCause()).errno());
    }

    @Test
    void shouldReportPopulateEfaultAsAnIoFailureWhenTheFilesystemHasSpace() {
        ErrnoException e = assertInstanceOf(ErrnoException.class,
                StorageHandler.populateFailure(Errno.EFAULT, 1L << 30, FAULT));
        assertEquals("EFAULT", e.errnoName());
        assertTrue(e.getMessage().contains("SIGBUS"), e.getMessage());
        assertTrue(e.getMessage().contains((1L << 30) + " bytes"), e.getMessage());
    }

    @Test
    void shouldReportPopulateEfaultAsAnIoFailureWhenTheFreeSpaceIsUnknown() {
        ErrnoException e = assertInstanceOf(ErrnoException.class,
                StorageHandler.populateFailure(Errno.EFAULT, -1, FAULT));
        assertTrue(e.getMessage().contains("unknown amount"), e.getMessage());
    }

    @Test
    void shouldReportPopulateEnospcAsNoSpaceAndOtherErrorsByName() {
        assertInstanceOf(NoSpaceException.class, StorageHandler.populateFailure(Errno.ENOSPC, -1, FAULT));
        ErrnoException e = assertInstanceOf(ErrnoException.class,
                StorageHandler.populateFailure(Errno.ENOMEM, -1, FAULT));
        assertEquals("ENOMEM", e.errnoName());
        assertEquals("madvise(MADV_POPULATE_WRITE)", e.call());
    }

    @Test
    void shouldKeepPreparingTheRegionsFileThroughItsDescriptorAfterThePathIsDeleted(@TempDir Path dir)
            throws Exception {
        assumeTrue(NativeAccess.available(), "needs native access: " + NativeAccess.unavailableReason());
        Path file = dir.resolve("deleted");
        try (StorageHandler storage = StorageHandlers.fallocate(1 << 16);
             MappedRegion region = MappedRegion.builder(file).size(1 << 20).handler(storage).open()) {
            Files.delete(file); // the handler works through the region's descriptor, not the path
            region.putLong(0, 1);
            assertEquals(1, storage.stats().fallocates());
        }
    }

    @Test
    void shouldReportARealErrnoWhenAFaultWithoutARegionNamesAMissingFile(@TempDir Path dir) {
        assumeTrue(NativeAccess.available(), "needs native access: " + NativeAccess.unavailableReason());
        Path file = dir.resolve("missing");
        try (StorageHandler storage = StorageHandlers.fallocate(1 << 16)) {
            ErrnoException cause = assertThrows(ErrnoException.class, () -> storage.prepare(TestFault.page(file, 0)));
            assertEquals("open", cause.call());
            assertEquals(Errno.ENOENT, cause.errno());
            assertTrue(cause.getMessage().contains(file.toString()), cause.getMessage());
            assertTrue(cause.getMessage().contains("No such file or directory"), cause.getMessage());
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
    }
}
