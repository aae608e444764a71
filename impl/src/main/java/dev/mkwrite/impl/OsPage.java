package dev.mkwrite.impl;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/** The operating system's page size, read from the ELF auxiliary vector without native access. */
final class OsPage {

    private static final int AT_PAGESZ = 6;
    private static final int DEFAULT = 4096;
    private static final int SIZE = read();

    private OsPage() {
    }

    static int size() {
        return SIZE;
    }

    private static int read() {
        try {
            ByteBuffer auxv = ByteBuffer.wrap(Files.readAllBytes(Path.of("/proc/self/auxv")))
                    .order(ByteOrder.nativeOrder());
            while (auxv.remaining() >= 16) {
                long type = auxv.getLong();
                long value = auxv.getLong();
                if (type == AT_PAGESZ && value > 0 && Long.bitCount(value) == 1 && value <= 1 << 30) {
                    return (int) value;
                }
            }
        } catch (IOException | RuntimeException e) {
            // Not Linux, or /proc is not mounted: fall through.
        }
        return DEFAULT;
    }
}
