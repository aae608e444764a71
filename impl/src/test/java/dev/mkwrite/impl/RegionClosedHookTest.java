package dev.mkwrite.impl;

import dev.mkwrite.FaultResult;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.Reservation;
import dev.mkwrite.WriteFault;
import dev.mkwrite.WriteFaultHandler;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** A handler hears when a region over a file closes, once per region, after the region let go of the file. */
class RegionClosedHookTest {

    @TempDir
    Path dir;

    @Test
    void shouldTellTheHandlerOnceWhenEachRegionCloses() throws Exception {
        List<Path> closed = new CopyOnWriteArrayList<>();
        WriteFaultHandler handler = new WriteFaultHandler() {
            @Override
            public FaultResult prepare(WriteFault fault) {
                return Reservation.none();
            }

            @Override
            public void regionClosed(Path path) {
                // The region let go of the file: its lock is free.
                try (FileChannel ch = FileChannel.open(path, StandardOpenOption.WRITE);
                     FileLock lock = ch.tryLock()) {
                    if (lock == null) {
                        throw new AssertionError("another process holds " + path);
                    }
                } catch (Exception e) {
                    throw new AssertionError("the file is still locked at regionClosed", e);
                }
                closed.add(path);
            }
        };
        Path a = dir.resolve("a.dat");
        Path b = dir.resolve("b.dat");
        MappedRegion ra = MappedRegion.builder(a).size(4096).handler(handler).open();
        MappedRegion rb = MappedRegion.builder(b).size(4096).handler(handler).open();
        ra.putLong(0, 1);
        ra.close();
        ra.close(); // a second close says nothing more
        assertEquals(List.of(a), closed);
        rb.close();
        assertEquals(List.of(a, b), closed);
    }
}
