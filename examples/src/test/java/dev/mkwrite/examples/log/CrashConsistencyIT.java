package dev.mkwrite.examples.log;

import dev.mkwrite.examples.JarRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Crash consistency of the log example (issue 7): a child JVM ({@link CrashChild}) appends through
 * {@link LogWriter} with group flush and prints an acknowledgement only after the flush covering it
 * returned; the parent kills it with SIGKILL at a random moment, {@value #ROUNDS} times, and after each
 * kill reopens and verifies the log. Every record acknowledged before the kill must be found intact, in
 * its thread's order, below the checkpoint's committed position (what a completed flush covered); no
 * record the verifier accepts may differ from what was written (a torn record is never accepted).
 *
 * <p>Each round uses a fresh directory: {@link LogWriter} creates logs and does not reopen them to
 * continue. The seed is printed; rerun a failure with {@code -Dmkwrite.crash.seed=SEED}. The broken
 * variant {@code -Dmkwrite.crash.ackBeforeFlush=true} (read by the child) acknowledges before flushing
 * and makes this test fail.
 */
class CrashConsistencyIT {

    private static final int ROUNDS = 20;
    /** The kill comes this long after the child said it started: uniformly 0 to this many ms. */
    private static final int MAX_KILL_DELAY_MS = 700;

    @TempDir
    Path tmp;

    /** What one round saw, for the summary and the assertions. */
    private record Round(int index, long killDelayMs, long[] acked, long verified, long committed, boolean tornTail,
                         long segments, String stop) {

        long ackedRecords() {
            long n = 0;
            for (long a : acked) {
                n += a + 1;
            }
            return n;
        }

        String summary() {
            return String.format("round %2d: killed %3d ms after start, %6d records acked, %6d verified,"
                            + " checkpoint %8d, %d segment(s)%s", index, killDelayMs, ackedRecords(), verified,
                    committed, segments, tornTail ? ", torn tail rejected" : "");
        }
    }

    @Test
    void shouldKeepEveryAcknowledgedRecordThroughTwentyKills() throws Exception {
        long seed = Long.getLong("mkwrite.crash.seed", System.nanoTime());
        boolean ackBeforeFlush = Boolean.getBoolean("mkwrite.crash.ackBeforeFlush");
        System.out.println("crash consistency: seed " + seed + (ackBeforeFlush ? ", BROKEN: ack before flush" : ""));
        Random random = new Random(seed);
        long t0 = System.nanoTime();
        List<Round> rounds = new ArrayList<>();
        Path dir = null;
        for (int i = 0; i < ROUNDS; i++) {
            dir = tmp.resolve("round-" + i);
            Round r = round(i, dir, random.nextInt(MAX_KILL_DELAY_MS + 1), ackBeforeFlush, seed);
            System.out.println(r.summary());
            rounds.add(r);
        }
        long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - t0);
        long acked = rounds.stream().mapToLong(Round::ackedRecords).sum();
        long verified = rounds.stream().mapToLong(Round::verified).sum();
        System.out.println("crash consistency: " + ROUNDS + " kills, " + acked + " records acked, " + verified
                + " verified, 0 lost, in " + seconds + " s");
        assertTrue(acked > 0, "the child acknowledged nothing in " + ROUNDS + " rounds: the test proved nothing");

        // The command-line verifier agrees on the last killed log.
        JarRun v = JarRun.run("log", "--verify", "--dir", dir.toString());
        assertEquals(0, v.exitCode(), v.describe());
        assertEquals(List.of(), v.err(), v.describe());
        Round last = rounds.getLast();
        assertEquals("verified " + last.verified() + " records, " + (last.tornTail() ? 1 : 0) + " torn tail",
                v.lastLine(), v.describe());
    }

    private Round round(int index, Path dir, long killDelayMs, boolean ackBeforeFlush, long seed) throws Exception {
        Path err = tmp.resolve("round-" + index + ".err");
        Process child = new ProcessBuilder(childCommand(dir, ackBeforeFlush))
                .redirectError(err.toFile()).start();
        AtomicLongArray acks = new AtomicLongArray(CrashChild.THREADS);
        for (int t = 0; t < CrashChild.THREADS; t++) {
            acks.set(t, -1);
        }
        CountDownLatch started = new CountDownLatch(1);
        Thread reader = Thread.ofPlatform().daemon().name("crash-child-reader").start(() -> read(child, acks, started));
        long[] acked = new long[CrashChild.THREADS];
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!started.await(100, TimeUnit.MILLISECONDS)) {
                if (!child.isAlive() || System.nanoTime() > deadline) {
                    fail("round " + index + ": the child did not start; seed " + seed + "\n" + Files.readString(err));
                }
            }
            TimeUnit.MILLISECONDS.sleep(killDelayMs); // the random kill point, not a synchronisation
            assertTrue(child.isAlive(), "round " + index + ": the child ended before the kill\n" + Files.readString(err));
            for (int t = 0; t < acked.length; t++) {
                acked[t] = acks.get(t); // only acks read before the kill count
            }
        } finally {
            child.destroyForcibly(); // SIGKILL
            assertTrue(child.waitFor(30, TimeUnit.SECONDS), "round " + index + ": the child outlived SIGKILL");
            reader.join(TimeUnit.SECONDS.toMillis(30));
        }

        long[] next = new long[CrashChild.THREADS]; // per thread: the next sequence number expected
        long[] ackedEnd = new long[CrashChild.THREADS];
        List<String> problems = new ArrayList<>();
        LogVerifier.Result r = LogVerifier.verify(dir, (position, payload) -> {
            int t = Payloads.thread(payload);
            if (!Payloads.wellFormed(payload, CrashChild.PAYLOAD) || t < 0 || t >= next.length) {
                problems.add("record at position " + position + " was accepted but is not what was written");
                return;
            }
            long seq = Payloads.seq(payload);
            if (seq != next[t]) {
                problems.add("record at position " + position + " is seq " + seq + " of thread " + t
                        + ", expected seq " + next[t]);
                return;
            }
            if (seq == acked[t]) {
                ackedEnd[t] = position + LogFormat.recordBytes((int) payload.byteSize());
            }
            next[t]++;
        });
        String context = "round " + index + ", seed " + seed + ", acked " + Arrays.toString(acked) + ", found "
                + Arrays.toString(next) + ", " + r + "\nchild stderr:\n" + Files.readString(err);
        assertEquals(List.of(), problems, context);
        assertTrue(!r.lostFlushedData(), r.lossDescription() + "\n" + context);
        for (int t = 0; t < acked.length; t++) {
            assertTrue(next[t] > acked[t], "thread " + t + ": record " + acked[t] + " was acknowledged before the"
                    + " kill but is missing\n" + context);
            if (acked[t] >= 0) {
                assertTrue(ackedEnd[t] <= r.committed(), "thread " + t + ": record " + acked[t] + " was acknowledged"
                        + " but ends at " + ackedEnd[t] + ", past the checkpoint's committed position " + r.committed()
                        + ": no completed flush covered it\n" + context);
            }
        }
        return new Round(index, killDelayMs, acked, r.records(), r.committed(), r.tornTail(), r.segments(), r.stopReason());
    }

    /** Reads the child's lines: counts down {@code started}, and keeps each thread's highest ack. */
    private static void read(Process child, AtomicLongArray acks, CountDownLatch started) {
        try (BufferedReader lines = new BufferedReader(new InputStreamReader(child.getInputStream(),
                StandardCharsets.UTF_8))) {
            for (String line; (line = lines.readLine()) != null; ) {
                if (line.equals("started")) {
                    started.countDown();
                } else if (line.startsWith("acked ")) {
                    String[] f = line.split(" ");
                    int t = Integer.parseInt(f[1]);
                    long seq = Long.parseLong(f[2]);
                    acks.accumulateAndGet(t, seq, Math::max);
                }
            }
        } catch (IOException e) {
            // The pipe closes when the child is killed.
        }
    }

    /** {@code java} running {@link CrashChild} from the shaded jar plus the test classes, native access on. */
    private static List<String> childCommand(Path dir, boolean ackBeforeFlush) throws URISyntaxException {
        String jar = System.getProperty("examples.jar");
        Path testClasses = Path.of(CrashChild.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        String javaCmd = ProcessHandle.current().info().command().orElseThrow();
        return List.of(javaCmd, "-Xmx64m", "-XX:+UseSerialGC", "--enable-native-access=ALL-UNNAMED",
                "-Dmkwrite.crash.ackBeforeFlush=" + ackBeforeFlush,
                "-cp", jar + File.pathSeparator + testClasses, CrashChild.class.getName(), dir.toString());
    }
}
