package dev.mkwrite.examples;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * Smoke tests of every command through the shaded jar, run with {@code java -jar} in a child JVM: this
 * also proves the manifest (main class, native access) and that nothing prints a JVM warning, nor the
 * built-in storage handlers' fallback message. Sizes are tiny so that each run takes about a second. A log
 * whose writer was killed is verified by {@link dev.mkwrite.examples.log.CrashConsistencyIT}.
 */
class ExamplesJarIT {

    @TempDir
    Path tmp;

    private static void assertCleanSuccess(JarRun r) {
        assertEquals(0, r.exitCode(), r.describe());
        assertEquals(List.of(), r.err(), "nothing on standard error, no JVM warning\n" + r.describe());
    }

    @Test
    void shouldListEveryCommandAndItsOptionsInTheGlobalHelp() throws Exception {
        JarRun r = JarRun.run("--help");
        assertCleanSuccess(r);
        String all = String.join("\n", r.out());
        for (String expected : List.of("log:", "page-store:", "disk-full:", "slow-handler:", "--records N",
                "--flush-ms MS", "--checkpoint-ms MS", "--grows N")) {
            assertTrue(all.contains(expected), expected + " missing from\n" + all);
        }
    }

    @Test
    void shouldPrintEachCommandsOwnHelp() throws Exception {
        for (String[] c : new String[][] {{"log", "--threads T"}, {"page-store", "--updates N"},
                {"disk-full", "--dir DIR"}, {"slow-handler", "--max-ms MS"}}) {
            JarRun r = JarRun.run(c[0], "--help");
            assertCleanSuccess(r);
            String all = String.join("\n", r.out());
            assertTrue(all.contains(c[1]) && all.contains("--help"), c[0] + " help:\n" + all);
        }
    }

    @Test
    void shouldPrintItsNameAndVersionFromTheManifest() throws Exception {
        String expected = "mkwrite-examples " + System.getProperty("examples.version") + " (Java ";
        for (String[] args : new String[][] {{"--version"}, {"log", "--version"}}) {
            JarRun r = JarRun.run(args);
            assertCleanSuccess(r);
            assertEquals(1, r.out().size(), r.describe());
            assertTrue(r.lastLine().startsWith(expected), "expected " + expected + "...\n" + r.describe());
        }
    }

    @Test
    void shouldRejectAnUnknownOptionWithOneLineAndExitTwo() throws Exception {
        JarRun r = JarRun.run("log", "--dir", tmp.toString(), "--bogus", "3");
        assertEquals(2, r.exitCode(), r.describe());
        assertEquals(1, r.err().size(), r.describe());
        assertTrue(r.err().getFirst().contains("--bogus"), r.describe());
        assertEquals(List.of(), r.out(), r.describe());
    }

    @Test
    void shouldRejectABadValueWithOneLineAndExitTwo() throws Exception {
        JarRun r = JarRun.run("log", "--dir", tmp.toString(), "--records", "many");
        assertEquals(2, r.exitCode(), r.describe());
        assertEquals(1, r.err().size(), r.describe());
        assertTrue(r.err().getFirst().contains("--records") && r.err().getFirst().contains("many"), r.describe());
    }

    @Test
    void shouldRejectAMissingOrUnknownCommandWithExitTwo() throws Exception {
        for (String[] args : new String[][] {{}, {"frobnicate"}, {"log"}}) {
            JarRun r = JarRun.run(args);
            assertEquals(2, r.exitCode(), r.describe());
            assertEquals(1, r.err().size(), r.describe());
        }
    }

    @Test
    void shouldWriteAndVerifyASmallLog() throws Exception {
        Path dir = tmp.resolve("log");
        JarRun r = JarRun.run("log", "--dir", dir.toString(), "--records", "20000", "--threads", "2",
                "--segment-size", "1m", "--grow-step", "256k", "--granule", "64k", "--flush-ms", "2");
        assertCleanSuccess(r);
        assertEquals("verified 20000 records, 0 lost", r.lastLine(), r.describe());
        assertTrue(r.out().stream().anyMatch(l -> l.contains("fault latency")), r.describe());
        assertTrue(r.out().stream().anyMatch(l -> l.contains("space reserved lazily with fallocate(2)")),
                "the jar enables native access, so the built-in handler uses fallocate\n" + r.describe());

        JarRun v = JarRun.run("log", "--verify", "--dir", dir.toString());
        assertCleanSuccess(v);
        assertEquals("verified 20000 records, 0 torn tail", v.lastLine(), v.describe());
    }

