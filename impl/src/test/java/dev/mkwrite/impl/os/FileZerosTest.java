package dev.mkwrite.impl.os;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The one walk, both ways: filling holes writes zeros over units that read as zero and never over data;
 * zeroing data writes zeros over units that do not and never into holes. Neither passes the end of the file.
 */
class FileZerosTest {

    private static final int UNIT = FileZeros.UNIT;
    private static final BlockingIo.Cancel NEVER = cancelOf(false);

    @TempDir
    Path dir;

    @Test
    void shouldFillOnlyTheUnitsThatReadAsZero() throws IOException {
        try (FileChannel ch = fileWithDataAt(1, 3)) { // units 0, 2, 4..7 are holes
            long written = FileZeros.fillHoles(shared(ch), 0, 8L * UNIT, NEVER);
            assertEquals(6L * UNIT, written);
            assertArrayEquals(data(), read(ch, UNIT), "data was overwritten");
            assertArrayEquals(data(), read(ch, 3L * UNIT), "data was overwritten");
            assertEquals(8L * UNIT, ch.size());
        }
    }

    @Test
    void shouldZeroOnlyTheUnitsThatHoldData() throws IOException {
        try (FileChannel ch = fileWithDataAt(1, 3)) {
            long written = FileZeros.zeroData(shared(ch), 0, 8L * UNIT, NEVER);
            assertEquals(2L * UNIT, written);
            assertArrayEquals(new byte[UNIT], read(ch, UNIT));
            assertArrayEquals(new byte[UNIT], read(ch, 3L * UNIT));
            assertEquals(8L * UNIT, ch.size());
        }
    }

    @Test
    void shouldAlignUnitsToFileOffsetsAndStopAtTheEndOfTheFile() throws IOException {
        try (FileChannel ch = fileWithDataAt(1, 3)) {
            // From the middle of unit 0 to past the end: unit 0's tail, unit 2 and units 4..7 are holes.
            long written = FileZeros.fillHoles(shared(ch), UNIT / 2, 64L * UNIT, NEVER);
            assertEquals(UNIT / 2 + 5L * UNIT, written);
            assertEquals(8L * UNIT, ch.size(), "the walk wrote past the end of the file");
        }
    }

    @Test
    void shouldStopBeforeTheNextChunkOnceCancelled() throws IOException {
        try (FileChannel ch = fileWithDataAt(1, 3)) {
            assertThrows(java.io.InterruptedIOException.class,
                    () -> FileZeros.fillHoles(shared(ch), 0, 8L * UNIT, cancelOf(true)));
            assertArrayEquals(data(), read(ch, UNIT));
        }
    }

    /** The channel as the walks take a file: the region's {@link SharedFile}, here a channel alone. */
    private static SharedFile shared(FileChannel ch) {
        return new SharedFile(Path.of("test"), -1, ch);
    }

    private FileChannel fileWithDataAt(int... units) throws IOException {
        FileChannel ch = FileChannel.open(dir.resolve("f-" + System.nanoTime()), StandardOpenOption.CREATE_NEW,
                StandardOpenOption.READ, StandardOpenOption.WRITE);
        for (int u : units) {
            ch.write(ByteBuffer.wrap(data()), (long) u * UNIT);
        }
        ch.write(ByteBuffer.allocate(1), 8L * UNIT - 1); // the file is 8 units long; its last byte is zero
        return ch;
    }

    private static byte[] data() {
        byte[] b = new byte[UNIT];
        Arrays.fill(b, (byte) 7);
        return b;
    }

    private static byte[] read(FileChannel ch, long at) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(UNIT);
        while (b.hasRemaining() && ch.read(b, at + b.position()) > 0) {
            // read on
        }
        return b.array();
    }

    private static BlockingIo.Cancel cancelOf(boolean requested) {
        BlockingIo.Cancel c = new BlockingIo.Cancel();
        if (requested) {
            c.request();
        }
        return c;
    }
}
