package dev.mkwrite.impl.storage;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Counts the descriptors this process holds on one file, by the links of {@code /proc/self/fd}; and, as a
 * child JVM's main, counts them around a region with a storage handler, for the configurations a test JVM
 * cannot switch to (no native access).
 */
public final class DescriptorCount {

    private DescriptorCount() {
    }

    /**
     * The descriptors of this process that refer to {@code file}.
     *
     * @param file a file
     * @return how many
     * @throws IOException if {@code /proc/self/fd} cannot be listed
     */
    static int of(Path file) throws IOException {
        Path target = file.toRealPath();
        int n = 0;
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
            for (Path fd : fds) {
                try {
                    if (Files.readSymbolicLink(fd).equals(target)) {
                        n++;
                    }
                } catch (IOException e) {
                    // closed since it was listed (the listing's own descriptor, say)
                }
            }
        }
        return n;
    }

    /**
     * Opens a region over {@code args[0]} with backing {@code args[1]} and a storage handler of allocation
     * {@code args[2]}, writes a page in each of three granules, and prints the descriptors of the file while
     * the region is open ({@code open=N}), after it closed ({@code closed=N}) and after the handler closed
     * ({@code handlerClosed=N}).
     *
     * @param args the file, the backing, the allocation
     * @throws IOException if the region fails
     */
    public static void main(String[] args) throws IOException {
        Path file = Path.of(args[0]);
        Backing backing = Backing.valueOf(args[1]);
        StorageHandler.Allocation allocation = StorageHandler.Allocation.valueOf(args[2]);
        try (StorageHandler storage = StorageHandlers.create(allocation, 64 << 10, false)) {
            try (MappedRegion region = MappedRegion.builder(file).size(1 << 20).backing(backing).handler(storage)
                    .open()) {
                writeThreeGranules(region);
                System.out.println("open=" + of(file));
            }
            System.out.println("closed=" + of(file));
        }
        System.out.println("handlerClosed=" + of(file));
    }

    /** A page in each of three 64 KiB granules, so the handler allocates (or zero-fills) three times. */
    static void writeThreeGranules(MappedRegion region) {
        for (int g = 0; g < 3; g++) {
            region.putLong((long) g * (64 << 10) + 4096, g + 1);
        }
    }
}
