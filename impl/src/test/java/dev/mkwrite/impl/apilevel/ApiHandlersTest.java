package dev.mkwrite.impl.apilevel;

import dev.mkwrite.FaultResult;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.WriteFaultHandlers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * WriteFaultHandlers: the built-in storage handlers, reached from code that imports only dev.mkwrite (this
 * package sees nothing of the implementation), behave as the implementation's: they prepare pages, chain,
 * serve several files, and are released and closed after their regions.
 */
class ApiHandlersTest {

    @TempDir
    Path dir;

    @Test
    void shouldPrepareAndWriteWithEveryBuiltInHandler() throws IOException {
        List<Supplier<WriteFaultHandlers.Storage>> factories = List.of(
                () -> WriteFaultHandlers.bestAvailable(64 << 10),
                () -> WriteFaultHandlers.fallocate(64 << 10),
                WriteFaultHandlers::populate,
                () -> WriteFaultHandlers.zeroFill(64 << 10));
        int n = 0;
        for (Supplier<WriteFaultHandlers.Storage> factory : factories) {
            Path file = dir.resolve("file-" + n++);
            try (WriteFaultHandlers.Storage storage = factory.get()) {
                assertTrue(storage.toString().startsWith("StorageHandler["), "the implementation's: " + storage);
                // 2 MiB, a whole number of folio units: a unit the end of the file cuts is prepared in part, and
                // its pages fault after each writeback whatever the filesystem (GiveBackTest)
                try (MappedRegion region = MappedRegion.builder(file).size(2 << 20).handler(storage).open()) {
                    region.putLong(8192, 77);
                    region.flush();
                    region.putLong(8192, 78); // faults again after writeback, unless the page was kept prepared
                    assertEquals(78, region.getLong(8192));
                    assertEquals(storage.preparesOverwrites(file) ? 2 : 1, region.stats().faults(), storage.toString());
                }
                storage.release(file);
                Files.delete(file);
            }
        }
    }

    @Test
    void shouldShareOneHandlerAcrossFilesAndCloseItAfterTheirRegions() throws IOException {
        try (WriteFaultHandlers.Storage storage = WriteFaultHandlers.zeroFill(64 << 10);
             MappedRegion a = MappedRegion.builder(dir.resolve("a")).size(1 << 20).handler(storage).open();
             MappedRegion b = MappedRegion.builder(dir.resolve("b")).size(1 << 20).handler(storage).open()) {
            a.putLong(0, 1);
            b.putLong(0, 2);
            assertEquals(1, a.getLong(0));
            assertEquals(2, b.getLong(0));
        } // closes b, a, then the handler: resources close in reverse order
    }

    @Test
    void shouldRunAUsersHandlerAndABuiltInOneInAChain() throws IOException {
        List<String> calls = new CopyOnWriteArrayList<>();
        try (WriteFaultHandlers.Storage storage = WriteFaultHandlers.zeroFill(64 << 10)) {
            WriteFaultHandler counting = fault -> {
                calls.add("mine " + fault.page());
                return dev.mkwrite.Reservation.none();
            };
            WriteFaultHandler observed = fault -> {
                FaultResult r = storage.prepare(fault);
                calls.add("storage " + fault.page());
                return r;
            };
            WriteFaultHandler chain = WriteFaultHandlers.chain(counting, observed);
            try (MappedRegion region = MappedRegion.builder(dir.resolve("chained")).size(1 << 20).handler(chain)
                    .open()) {
                region.putLong(3L * region.pageSize(), 5);
            }
        }
        assertEquals(List.of("mine 3", "storage 3"), calls);
    }

    @Test
    void shouldRefuseAGranuleThatIsNotAPowerOfTwo() {
        assertThrows(IllegalArgumentException.class, () -> WriteFaultHandlers.fallocate(3000));
        assertThrows(IllegalArgumentException.class, () -> WriteFaultHandlers.zeroFill(1000));
    }

    @Test
    void shouldTellWhetherNativeAccessIsOnAndWhichFlagTurnsItOn() {
        // The tests run on the class path with --enable-native-access=ALL-UNNAMED, on Linux.
        assertTrue(WriteFaultHandlers.nativeAccessAvailable());
        assertEquals("--enable-native-access=ALL-UNNAMED", WriteFaultHandlers.nativeAccessFlag());
    }
}