    @Test
    void shouldRefuseToWriteOverAnExistingLog() throws Exception {
        Path dir = tmp.resolve("log");
        assertCleanSuccess(JarRun.run("log", "--dir", dir.toString(), "--records", "100"));
        JarRun again = JarRun.run("log", "--dir", dir.toString(), "--records", "100");
        assertEquals(2, again.exitCode(), again.describe());
        assertEquals(1, again.err().size(), again.describe());
    }

    @Test
    void shouldSayThereIsNoLogWithExitTwo() throws Exception {
        JarRun r = JarRun.run("log", "--verify", "--dir", tmp.toString());
        assertEquals(2, r.exitCode(), r.describe());
        assertTrue(r.err().getFirst().contains("no mkwrite log"), r.describe());
    }

    @Test
    void shouldChecksumEveryPageAtWriteback() throws Exception {
        JarRun r = JarRun.run("page-store", "--dir", tmp.resolve("pages").toString(), "--pages", "64",
                "--updates", "3000", "--checkpoint-ms", "5");
        assertCleanSuccess(r);
        assertEquals("verified 64 pages: 64 checksummed, 0 never written, 0 checksum mismatches", r.lastLine(),
                r.describe());
    }

    @Test
    void shouldFindAPageThatDoesNotMatchItsChecksum() throws Exception {
        Path dir = tmp.resolve("pages");
        assertCleanSuccess(JarRun.run("page-store", "--dir", dir.toString(), "--pages", "16", "--updates", "500"));
        JarRun intact = JarRun.run("page-store", "--verify", "--dir", dir.toString());
        assertCleanSuccess(intact);
        try (RandomAccessFile f = new RandomAccessFile(dir.resolve("pages.dat").toFile(), "rw")) {
            long offset = 5 * 4096 + 100; // page 5
            f.seek(offset);
            int b = f.read();
            f.seek(offset);
            f.write(b ^ 0x10);
        }
        JarRun r = JarRun.run("page-store", "--verify", "--dir", dir.toString());
        assertEquals(1, r.exitCode(), r.describe());
        assertEquals("verified 16 pages: 15 checksummed, 0 never written, 1 checksum mismatches", r.lastLine(),
                r.describe());
        assertTrue(r.out().contains("MISMATCH: page 5 does not match its checksum"), r.describe());
    }

    @Test
    void shouldMountItsOwnTmpfsWithoutADirectory() throws Exception {
        JarRun r = JarRun.run("disk-full");
        assumeFalse(r.exitCode() == 2 && String.join(" ", r.err()).contains("cannot mount"),
                "cannot mount a tmpfs here (not root?): " + r.err());
        assertCleanSuccess(r);
        assertTrue(r.lastLine().matches("mkwrite: verified [1-9][0-9]* records, 0 lost"), r.describe());
    }

    @Test
    void shouldCompareHoldingAndDroppingTheLock() throws Exception {
        JarRun r = JarRun.run("slow-handler", "--dir", tmp.toString(), "--grows", "5", "--slow-pages", "2",
                "--stripe-pages", "8", "--writers", "1");
        assertCleanSuccess(r);
        String all = String.join("\n", r.out());
        assertTrue(all.contains("grow() p99") && all.contains("fault on another page p99"), all);
        String drops = r.out().stream().filter(l -> l.trim().startsWith("lock drops")).findFirst().orElseThrow();
        assertTrue(drops.trim().matches("lock drops\\s+0\\s+[1-9][0-9,]*"), "no drops holding, some dropping: " + drops);
        String left = r.out().stream().filter(l -> l.trim().startsWith("reservations left")).findFirst().orElseThrow();
        assertTrue(left.trim().matches("reservations left\\s+0\\s+0"), left);
    }

    @Test
    void shouldSurviveAFullDiskWhereARawMappingDies() throws Exception {
        String tmpfs = System.getProperty("mkwrite.tmpfs", "");
        // Without a small filesystem given, the command gets a large directory, as from ./dev example, and
        // mounts an 8 MiB tmpfs inside it.
        JarRun r = JarRun.run("disk-full", "--dir", tmpfs.isBlank() ? tmp.toString() : tmpfs);
        assumeFalse(tmpfs.isBlank() && r.exitCode() == 2 && String.join(" ", r.err()).contains("mount"),
                "cannot mount a tmpfs here and -Dmkwrite.tmpfs is not set: " + r.err());
        assertCleanSuccess(r);
        String all = String.join("\n", r.out());
        assertTrue(all.contains("InternalError"), "the raw writer dies with InternalError\n" + all);
        assertTrue(all.contains("dev.mkwrite.NoSpaceException"), all);
        assertTrue(all.contains("the same write succeeded"), all);
        assertTrue(r.lastLine().matches("mkwrite: verified [1-9][0-9]* records, 0 lost"), r.describe());
    }
}
