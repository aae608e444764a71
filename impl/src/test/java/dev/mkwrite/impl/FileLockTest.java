package dev.mkwrite.impl;

import dev.mkwrite.MappedRegion;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.impl.os.NativeAccess;
import dev.mkwrite.impl.os.PosixNative;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The region's file lock. With native access it is an open-file-description lock on the region's own
 * descriptor: a user who reads the file through another channel and closes it, which drops every POSIX
 * lock the process holds on the file, leaves the region's lock in place.
 */
class FileLockTest {

    @TempDir
    Path dir;

    @Test
    void shouldKeepTheLockWhenTheProcessClosesAnotherDescriptorOfTheFile() throws Exception {
        assumeTrue(NativeAccess.available(), "the OFD lock needs native access: " + NativeAccess.unavailableReason());
        Path file = dir.resolve("locked.dat");
        try (MappedRegion region = MappedRegion.builder(file).size(4096).handler(WriteFaultHandler.none()).open()) {
            region.putLong(0, 7);
            assertTrue(FileLocks.held(file), "the region locks its file");
            // The user reads the header through a channel of their own, then closes it.
            try (FileChannel other = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                assertTrue(other.size() > 0);
                FileLock mine = other.tryLock(); // conflicts with the region's OFD lock, even in this process
                assertNull(mine, "the region's lock keeps a POSIX lock of this process off the file");
            }
            assertTrue(FileLocks.held(file), "closing another descriptor dropped the region's lock");
            try (FileChannel again = FileChannel.open(file, StandardOpenOption.WRITE)) {
                assertNull(again.tryLock(), "the file is still locked after the other descriptor closed");
            }
        }
        try (FileChannel after = FileChannel.open(file, StandardOpenOption.WRITE); FileLock lock = after.tryLock()) {
            assertTrue(lock != null && Files.exists(file), "the region's close released its lock");
        }
    }

    /**
     * An open waits a moment for the file's lock held by another: a region's close lets go of the lock
     * before its storage handler gives back space, which it does under the lock of a descriptor of its own
     * (GiveBackTest). An open at that moment used to fail at once, saying the file was already open.
     */
    @Test
    void shouldWaitBrieflyForALockThatIsLetGoSoon() throws Exception {
        assumeTrue(NativeAccess.available(), "the OFD lock needs native access: " + NativeAccess.unavailableReason());
        Path file = dir.resolve("trimming.dat");
        Files.write(file, new byte[4096]);
        dev.mkwrite.impl.os.SharedFile trimming = dev.mkwrite.impl.os.SharedFile.open(file, "a test");
        org.junit.jupiter.api.Assertions.assertEquals(0, PosixNative.lockFile(trimming.fd()));
        Thread letGo = Thread.ofPlatform().start(() -> {
            java.util.concurrent.locks.LockSupport.parkNanos(200_000_000L);
            trimming.close(null);
        });
        try (MappedRegion region = MappedRegion.builder(file).size(4096).handler(WriteFaultHandler.none()).open()) {
            region.putLong(0, 7);
            assertTrue(FileLocks.held(file), "the region locks its file");
        } finally {
            letGo.join();
        }
    }

    @Test
    void shouldNotCloseAnotherRegionsDescriptorWhenClosedTwice() throws Exception {
        Path a = dir.resolve("a.dat");
        Path b = dir.resolve("b.dat");
        // The region itself, past the handle (whose close is idempotent on its own): its close must be too.
        Files.createFile(a);
        Region first = Region.open(MappedRegion.builder(a).size(4096).handler(WriteFaultHandler.none()),
                RegionRegistry.keyOf(a));
        first.close();
        // The next descriptors opened take the numbers the first region's close freed.
        try (MappedRegion second = MappedRegion.builder(b).size(4096).handler(WriteFaultHandler.none()).open()) {
            first.close(); // a second close must close nothing: its descriptor's number is the second's now
            second.putLong(0, 5);
            second.grow(64L << 20); // past the mapping's room: maps the native descriptor anew
            second.flush();
            assertTrue(FileLocks.held(b), "the second region's lock went with a descriptor the first closed twice");
        }
    }
}
