package dev.mkwrite.examples.diskfull;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.zip.CRC32C;

/**
 * The raw side of {@code disk-full}, run in a child JVM: writes the records through a plain
 * {@link MappedByteBuffer}, as most Java mmap users do, until the file is full or the JVM dies. On a full
 * filesystem the store into an unbackable page raises SIGBUS, which the JVM turns into
 * {@code java.lang.InternalError} at that store; nothing here catches it.
 *
 * <p>Usage: {@code RawMappedWriter FILE SIZE PAYLOAD}. Prints {@code written N} after every 64 records
 * and {@code done N} at the end.
 */
public final class RawMappedWriter {

    private RawMappedWriter() {
    }

    /**
     * Runs the writer.
     *
     * @param args the file, its size, the payload size
     * @throws IOException if the file cannot be mapped
     */
    public static void main(String[] args) throws IOException {
        Path file = Path.of(args[0]);
        long size = Long.parseLong(args[1]);
        int payload = Integer.parseInt(args[2]);
        PrintStream out = System.out;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            MappedByteBuffer map = ch.map(FileChannel.MapMode.READ_WRITE, 0, size); // sparse: no space yet
            CRC32C crc = new CRC32C();
            byte[] record = new byte[Records.stride(payload)];
            int stride = Records.stride(payload);
            long n = 0;
            for (long p = 0; p + stride <= size; p += stride) {
                int length = Records.encode(crc, n, payload, record);
                map.put((int) p, record, 0, length); // SIGBUS here once the filesystem is full
                n++;
                if ((n & 63) == 0) {
                    out.println("written " + n);
                    out.flush();
                }
            }
            map.force();
            out.println("done " + n);
        }
    }
}
