package dev.mkwrite.examples.log;

import dev.mkwrite.examples.JarRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code log --verify} through the jar on logs damaged on purpose: a torn record past the checkpoint is
 * a torn tail (exit 0), a damaged record below it is lost data (exit 1).
 */
class LogVerifyCommandIT {

    private static final int PAYLOAD = 64;

    @TempDir
    Path tmp;

    /** Writes 500 durable records and 5 more, stops as if killed, and returns the last record's start. */
    private long writeThenStop(Path dir) throws IOException {
        LogConfig config = LogConfig.of(dir).withSpace(64 << 10, 0).withSegments(1 << 20, 1 << 20)
                .withFlushInterval(Duration.ofHours(1));
        LogWriter log = LogWriter.create(config);
        long end = 0;
        try (LogWriter.Appender a = log.appender()) {
            byte[] payload = new byte[PAYLOAD];
            for (int i = 0; i < 500; i++) {
                payload[0] = (byte) i;
                a.append(payload, 0, PAYLOAD);
            }
            a.awaitAcknowledged();
            for (int i = 0; i < 5; i++) {
                end = a.append(payload, 0, PAYLOAD);
            }
        }
        log.abandon();
        return end - LogFormat.recordBytes(PAYLOAD);
    }

    private static void flipByte(Path dir, long offset) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(LogFormat.segmentFile(dir, 0).toFile(), "rw")) {
            f.seek(offset);
            int b = f.read();
            f.seek(offset);
            f.write(b ^ 1);
        }
    }

    @Test
    void shouldAcceptAnIntactUnflushedTail() throws Exception {
        Path dir = tmp.resolve("intact");
        writeThenStop(dir);
        JarRun r = JarRun.run("log", "--verify", "--dir", dir.toString());
        assertEquals(0, r.exitCode(), r.describe());
        assertEquals(List.of(), r.err(), r.describe());
        assertEquals("verified 505 records, 0 torn tail", r.lastLine(), r.describe());
    }

    @Test
    void shouldReportATornTailAndExitZero() throws Exception {
        Path dir = tmp.resolve("torn");
        long last = writeThenStop(dir);
        flipByte(dir, last + LogFormat.RECORD_HEADER + 10);
        JarRun r = JarRun.run("log", "--verify", "--dir", dir.toString());
        assertEquals(0, r.exitCode(), r.describe());
        assertEquals(List.of(), r.err(), r.describe());
        assertEquals("verified 504 records, 1 torn tail", r.lastLine(), r.describe());
    }

    @Test
    void shouldReportLostFlushedDataAndExitOne() throws Exception {
        Path dir = tmp.resolve("lost");
        writeThenStop(dir);
        long tenth = LogFormat.SEGMENT_HEADER + 9L * LogFormat.recordBytes(PAYLOAD);
        flipByte(dir, tenth + LogFormat.RECORD_HEADER + 10);
        JarRun r = JarRun.run("log", "--verify", "--dir", dir.toString());
        assertEquals(1, r.exitCode(), r.describe());
        assertEquals(List.of(), r.err(), r.describe());
        assertTrue(r.out().stream().anyMatch(l -> l.startsWith("LOST: ")), r.describe());
        assertEquals("verified 9 records, 0 torn tail", r.lastLine(), r.describe());
    }
}
