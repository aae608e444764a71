package dev.mkwrite.nowarn;

import dev.mkwrite.Backing;
import dev.mkwrite.FaultResult;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.Reservation;

import java.nio.file.Files;
import java.nio.file.Path;

/** Run in a child JVM by dev.mkwrite.impl.NoWarningsTest: exercises every path of the library once. */
public final class NoWarningsMain {

    private NoWarningsMain() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Files.createTempDirectory("mkwrite-nowarn");
        for (Backing backing : Backing.values()) {
            Path file = dir.resolve(backing + ".dat");
            try (MappedRegion region = MappedRegion.builder(file).size(1 << 20).backing(backing)
                    .handler(fault -> {
                        if (fault.mayDropLock()) {
                            fault.dropLock();
                            fault.cacheReservation(Reservation.none());
                            return FaultResult.RETRY;
                        }
                        return Reservation.none();
                    }).open()) {
                region.putLong(8, 42);
                try (var span = region.write(4000, 200)) {
                    span.segment().fill((byte) 1);
                    span.buffer().put(0, (byte) 2);
                }
                region.flush();
                region.grow(2 << 20);
                region.truncate(100_000);
                if (region.getLong(8) != 42) {
                    throw new AssertionError("lost a write");
                }
            }
            Files.delete(file);
        }
        Files.delete(dir);
        System.out.println("ok");
    }
}
