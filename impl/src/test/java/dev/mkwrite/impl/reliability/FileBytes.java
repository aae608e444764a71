package dev.mkwrite.impl.reliability;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** The file as the file system has it, read with a {@link FileChannel}, not through any mapping. */
final class FileBytes {

    private FileBytes() {
    }

    /**
     * Reads the whole file.
     *
     * @param file the file; at most 2 GiB
     * @return its bytes, as many as its size
     * @throws IOException if reading failed
     */
    static byte[] read(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer all = ByteBuffer.allocate(Math.toIntExact(ch.size()));
            while (all.hasRemaining() && ch.read(all, all.position()) >= 0) {
                // reads until full, or the end if the file shrank meanwhile
            }
            return all.array();
        }
    }
}
