package dev.mkwrite.impl.apilevel;

import dev.mkwrite.HandlerFailedException;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.NoSpaceException;
import dev.mkwrite.NoSpaceIOException;
import dev.mkwrite.RegionClosedException;
import dev.mkwrite.Reservation;
import dev.mkwrite.WriteFaultException;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.WriteFaultIOException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A store with an IOException API over mkwrite, written with dev.mkwrite only: one catch at its boundary
 * turns every write failure into an IOException whose type tells a full disk apart
 * (WriteFaultException.asIOException).
 */
class StoreBoundaryTest {

    @TempDir
    Path dir;

    static final int RECORD = 64;

    /** A fixed-size record store, as a store would write it: IOException at every public method. */
    static final class RecordStore implements Closeable {
        private final MappedRegion region;
        private long next;

        RecordStore(MappedRegion region) {
            this.region = region;
        }

        long append(long value) throws IOException {
            try {
                long at = next;
                region.putLong(at, value);               // several region calls, one catch
                region.putLong(at + 8, ~value);
                next = at + RECORD;
                return at;
            } catch (WriteFaultException e) {
                throw e.asIOException();
            }
        }

        long read(long at) throws IOException {
            try {
                return region.getLong(at);
            } catch (WriteFaultException e) {
                throw e.asIOException();
            }
        }

        @Override
        public void close() throws IOException {
            region.close();
        }
    }

    @Test
    void shouldSurfaceEachWriteFailureAsAnIOExceptionAtTheStoresBoundary() throws IOException {
        Path file = dir.resolve("records");
        int page = 4096;
        WriteFaultHandler handler = fault -> {
            if (fault.page() == 1) {
                throw new NoSpaceException("budget exhausted", fault.path(), fault.offset(), fault.page());
            }
            if (fault.page() == 2) {
                throw new IOException("a storage error");
            }
            return Reservation.none();
        };
        MappedRegion region = MappedRegion.builder(file).size(4L * page).pageSize(page).handler(handler).open();
        RecordStore store = new RecordStore(region);
        for (int i = 0; i < page / RECORD; i++) {
            store.append(i);
        }
        IOException full = assertThrows(IOException.class, () -> store.append(-1));
        NoSpaceIOException noSpace = assertInstanceOf(NoSpaceIOException.class, full);
        assertTrue(noSpace.getMessage().startsWith("No space left on device"), noSpace.getMessage());
        assertEquals(file.toString(), noSpace.getFile());
        assertEquals(page, noSpace.getCause().offset());
        assertEquals(5, store.read(5L * RECORD), "everything before the failed write is intact");

        store.next = 2L * page;
        WriteFaultIOException failed = assertThrows(WriteFaultIOException.class, () -> store.append(-2));
        assertFalse(failed instanceof NoSpaceIOException);
        assertInstanceOf(HandlerFailedException.class, failed.getCause());

        store.close();
        WriteFaultIOException closed = assertThrows(WriteFaultIOException.class, () -> store.append(-3));
        assertInstanceOf(RegionClosedException.class, closed.getCause());
        assertThrows(WriteFaultIOException.class, () -> store.read(0));
    }
}
