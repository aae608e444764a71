package dev.mkwrite.impl.storage;

import dev.mkwrite.MappedRegion;
import dev.mkwrite.NoSpaceIOException;
import dev.mkwrite.WriteFaultException;
import dev.mkwrite.WriteFaultHandlers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A store written against dev.mkwrite only (WriteFaultHandlers, asIOException) on a real, small filesystem:
 * a full disk reaches the store's callers as {@link NoSpaceIOException}, whose message starts like the
 * JDK's own, every record acknowledged before it reads back, and the same append succeeds once space is
 * freed. Skipped, saying why, where no small filesystem can be had (see {@link SmallFilesystem}).
 */
class StoreOnAFullDiskTest {

    @RegisterExtension
    static final SmallFilesystem fs = new SmallFilesystem();

    static final int RECORD = 4096;

    /** An append-only log with an IOException API. Nothing here imports the implementation. */
    static final class Log implements Closeable {
        private final WriteFaultHandlers.Storage storage;
        private final MappedRegion region;
        private long end;

        Log(Path file, long capacity) throws IOException {
            storage = WriteFaultHandlers.bestAvailable(64 << 10);
            MappedRegion r = null;
            try {
                r = MappedRegion.builder(file).size(capacity).handler(storage).open();
            } finally {
                if (r == null) {
                    storage.close();
                }
            }
            region = r;
        }

        long append(byte[] record) throws IOException {
            try {
                long at = end;
                region.put(at, record);
                end = at + record.length;
                return at;
            } catch (WriteFaultException e) {
                throw e.asIOException();
            }
        }

        byte[] read(long at, int length) throws IOException {
            byte[] b = new byte[length];
            try {
                region.get(at, b, 0, length);
            } catch (WriteFaultException e) {
                throw e.asIOException();
            }
            return b;
        }

        @Override
        public void close() throws IOException {
            try {
                region.close();
                storage.release(region.path());
            } finally {
                storage.close();
            }
        }
    }

    @Test
    void shouldFailAnAppendOnAFullDiskWithNoSpaceIOExceptionAndKeepEveryAcknowledgedRecord() throws IOException {
        Path file = fs.dir().resolve("log");
        Path reserve = fs.dir().resolve("reserve");
        writeFile(reserve, 1 << 20); // space to free later
        long capacity = Files.getFileStore(fs.dir()).getTotalSpace() * 2; // more than the disk holds
        try (Log log = new Log(file, capacity)) {
            int acknowledged = 0;
            IOException failure;
            for (;;) {
                try {
                    log.append(record(acknowledged));
                    acknowledged++;
                } catch (IOException e) {
                    failure = e;
                    break;
                }
            }
            NoSpaceIOException noSpace = assertInstanceOf(failure);
            assertTrue(noSpace.getMessage().startsWith("No space left on device"), noSpace.getMessage());
            assertTrue(noSpace.getMessage().contains(file.toString()), noSpace.getMessage());
            assertEquals((long) acknowledged * RECORD, noSpace.getCause().offset());
            assertTrue(acknowledged > 0, "the disk took some records first");
            for (int i = 0; i < acknowledged; i++) {
                assertArrayEquals(record(i), log.read((long) i * RECORD, RECORD), "record " + i);
            }

            Files.delete(reserve);
            assertEquals((long) acknowledged * RECORD, log.append(record(acknowledged)), "the same append, now");
            assertArrayEquals(record(acknowledged), log.read((long) acknowledged * RECORD, RECORD));
        }
    }

    private static NoSpaceIOException assertInstanceOf(IOException e) {
        assertTrue(e instanceof NoSpaceIOException, () -> "expected NoSpaceIOException, got " + e);
        return (NoSpaceIOException) e;
    }

    private static byte[] record(int n) {
        byte[] b = new byte[RECORD];
        Arrays.fill(b, (byte) (n * 31 + 1 | 1));
        return b;
    }

    private static void writeFile(Path path, int bytes) throws IOException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.allocate(bytes);
            while (b.hasRemaining()) {
                ch.write(b);
            }
        }
    }
}
