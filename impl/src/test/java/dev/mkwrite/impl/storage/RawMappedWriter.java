package dev.mkwrite.impl.storage;

import java.io.IOException;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A child JVM's main: writes a whole file through a raw {@link MappedByteBuffer}, as an application
 * without mkwrite would. On a filesystem without room for it, a store dies with {@code InternalError}.
 */
public final class RawMappedWriter {

    private RawMappedWriter() {
    }

    /**
     * Maps {@code args[0]} with {@code args[1]} bytes and writes every long of it.
     *
     * @param args the file and its size
     * @throws IOException if mapping fails
     */
    public static void main(String[] args) throws IOException {
        Path file = Path.of(args[0]);
        int size = Integer.parseInt(args[1]);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            MappedByteBuffer buffer = ch.map(FileChannel.MapMode.READ_WRITE, 0, size);
            for (int i = 0; i + Long.BYTES <= size; i += Long.BYTES) {
                buffer.putLong(i, i);
                if ((i & 0xFFFF) == 0) {
                    System.out.println("wrote " + i);
                }
            }
        }
        System.out.println("completed");
    }
}
