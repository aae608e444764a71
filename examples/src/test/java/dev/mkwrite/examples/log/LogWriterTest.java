package dev.mkwrite.examples.log;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The log writer and verifier, in-process, on small segments so that every test rolls and grows. */
class LogWriterTest {

    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int PAYLOAD = 100;

    @TempDir
    Path dir;

    private LogConfig smallLog() {
        return LogConfig.of(dir.resolve("log")).withSpace(16 << 10, 1).withSegments(256 << 10, 64 << 10)
                .withFlushInterval(Duration.ofMillis(2));
    }

    private static byte[] payload(long seq) {
        byte[] b = new byte[PAYLOAD];
        MemorySegment.ofArray(b).set(LONG, 0, seq);
        for (int i = Long.BYTES; i < PAYLOAD; i++) {
            b[i] = (byte) (seq + i);
        }
        return b;
    }

    @Test
    void shouldVerifyEveryRecordOfSeveralThreadsAfterClose() throws Exception {
        int threads = 3;
        int perThread = 7_000;
        List<Thread> workers = new ArrayList<>();
        List<Throwable> errors = new ArrayList<>();
        AtomicLong acknowledged = new AtomicLong();
        LogWriter.Stats stats;
        try (LogWriter log = LogWriter.create(smallLog())) {
            for (int t = 0; t < threads; t++) {
                workers.add(Thread.ofPlatform().start(() -> {
                    try (LogWriter.Appender a = log.appender()) {
                        for (int i = 0; i < perThread; i++) {
                            a.append(payload(i), 0, PAYLOAD);
                        }
                        a.awaitAcknowledged();
                        acknowledged.addAndGet(a.acknowledged());
                    } catch (IOException | RuntimeException e) {
                        synchronized (errors) {
                            errors.add(e);
                        }
                    }
                }));
            }
            for (Thread w : workers) {
                w.join();
            }
            stats = log.stats();
        }
        assertEquals(List.of(), errors);
        assertEquals((long) threads * perThread, acknowledged.get(), "every record acknowledged after awaitAcknowledged");
        assertTrue(stats.segments() > 3, "small segments roll: " + stats.segments());
        assertTrue(stats.grows() > 0, "segments grow: " + stats.grows());

        long[] count = new long[1];
        LogVerifier.Result r = LogVerifier.verify(dir.resolve("log"), (position, p) -> count[0]++);
        assertEquals((long) threads * perThread, r.records());
        assertEquals(r.records(), count[0]);
        assertFalse(r.tornTail(), r.stopReason());
        assertFalse(r.lostFlushedData(), r.lossDescription());
        assertEquals(r.committed(), r.validEnd(), "the last group flush covered every record");
    }

    @Test
    void shouldEndWithNoReservationOutstanding() throws Exception {
        LogWriter log = LogWriter.create(smallLog());
        try (LogWriter.Appender a = log.appender()) {
            for (int i = 0; i < 5_000; i++) {
                a.append(payload(i), 0, PAYLOAD);
            }
        }
        log.close();
        assertEquals(0, log.stats().region().reservationsOutstanding());
    }

    @Test
    void shouldAcknowledgeOnlyWhatAGroupFlushCovered() throws Exception {
        LogConfig slow = smallLog().withFlushInterval(Duration.ofHours(1)); // flushes only when asked
        try (LogWriter log = LogWriter.create(slow); LogWriter.Appender a = log.appender()) {
            long end = 0;
            for (int i = 0; i < 100; i++) {
                end = a.append(payload(i), 0, PAYLOAD);
            }
            assertEquals(0, a.acknowledged(), "no group flush has run");
            assertTrue(log.durablePosition() < end);
            a.awaitAcknowledged();
            assertEquals(100, a.acknowledged());
            assertTrue(log.durablePosition() >= end);
        }
    }

