package dev.mkwrite.impl.storage;

import java.io.IOException;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A child JVM's main: writes the items of {@link DiskFullTest#items} one file each, through raw
 * {@link MappedByteBuffer}s, as an application without mkwrite would, until the first store dies with
 * {@code InternalError}; prints the bytes of the items written whole before it.
 */
public final class RawItemsWriter {

    private RawItemsWriter() {
    }

    /**
     * Writes items into directory {@code args[0]}, seeded with {@code args[1]}.
     *
     * @param args the directory and the seed
     * @throws IOException if mapping fails
     */
    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args[0]);
        long seed = Long.parseLong(args[1]);
        long acked = 0;
        int n = 0;
        try {
            for (int item : DiskFullTest.items(seed)) {
                try (FileChannel ch = FileChannel.open(dir.resolve("item-" + n++), StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                    MappedByteBuffer buffer = ch.map(FileChannel.MapMode.READ_WRITE, 0, DiskFullTest.ITEM_FILE);
                    for (int i = 0; i < item; i += Long.BYTES) {
                        buffer.putLong(i, i | 1);
                    }
                }
                acked += item;
            }
            System.out.println("completed");
        } catch (InternalError e) {
            System.out.println("died: " + e);
        }
        System.out.println("files=" + n);
        System.out.println("acked=" + acked);
    }
}
