package dev.mkwrite.impl.storage.probe;

import dev.mkwrite.MappedRegion;
import dev.mkwrite.impl.storage.PrepareAhead;
import dev.mkwrite.impl.storage.StorageHandler;
import dev.mkwrite.impl.storage.StorageHandlers;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A child JVM's main: uses every storage handler once and prints what it chose, so a test can run it with
 * and without {@code --enable-native-access}, on the class path and the module path, and read its output.
 * In a package of its own: on the module path, {@code dev.mkwrite.impl.storage} belongs to the named module.
 */
public final class NativeAccessProbe {

    private NativeAccessProbe() {
    }

    /**
     * Prepares and writes a region with each handler in directory {@code args[0]}.
     *
     * @param args the directory
     * @throws IOException if a region fails
     */
    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args[0]);
        System.out.println("nativeAccess=" + StorageHandlers.nativeAccessAvailable());
        System.out.println("flag=" + StorageHandlers.nativeAccessFlag());
        try (StorageHandler best = StorageHandlers.bestAvailable(64 << 10);
             StorageHandler fallocate = StorageHandlers.fallocate(64 << 10);
             StorageHandler populate = StorageHandlers.populate();
             PrepareAhead ahead = StorageHandlers.prepareAhead(fallocate, 2)) {
            System.out.println("bestAvailable=" + best.effectiveAllocation());
            System.out.println("fallocate=" + fallocate.effectiveAllocation());
            System.out.println("populate=" + populate.effectiveAllocation());
            int n = 0;
            for (var handler : new dev.mkwrite.WriteFaultHandler[] {best, ahead, populate}) {
                try (MappedRegion region = MappedRegion.builder(dir.resolve("probe-" + n++)).size(1 << 20)
                        .handler(handler).open()) {
                    for (long p = 0; p < 32; p++) {
                        region.putLong(p * 4096, p);
                    }
                    region.flush();
                }
            }
        }
        // punchHole deallocates natively, or writes zeros without native access: the same bytes either way
        try (MappedRegion region = MappedRegion.builder(dir.resolve("probe-hole")).size(1 << 20)
                .handler(dev.mkwrite.WriteFaultHandler.none()).open()) {
            for (long p = 0; p < 8; p++) {
                region.putLong(p * 4096, p + 1);
            }
            region.punchHole(2 * 4096, 4 * 4096);
            StringBuilder longs = new StringBuilder();
            for (long p = 0; p < 8; p++) {
                longs.append(p == 0 ? "" : ",").append(region.getLong(p * 4096));
            }
            System.out.println("punchHole=" + longs);
        }
        System.out.println("done");
    }
}
