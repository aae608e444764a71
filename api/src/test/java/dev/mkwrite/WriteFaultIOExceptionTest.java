package dev.mkwrite;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.nio.file.FileSystemException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * WriteFaultException.asIOException: a store that declares IOException turns a write's failure into one at
 * its boundary, and its callers tell a full disk apart by type or, like FileChannel's, by message.
 */
class WriteFaultIOExceptionTest {

    private static final Path FILE = Path.of("/data/wal.000");

    @Test
    void shouldTurnNoSpaceIntoANoSpaceIOExceptionWhoseMessageStartsLikeTheJdks() {
        NoSpaceException full = new NoSpaceException("fallocate: ENOSPC", FILE, 8192, 2);
        NoSpaceIOException e = full.asIOException();
        assertSame(full, e.getCause());
        assertEquals(FILE.toString(), e.getFile());
        assertEquals("No space left on device: fallocate: ENOSPC [file /data/wal.000, offset 8192, page 2]",
                e.getMessage());
        assertTrue(e.getMessage().contains("No space left on device"), "what code written for FileChannel looks for");
        assertEquals(8192, e.getCause().offset());
        assertInstanceOf(FileSystemException.class, e);
    }

    @Test
    void shouldTurnEveryOtherWriteFaultIntoAWriteFaultIOExceptionCausedByIt() {
        List<WriteFaultException> others = List.of(
                new RegionClosedException(FILE, 0, -1),
                new OutOfRegionException(FILE, 100, 8, 64, 0),
                new HandlerFailedException("handler threw", FILE, 4096, 1, new IllegalStateException("bug")),
                new FaultInterruptedException(FILE, 4096, 1, null));
        for (WriteFaultException fault : others) {
            WriteFaultIOException e = fault.asIOException();
            assertFalse(e instanceof NoSpaceIOException, fault.getClass().getSimpleName());
            assertSame(fault, e.getCause());
            assertEquals(fault.getMessage(), e.getMessage(), "the message names the file, the offset and the page");
            assertEquals(FILE.toString(), e.getFile());
            assertFalse(e.getMessage().contains("No space left on device"), e.getMessage());
        }
    }

    /** The one catch at a store's boundary, as the class documentation shows it. */
    @Test
    void shouldLetOneCatchAtTheStoresBoundaryRethrowAsIOException() {
        IOException e = assertThrows(IOException.class, () -> append(() -> {
            throw new NoSpaceException("volume full", FILE, 0, 0);
        }));
        assertInstanceOf(NoSpaceIOException.class, e);
        IOException closed = assertThrows(IOException.class, () -> append(() -> {
            throw new RegionClosedException(FILE, 0, 0);
        }));
        assertInstanceOf(RegionClosedException.class, closed.getCause());
    }

    private static void append(Runnable regionCalls) throws IOException {
        try {
            regionCalls.run();
        } catch (WriteFaultException e) {
            throw e.asIOException();
        }
    }

    @Test
    void shouldSerializeWithItsCauseAndMessage() throws Exception {
        NoSpaceIOException e = new NoSpaceException("quota", FILE, 0, 0).asIOException();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(e);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            NoSpaceIOException back = (NoSpaceIOException) in.readObject();
            assertEquals(e.getMessage(), back.getMessage());
            assertEquals(FILE.toString(), back.getFile());
            assertEquals(0, back.getCause().offset());
        }
    }
}
