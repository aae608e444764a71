package dev.mkwrite.impl.os;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A child JVM's main: opens and closes a file natively, and nothing else, so a test can see which
 * functions were bound; prints the time from JVM start to the end of the first call.
 */
public final class LazyBindingProbe {

    private LazyBindingProbe() {
    }

    /**
     * Opens and closes {@code args[0]}.
     *
     * @param args a file
     * @throws Exception if the file cannot be created
     */
    public static void main(String[] args) throws Exception {
        Path file = Path.of(args[0]);
        Files.write(file, new byte[1]);
        long t0 = System.nanoTime();
        int fd = PosixNative.open(file);
        int r = PosixNative.close(fd);
        long t1 = System.nanoTime();
        System.out.println("available=" + NativeAccess.available() + " fd=" + (fd >= 0) + " close=" + r);
        System.out.println("firstCallMicros=" + (t1 - t0) / 1000);
        System.out.println("sinceStartMillis=" + (System.currentTimeMillis()
                - ProcessHandle.current().info().startInstant().orElseThrow().toEpochMilli()));
    }
}
