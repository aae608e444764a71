package dev.mkwrite.impl;

import dev.mkwrite.FaultResult;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.RegionClosedException;
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
import static org.junit.jupiter.api.Assertions.assertThrows;

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

    /**
     * A write over two pages holds page 0 as a claim while it goes on to page 1, outside any fault. A close
     * that came then waited only for faults in flight, found none, and told the handler regionClosed while the
     * claim's reservation was still out: the write, failing on the closed region, released it afterwards,
     * into a handler that had forgotten the file (a storage handler might then give back blocks of a file
     * that a new region already writes). The write now counts as in flight until its claims are back. A seam
     * between the two pages' faults runs the close there, and waits until it has ended or waits itself.
     */
    @Test
    void shouldTellTheHandlerOnlyAfterAWriteOverPagesGaveItsClaimsBack() throws Exception {
        List<String> events = new CopyOnWriteArrayList<>();
        WriteFaultHandler handler = new WriteFaultHandler() {
            @Override
            public FaultResult prepare(WriteFault fault) {
                return new Reservation() {
                    @Override
                    public long bytes() {
                        return 0;
                    }

                    @Override
                    public void release() {
                        events.add("page " + fault.page() + " released");
                    }
                };
            }

            @Override
            public void regionClosed(Path path) {
                events.add("regionClosed");
            }
        };
        MappedRegion region = MappedRegion.builder(dir.resolve("claims.dat")).size(2 * 4096).pageSize(4096)
                .handler(handler).open();
        Thread[] closer = new Thread[1];
        RegionHandle.regionOf(region).betweenFaultsForTests(() -> {
            if (closer[0] != null) {
                return;
            }
            closer[0] = Thread.ofPlatform().start(() -> {
                try {
                    region.close();
                } catch (Exception e) {
                    events.add("close failed: " + e);
                }
            });
            long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
            while (closer[0].isAlive() && !Blocking.Wait.WAIT_QUEUE.holds(closer[0])) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("the close neither ended nor waited");
                }
                Thread.onSpinWait();
            }
        });
        // Page 1 is clean: the write faults page 0 (its claim), the seam closes, then page 1's fault fails.
        assertThrows(RegionClosedException.class, () -> region.write(4096 - 8, 16).close());
        closer[0].join(30_000);
        assertEquals(List.of("page 0 released", "regionClosed"), events);
    }
}
