package dev.mkwrite.impl;

import dev.mkwrite.FaultResult;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.Reservation;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** mkwrite shows in JDK Flight Recorder: faults, lock drops and writeback waits. */
class FlightRecorderEventsTest {

    @TempDir
    Path dir;

    @Test
    void shouldRecordFaultLockDropAndWritebackWaitEvents() throws Exception {
        Path jfr = dir.resolve("events.jfr");
        try (Recording recording = new Recording()) {
            recording.enable("dev.mkwrite.WriteFault");
            recording.enable("dev.mkwrite.LockDrop");
            recording.enable("dev.mkwrite.WritebackWait");
            recording.start();
            CountDownLatch inWriteback = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            TrackingHandler handler = new TrackingHandler((fault, h) -> {
                if (fault.mayDropLock()) {
                    fault.dropLock();
                    fault.cacheReservation(Reservation.none());
                    return FaultResult.RETRY;
                }
                return Reservation.none();
            });
            handler.writebackHook = (page, contents) -> {
                inWriteback.countDown();
                TrackingHandler.awaitQuietly(release);
            };
            try (MappedRegion region = MappedRegion.builder(dir.resolve("r.dat")).size(1 << 16).handler(handler).open()) {
                region.putLong(0, 1);
                Thread flusher = Thread.ofPlatform().start(() -> {
                    try {
                        region.flush();
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                });
                assertTrue(inWriteback.await(10, TimeUnit.SECONDS));
                Thread writer = Thread.ofPlatform().start(() -> region.putLong(0, 2));
                // The writer waits for the writeback before it is released, however slowly it gets there: a
                // writer that came after the release would fault without a WritebackWait.
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (!Blocking.Wait.WAIT_QUEUE.holds(writer)) {
                    assertTrue(System.nanoTime() < deadline, "the writer never waited for the writeback");
                    Thread.sleep(1);
                }
                release.countDown();
                writer.join();
                flusher.join();
            }
            recording.stop();
            recording.dump(jfr);
        }
        List<RecordedEvent> events = RecordingFile.readAllEvents(jfr);
        Map<String, Long> counts = events.stream().collect(Collectors.groupingBy(e -> e.getEventType().getName(),
                Collectors.counting()));
        assertEquals(2L, counts.get("dev.mkwrite.WriteFault"), counts::toString);
        assertEquals(2L, counts.get("dev.mkwrite.LockDrop"), counts::toString);
        assertEquals(1L, counts.get("dev.mkwrite.WritebackWait"), counts::toString);
        RecordedEvent fault = events.stream().filter(e -> e.getEventType().getName().equals("dev.mkwrite.WriteFault"))
                .findFirst().orElseThrow();
        assertEquals(0L, fault.getLong("page"));
        assertEquals("writable", fault.getString("outcome"));
        assertTrue(fault.getBoolean("retried"));
        assertTrue(fault.getString("path").endsWith("r.dat"));
    }
}
