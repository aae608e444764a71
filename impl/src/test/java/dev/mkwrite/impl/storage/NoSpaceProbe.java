package dev.mkwrite.impl.storage;

import dev.mkwrite.MappedRegion;
import dev.mkwrite.WriteFaultException;
import dev.mkwrite.impl.os.Errno;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A child JVM's main, run under another locale on a full filesystem: meets a real ENOSPC from the JDK and
 * from a zero-fill fault, and prints how mkwrite classified each.
 */
public final class NoSpaceProbe {

    private NoSpaceProbe() {
    }

    /**
     * Writes into directory {@code args[0]}, whose filesystem is full.
     *
     * @param args the directory
     * @throws IOException if something other than the write fails
     */
    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args[0]);
        Path file = dir.resolve("probe-write");
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(64 << 10));
            System.out.println("write=succeeded");
        } catch (IOException e) {
            System.out.println("message=" + e.getMessage());
            System.out.println("byMessage=" + Errno.isNoSpace(e));
            System.out.println("withUsableSpace=" + Errno.isNoSpace(e, file, 64 << 10));
        }
        try (StorageHandler storage = StorageHandlers.zeroFill(64 << 10);
             MappedRegion region = MappedRegion.builder(dir.resolve("probe-region")).size(1 << 20).handler(storage)
                     .open()) {
            region.putLong(0, 1);
            System.out.println("zeroFill=succeeded");
        } catch (WriteFaultException e) {
            System.out.println("zeroFill=" + e.getClass().getSimpleName());
            System.out.println("zeroFillMessage=" + e.getMessage());
        }
        System.out.println("done");
    }
}
