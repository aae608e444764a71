package dev.mkwrite.impl;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import dev.mkwrite.impl.os.SharedFile;

import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * punchHole's fallback, zeros through the channel: the data in the range reads zero afterwards, and a
 * sparse range stays sparse (writing zeros over a 64 MiB hole would fill a small disk).
 */
class FileHolesTest {

    private static final int MIB = 1 << 20;

    @Test
    void shouldZeroTheDataAndLeaveHolesUnallocated(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("sparse");
        byte[] data = new byte[3 * 4096];
        Arrays.fill(data, (byte) 7);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(data), MIB + 100); // straddles four 4 KiB units
            ch.write(ByteBuffer.wrap(data), 64L * MIB - data.length); // the last bytes of the file
            long blocksBefore = allocatedBytes(file);

            FileHoles.zeroData(new SharedFile(file, -1, ch), 0, 64L * MIB);

            assertTrue(allocatedBytes(file) <= blocksBefore, "the holes were filled: " + allocatedBytes(file)
                    + " bytes allocated, " + blocksBefore + " before");
            assertEquals(64L * MIB, ch.size());
            ByteBuffer back = ByteBuffer.allocate(8 * 4096);
            ch.read(back, MIB - 4096);
            assertArrayEquals(new byte[8 * 4096], back.array());
            back.clear().limit(data.length);
            ch.read(back, 64L * MIB - data.length);
            assertArrayEquals(new byte[data.length], Arrays.copyOf(back.array(), data.length));
        }
    }

    /** The file's allocated bytes, from stat(1): Java has no portable view of a file's blocks. */
    private static long allocatedBytes(Path file) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("stat", "-c", "%b %B", file.toString()).redirectErrorStream(true).start();
        String[] out = new String(p.getInputStream().readAllBytes()).trim().split(" ");
        assertEquals(0, p.waitFor(), String.join(" ", out));
        return Long.parseLong(out[0]) * Long.parseLong(out[1]);
    }
}