    @Test
    void shouldNotCommitPastARecordThatIsStillBeingWritten() throws Exception {
        int payload = 8192 - LogFormat.RECORD_HEADER; // records of two pages' length, each over parts of three
        CountDownLatch inHandler = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Thread[] blocked = new Thread[1];
        LogConfig config = LogConfig.of(dir.resolve("log")).withSpace(64 << 10, 0).withSegments(4 << 20, 4 << 20)
                .withFlushInterval(Duration.ofMillis(1))
                .withDecorator(h -> fault -> {
                    if (Thread.currentThread() == blocked[0]) {
                        inHandler.countDown();
                        release.await(); // the appender is stuck inside its copy's fault
                    }
                    return h.prepare(fault);
                });
        try (LogWriter log = LogWriter.create(config)) {
            long[] start = new long[1];
            Throwable[] error = new Throwable[1];
            Thread a = Thread.ofPlatform().unstarted(() -> {
                try (LogWriter.Appender appender = log.appender()) {
                    for (int i = 0; i < 3; i++) {
                        appender.append(new byte[payload], 0, payload);
                    }
                    appender.awaitAcknowledged(); // flushed: the tail page is CLEAN, so the next write faults
                    start[0] = log.durablePosition();
                    blocked[0] = Thread.currentThread();
                    appender.append(new byte[payload], 0, payload);
                    appender.awaitAcknowledged();
                } catch (IOException | RuntimeException e) {
                    error[0] = e;
                }
            });
            a.start();
            assertTrue(inHandler.await(30, TimeUnit.SECONDS), "the appender never faulted");
            long end = 0;
            try (LogWriter.Appender b = log.appender()) {
                for (int i = 0; i < 20; i++) {
                    end = b.append(payload(i), 0, PAYLOAD); // after the stuck record, written and complete
                }
                log.requestFlush();
                Thread.sleep(200); // many group flush periods
                assertTrue(log.durablePosition() <= start[0], "committed " + log.durablePosition()
                        + " past the record still being written at " + start[0]);
            } finally {
                release.countDown();
            }
            log.awaitDurable(end);
            a.join();
            assertEquals(null, error[0]);
        }
        LogVerifier.Result r = LogVerifier.verify(dir.resolve("log"), null);
        assertEquals(24, r.records());
        assertFalse(r.lostFlushedData(), r.lossDescription());
    }

    @Test
    void shouldRejectADirectoryThatHoldsALog() throws Exception {
        LogWriter.create(smallLog()).close();
        assertThrows(FileAlreadyExistsException.class, () -> LogWriter.create(smallLog()));
    }

    @Test
    void shouldReportATornTailPastTheCheckpointWithoutLoss() throws Exception {
        long lastStart = writeAndAbandon(1_000, 10);
        flipByte(lastStart + LogFormat.RECORD_HEADER + 5);

        LogVerifier.Result r = LogVerifier.verify(dir.resolve("log"), null);
        assertTrue(r.tornTail(), r.stopReason());
        assertFalse(r.lostFlushedData(), r.lossDescription());
        assertEquals(1_009, r.records(), "all but the damaged last record");
    }

    @Test
    void shouldReportLossWhenARecordAFlushCoveredIsDamaged() throws Exception {
        writeAndAbandon(1_000, 10);
        flipByte(LogFormat.SEGMENT_HEADER + LogFormat.RECORD_HEADER + 5); // the first record

        LogVerifier.Result r = LogVerifier.verify(dir.resolve("log"), null);
        assertTrue(r.lostFlushedData(), r.stopReason());
        assertFalse(r.tornTail());
        assertEquals(0, r.records());
    }

    @Test
    void shouldAcceptRecordsWrittenAfterTheLastFlushWhenIntact() throws Exception {
        writeAndAbandon(1_000, 10);

        LogVerifier.Result r = LogVerifier.verify(dir.resolve("log"), null);
        assertEquals(1_010, r.records());
        assertFalse(r.tornTail(), r.stopReason());
        assertFalse(r.lostFlushedData());
        assertTrue(r.validEnd() > r.committed(), "10 records lie past the checkpoint");
    }

    @Test
    void shouldSeeAHoleFollowedByDataAsATornTail() throws Exception {
        long lastStart = writeAndAbandon(1_000, 10);
        // The second-to-last record was reserved but never written; the last one was.
        long holeStart = lastStart - LogFormat.recordBytes(PAYLOAD);
        zero(holeStart, LogFormat.recordBytes(PAYLOAD));

        LogVerifier.Result r = LogVerifier.verify(dir.resolve("log"), null);
        assertTrue(r.tornTail(), r.stopReason());
        assertFalse(r.lostFlushedData());
        assertEquals(1_008, r.records());
    }

    /** Writes {@code flushed} records and waits for them, then {@code more}, then stops as if killed. */
    private long writeAndAbandon(int flushed, int more) throws IOException {
        LogConfig config = smallLog().withSegments(1 << 20, 1 << 20).withFlushInterval(Duration.ofHours(1));
        LogWriter log = LogWriter.create(config);
        long end;
        try (LogWriter.Appender a = log.appender()) {
            for (int i = 0; i < flushed; i++) {
                a.append(payload(i), 0, PAYLOAD);
            }
            a.awaitAcknowledged();
            end = 0;
            for (int i = 0; i < more; i++) {
                end = a.append(payload(flushed + i), 0, PAYLOAD);
            }
        }
        log.abandon();
        return end - LogFormat.recordBytes(PAYLOAD);
    }

    private void flipByte(long offset) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(LogFormat.segmentFile(dir.resolve("log"), 0).toFile(), "rw")) {
            f.seek(offset);
            int b = f.read();
            f.seek(offset);
            f.write(b ^ 0x40);
        }
    }

    private void zero(long offset, int length) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(LogFormat.segmentFile(dir.resolve("log"), 0).toFile(), "rw")) {
            f.seek(offset);
            f.write(new byte[length]);
        }
    }
}
