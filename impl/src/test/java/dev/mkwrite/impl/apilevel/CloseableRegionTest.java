package dev.mkwrite.impl.apilevel;

import dev.mkwrite.MappedRegion;
import dev.mkwrite.WriteFaultHandler;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** MappedRegion is a java.io.Closeable, so a store closes its regions with its other files. */
class CloseableRegionTest {

    @TempDir
    Path dir;

    @Test
    void shouldCloseRegionsWithTheStoresOtherCloseables() throws IOException {
        List<Closeable> resources = new ArrayList<>();
        MappedRegion region = MappedRegion.builder(dir.resolve("closeable")).size(1 << 16)
                .handler(WriteFaultHandler.none()).open();
        resources.add(region);
        resources.add(() -> { }); // another of the store's files
        region.putLong(0, 1);
        for (Closeable c : resources) {
            c.close();
        }
        assertTrue(region.isClosed());
        for (Closeable c : resources) {
            c.close(); // Closeable.close is idempotent, as every handle's is
        }
    }
}
