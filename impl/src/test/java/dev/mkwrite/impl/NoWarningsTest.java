package dev.mkwrite.impl;

import dev.mkwrite.nowarn.NoWarningsMain;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The library runs on a plain {@code java}, with no {@code --add-opens}, {@code --add-exports} or
 * {@code --enable-native-access}, and the JVM prints nothing on stderr: on the class path and on the
 * module path.
 */
class NoWarningsTest {

    private static final String JAVA = ProcessHandle.current().info().command().orElse("java");
    private static final List<String> CLASS_PATH = Arrays.asList(System.getProperty("java.class.path")
            .split(File.pathSeparator));

    @Test
    void shouldRunOnAPlainJavaOnTheClassPathWithoutAnyWarning() throws Exception {
        Result r = run(List.of(JAVA, "-cp", String.join(File.pathSeparator, CLASS_PATH),
                NoWarningsMain.class.getName()));
        assertEquals("", r.stderr, "stderr of a plain java run");
        assertEquals("ok", r.stdout.strip());
        assertEquals(0, r.exit);
    }

    @Test
    void shouldRunOnAPlainJavaOnTheModulePathWithoutAnyWarning() throws Exception {
        List<String> modules = new ArrayList<>();
        List<String> rest = new ArrayList<>();
        for (String entry : CLASS_PATH) {
            String e = entry.replace('\\', '/');
            boolean module = e.endsWith("/api/target/classes") || e.endsWith("/impl/target/classes")
                    || e.contains("mkwrite-api") || e.contains("slf4j-api") || e.contains("slf4j-simple")
                    || e.contains("/agrona/");
            (module ? modules : rest).add(entry);
        }
        assertTrue(modules.size() >= 5, "found the module jars: " + modules);
        Result r = run(List.of(JAVA, "--module-path", String.join(File.pathSeparator, modules),
                "--add-modules", "dev.mkwrite.impl", "-cp", String.join(File.pathSeparator, rest),
                NoWarningsMain.class.getName()));
        assertEquals("", r.stderr, "stderr of a plain java run on the module path");
        assertEquals("ok", r.stdout.strip());
        assertEquals(0, r.exit);
    }

    private record Result(int exit, String stdout, String stderr) {
    }

    private static Result run(List<String> command) throws Exception {
        Process p = new ProcessBuilder(command).start();
        p.getOutputStream().close();
        var out = p.getInputStream().readAllBytes();
        var err = p.getErrorStream().readAllBytes();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "child JVM finished");
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8),
                new String(err, StandardCharsets.UTF_8).lines()
                        .filter(l -> !l.isBlank()).collect(Collectors.joining("\n")));
    }
}
