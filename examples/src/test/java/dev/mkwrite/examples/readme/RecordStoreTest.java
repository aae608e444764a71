package dev.mkwrite.examples.readme;

import dev.mkwrite.impl.storage.StorageHandler;
import dev.mkwrite.impl.storage.StorageHandlers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Runs the README's example and checks what it promises: records read back after a reopen, in order. */
class RecordStoreTest {

    @TempDir
    Path tmp;

    @Test
    void shouldReadBackWhatTheReadmeExampleAppendedAfterAReopen() throws Exception {
        Path file = tmp.resolve("records.dat");
        assertEquals(List.of("hello", "world"), runMain(file));
        // A second run finds the end of the first run's records and appends after them.
        assertEquals(List.of("hello", "world", "hello", "world"), runMain(file));
    }

    @Test
    void shouldGrowPastTheFirstMebibyteAndKeepEveryRecord() throws Exception {
        Path file = tmp.resolve("big.dat");
        List<byte[]> written = new ArrayList<>();
        try (StorageHandler storage = StorageHandlers.fallocate(1 << 20)) {
            try (RecordStore store = RecordStore.open(file, storage)) {
                for (int i = 0; i < 3_000; i++) {
                    byte[] record = ("record " + i + " ").repeat(1 + i % 100).getBytes(UTF_8);
                    store.append(record);
                    written.add(record);
                    if (i % 1_000 == 999) {
                        store.flush();
                    }
                }
            }
            assertTrue(Files.size(file) > 1 << 20, "the store grew: " + Files.size(file));
            try (RecordStore store = RecordStore.open(file, storage)) {
                List<byte[]> read = store.readAll();
                assertEquals(written.size(), read.size());
                for (int i = 0; i < written.size(); i++) {
                    assertArrayEquals(written.get(i), read.get(i), "record " + i);
                }
                assertTrue(storage.stats().fallocates() > 0 || storage.stats().zeroFilledBytes() > 0,
                        "the handler prepared the pages");
            }
        }
    }

    @Test
    void shouldRefuseAnEmptyRecordWhichWouldEndTheStore() throws Exception {
        try (StorageHandler storage = StorageHandlers.fallocate(1 << 20);
             RecordStore store = RecordStore.open(tmp.resolve("r.dat"), storage)) {
            assertThrows(IllegalArgumentException.class, () -> store.append(new byte[0]));
            store.append(new byte[] {1});
            assertEquals(1, store.readAll().size());
        }
    }

    private static List<String> runMain(Path file) throws Exception {
        PrintStream saved = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        try (PrintStream out = new PrintStream(captured, true, UTF_8)) {
            System.setOut(out);
            RecordStore.main(new String[] {file.toString()});
        } finally {
            System.setOut(saved);
        }
        return captured.toString(UTF_8).lines().toList();
    }
}
