package dev.mkwrite.impl.storage;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * Runs a main class of the test sources in a child JVM, on the class path or with mkwrite on the module path.
 * Public for the tests of {@code dev.mkwrite.impl.os}.
 */
public final class ChildJvm {

    /**
     * What the child did.
     *
     * @param exit   its exit status
     * @param stdout what it printed
     * @param stderr what it printed to standard error
     */
    public record Result(int exit, String stdout, String stderr) {
        @Override
        public String toString() {
            return "exit " + exit + "\n--- stdout\n" + stdout + "--- stderr\n" + stderr;
        }
    }

    private ChildJvm() {
    }

    /** The test class path: surefire's real one if it hides it behind a manifest-only jar. */
    static List<String> testClassPath() {
        String cp = System.getProperty("surefire.test.class.path");
        if (cp == null || cp.isBlank()) {
            cp = System.getProperty("java.class.path");
        }
        return Arrays.stream(cp.split(File.pathSeparator)).filter(s -> !s.isBlank()).toList();
    }

    /**
     * Runs {@code main} with everything on the class path.
     *
     * @param jvmArgs options for the child's java command
     * @param main    the main class
     * @param args    its arguments
     * @return what it did
     * @throws IOException          if it cannot be started
     * @throws InterruptedException if interrupted while waiting for it
     */
    public static Result onClassPath(List<String> jvmArgs, Class<?> main, String... args)
            throws IOException, InterruptedException {
        return onClassPath(Map.of(), jvmArgs, main, args);
    }

    /**
     * Runs {@code main} with everything on the class path and {@code env} added to its environment.
     *
     * @param env     environment variables to set
     * @param jvmArgs options for the child's java command
     * @param main    the main class
     * @param args    its arguments
     * @return what it did
     * @throws IOException          if it cannot be started
     * @throws InterruptedException if interrupted while waiting for it
     */
    public static Result onClassPath(Map<String, String> env, List<String> jvmArgs, Class<?> main, String... args)
            throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(java());
        command.addAll(jvmArgs);
        command.add("-cp");
        command.add(String.join(File.pathSeparator, testClassPath()));
        command.add(main.getName());
        command.addAll(List.of(args));
        return run(env, command);
    }

    /**
     * Runs {@code main} from the class path with mkwrite's modules (api, impl) and their dependencies
     * (Agrona, JCTools, SLF4J api) on the module path, so {@code dev.mkwrite.impl} is a named module.
     */
    static Result onModulePath(List<String> jvmArgs, Class<?> main, String... args)
            throws IOException, InterruptedException {
        Predicate<String> modular = e -> e.contains("/impl/target/classes") || e.contains("/api/target/")
                || e.contains("mkwrite-api") || e.contains("agrona") || e.contains("jctools")
                || e.contains("slf4j-api");
        List<String> modules = new ArrayList<>();
        List<String> classes = new ArrayList<>();
        for (String e : testClassPath()) {
            if (modular.test(e)) {
                modules.add(e);
            } else if (e.contains("/impl/target/test-classes") || e.contains("slf4j-simple")) {
                classes.add(e);
            }
        }
        List<String> command = new ArrayList<>();
        command.add(java());
        command.addAll(jvmArgs);
        command.add("--module-path");
        command.add(String.join(File.pathSeparator, modules));
        command.add("--add-modules");
        command.add("dev.mkwrite.impl");
        command.add("-cp");
        command.add(String.join(File.pathSeparator, classes));
        command.add(main.getName());
        command.addAll(List.of(args));
        return run(Map.of(), command);
    }

    private static String java() {
        return ProcessHandle.current().info().command().orElseThrow(
                () -> new IllegalStateException("cannot tell which java runs this test"));
    }

    private static Result run(Map<String, String> env, List<String> command) throws IOException, InterruptedException {
        Path out = Files.createTempFile("child-jvm-", ".out");
        Path err = Files.createTempFile("child-jvm-", ".err");
        try {
            ProcessBuilder builder = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile());
            builder.environment().putAll(env);
            Process p = builder.start();
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
                throw new AssertionError("child JVM did not finish in 120 s: " + command);
            }
            return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }
}
