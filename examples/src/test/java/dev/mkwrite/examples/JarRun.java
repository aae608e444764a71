package dev.mkwrite.examples;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs the shaded examples jar in a child JVM with {@code java -jar}, as a user would, and keeps its exit
 * code, standard output and standard error. The jar's path comes from the {@code examples.jar} system
 * property that failsafe sets.
 *
 * @param exitCode the child's exit status
 * @param out      its standard output, line by line
 * @param err      its standard error, line by line
 */
public record JarRun(int exitCode, List<String> out, List<String> err) {

    /**
     * Runs the jar and waits for it, at most two minutes.
     *
     * @param args the command line after {@code -jar JAR}
     * @return the outcome
     * @throws IOException          if the child cannot start
     * @throws InterruptedException if interrupted
     */
    public static JarRun run(String... args) throws IOException, InterruptedException {
        Path stdout = Files.createTempFile("jar-run", ".out");
        Path stderr = Files.createTempFile("jar-run", ".err");
        try {
            Process p = builder(args).redirectOutput(stdout.toFile()).redirectError(stderr.toFile()).start();
            if (!p.waitFor(2, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new AssertionError("the examples jar did not finish in two minutes: " + String.join(" ", args));
            }
            return new JarRun(p.exitValue(), Files.readAllLines(stdout, StandardCharsets.UTF_8),
                    Files.readAllLines(stderr, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(stdout);
            Files.deleteIfExists(stderr);
        }
    }

    /**
     * A process builder for the jar with the given arguments.
     *
     * @param args the command line after {@code -jar JAR}
     * @return the builder
     */
    public static ProcessBuilder builder(String... args) {
        String jar = System.getProperty("examples.jar");
        if (jar == null || !Files.isRegularFile(Path.of(jar))) {
            throw new AssertionError("system property examples.jar must name the shaded jar (failsafe sets it), was "
                    + jar);
        }
        String java = ProcessHandle.current().info().command().orElseThrow();
        List<String> command = new ArrayList<>(List.of(java, "-jar", jar));
        command.addAll(List.of(args));
        return new ProcessBuilder(command);
    }

    /**
     * The lines of standard error that look like JVM warnings.
     *
     * @return the lines
     */
    public List<String> warnings() {
        return err.stream().filter(l -> l.contains("WARNING")).toList();
    }

    /**
     * The last line of standard output.
     *
     * @return the line, or an empty string
     */
    public String lastLine() {
        return out.isEmpty() ? "" : out.getLast();
    }

    /**
     * Everything, for assertion messages.
     *
     * @return the exit code and both streams
     */
    public String describe() {
        return "exit " + exitCode + "\n--- stdout\n" + String.join("\n", out) + "\n--- stderr\n" + String.join("\n", err);
    }
}
