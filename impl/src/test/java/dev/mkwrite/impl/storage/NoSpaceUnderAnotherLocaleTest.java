package dev.mkwrite.impl.storage;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.abort;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * No space is told apart from other failures under a non-English locale. The JDK's {@code IOException} for
 * ENOSPC carries only {@code strerror}'s text, which follows the locale; matching the English text made a
 * full disk a {@code HandlerFailedException} under {@code de_DE} (issue 12).
 *
 * <p>What this proves: a child JVM runs under {@code LANG=de_DE.UTF-8} (compiled with {@code localedef} into a
 * temporary {@code LOCPATH}, so the machine needs glibc's German messages and locale sources, or the test is
 * skipped) on a really full tmpfs. With native access, the German text is recognised by comparing it with
 * this process's own {@code strerror(ENOSPC)}. Without, the text is not recognised, and the filesystem's
 * usable space (0 bytes) decides; a zero-fill fault is a {@code NoSpaceException} either way.
 */
class NoSpaceUnderAnotherLocaleTest {

    private static final String LOCALE = "de_DE.UTF-8";

    @RegisterExtension
    static final SmallFilesystem fs = new SmallFilesystem();

    @TempDir
    static Path locales;

    @BeforeAll
    static void compileTheGermanLocale() throws Exception {
        String failure = run("localedef", "-i", "de_DE", "-f", "UTF-8", locales.resolve(LOCALE).toString());
        assumeTrue(failure == null, () -> "no German locale to test with: " + failure);
        assumeTrue(Files.exists(Path.of("/usr/share/locale/de/LC_MESSAGES/libc.mo")),
                "no German messages of the C library (package libc-l10n)");
    }

    @Test
    void shouldTellNoSpaceByStrerrorOfThisProcessWithNativeAccess() throws Exception {
        Map<String, String> r = probe(List.of("--enable-native-access=ALL-UNNAMED"));
        assertEquals("true", r.get("byMessage"), r.toString());
        assertEquals("true", r.get("withUsableSpace"), r.toString());
        assertEquals("NoSpaceException", r.get("zeroFill"), r.toString());
    }

    @Test
    void shouldTellNoSpaceByUsableSpaceWithoutNativeAccess() throws Exception {
        Map<String, String> r = probe(List.of());
        assertEquals("false", r.get("byMessage"), "without strerror, a German text cannot be read: " + r);
        assertEquals("true", r.get("withUsableSpace"), r.toString());
        assertEquals("NoSpaceException", r.get("zeroFill"), r.toString());
    }

    /** Fills the filesystem and runs the probe under the German locale; returns what it printed. */
    private static Map<String, String> probe(List<String> jvmArgs) throws Exception {
        fs.fillLeaving(fs.dir().resolve("filler"), 0);
        ChildJvm.Result r = ChildJvm.onClassPath(Map.of("LOCPATH", locales.toString(), "LANG", LOCALE,
                "LC_ALL", LOCALE), jvmArgs, NoSpaceProbe.class, fs.dir().toString());
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.stdout().contains("done"), r.toString());
        Map<String, String> out = new java.util.LinkedHashMap<>();
        for (String line : r.stdout().split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0) {
                out.put(line.substring(0, eq), line.substring(eq + 1));
            }
        }
        String message = out.getOrDefault("message", "");
        if (!message.contains("Speicherplatz")) {
            abort("the child JVM did not run under the German locale; the JDK said: " + message);
        }
        System.out.println("under " + LOCALE + " with " + jvmArgs + ": " + out);
        return out;
    }

    /** Runs a command; returns null on success, otherwise what went wrong. */
    private static String run(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            boolean exited = p.waitFor(60, TimeUnit.SECONDS);
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (!exited) {
                p.destroyForcibly();
                return String.join(" ", command) + " did not finish";
            }
            return p.exitValue() == 0 ? null : String.join(" ", command) + ": exit " + p.exitValue() + ": " + out;
        } catch (IOException e) {
            return String.join(" ", command) + ": " + e.getMessage();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return String.join(" ", command) + ": interrupted";
        }
    }
}
