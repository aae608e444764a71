package dev.mkwrite.examples;

import java.io.PrintStream;

/**
 * One subcommand of the examples jar. Implementations are stateless until {@link #run} and are run
 * once per process (or once per call of {@link Main#run} in tests).
 */
public interface Command {

    /**
     * The name typed on the command line, such as {@code log}.
     *
     * @return the name
     */
    String name();

    /**
     * One line for the global help.
     *
     * @return the summary
     */
    String summary();

    /**
     * The options this command takes; {@link Main} adds {@code --help}.
     *
     * @return a fresh option set
     */
    Options options();

    /**
     * Runs the command.
     *
     * @param values the parsed options
     * @param out    where progress and results go
     * @return the exit status: 0 for success, 1 when the example found lost or damaged data
     * @throws UsageException if the options cannot work together or the environment does not allow the
     *                        run (exit status 2)
     * @throws Exception      if the run failed (exit status 1)
     */
    int run(Options.Values values, PrintStream out) throws Exception;
}
