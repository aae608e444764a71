package dev.mkwrite.examples.log;

import dev.mkwrite.MappedRegion;
import dev.mkwrite.WriteFaultHandler;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * The log pattern of docs/USING.md: appenders that reserve records from a shared tail and hold a span over
 * their page, beside a thread that flushes what was reserved, as row 4's {@code MKWRITE_SPAN} runs it. The
 * handler asks for no stable pages, so a flush does not wait for the spans over its pages: what these tests
 * catch is a span left open (its page still dirty after the last flush, and the close waiting for it until
 * the run times out) and a record lost or torn between the spans, the puts and the flushes.
 */
class PageAppenderTest {

    private static final long SIZE = 4L << 20;
    private static final int APPENDERS = 2;

    @TempDir
    Path tmp;

    @Test
    void shouldKeepEveryRecordOfTwoAppendersBesideAFlusher() throws Exception {
        run(128); // divides the page: every record ends within its page, the last one ends it
    }

    @Test
    void shouldKeepRecordsThatCrossAPageBoundary() throws Exception {
        run(96); // one record in three of a page crosses into the next: released, then put
    }

    private void run(int recordSize) throws Exception {
        Path file = tmp.resolve("log-" + recordSize + ".dat");
        assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
            try (MappedRegion log = MappedRegion.builder(file).size(SIZE).handler(WriteFaultHandler.none()).open()) {
                AtomicLong tail = new AtomicLong();
                Throwable[] failure = new Throwable[APPENDERS + 1];
                List<Thread> appenders = new ArrayList<>();
                for (int t = 0; t < APPENDERS; t++) {
                    int me = t;
                    appenders.add(Thread.ofPlatform().name("appender-" + t).start(() -> {
                        try (Arena arena = Arena.ofConfined(); PageAppender appender = new PageAppender(log)) {
                            MemorySegment record = arena.allocate(recordSize);
                            for (long at = tail.getAndAdd(recordSize); at + recordSize <= SIZE;
                                 at = tail.getAndAdd(recordSize)) {
                                fill(record, at);
                                appender.append(at, record);
                            }
                        } catch (Throwable e) {
                            failure[me] = e;
                        }
                    }));
                }
                AtomicBoolean appending = new AtomicBoolean(true);
                Thread flusher = Thread.ofPlatform().name("flusher").start(() -> {
                    long flushed = 0;
                    try {
                        while (appending.get()) {
                            long end = Math.min(tail.get(), SIZE);
                            if (end > flushed) {
                                log.flush(flushed, end - flushed); // a page under a span stays dirty
                                flushed = end;
                            } else {
                                Thread.onSpinWait();
                            }
                        }
                    } catch (Throwable e) {
                        failure[APPENDERS] = e;
                    }
                });
                for (Thread t : appenders) {
                    t.join();
                }
                appending.set(false);
                flusher.join();
                for (Throwable f : failure) {
                    assertNull(f, () -> "a thread failed: " + f);
                }
                // A record reserved before a group flush may land after it: the last flush takes every page.
                log.flush(0, SIZE); // every span is closed: the appenders ended
                assertEquals(0, log.stats().writablePages(), "every page written was flushed: " + log.stats());
                byte[] back = new byte[recordSize];
                for (long at = 0; at + recordSize <= SIZE; at += recordSize) {
                    log.get(at, back, 0, recordSize);
                    assertRecord(back, at, "the region");
                }
            }
            byte[] onDisk = Files.readAllBytes(file); // what the region's close left in the file
            byte[] one = new byte[recordSize];
            for (int at = 0; at + recordSize <= SIZE; at += recordSize) {
                System.arraycopy(onDisk, at, one, 0, recordSize);
                assertRecord(one, at, "the file");
            }
        });
    }

    /** The record for log position {@code at}: its position, then bytes that follow from it. */
    private static void fill(MemorySegment record, long at) {
        record.set(ValueLayout.JAVA_LONG_UNALIGNED, 0, at);
        for (int i = Long.BYTES; i < record.byteSize(); i++) {
            record.set(ValueLayout.JAVA_BYTE, i, (byte) (at + i));
        }
    }

    private static void assertRecord(byte[] record, long at, String where) {
        MemorySegment expected = MemorySegment.ofArray(new byte[record.length]);
        fill(expected, at);
        long mismatch = MemorySegment.ofArray(record).mismatch(expected);
        assertEquals(-1, mismatch, () -> "the record at " + at + " in " + where + " differs at byte " + mismatch);
    }
}
