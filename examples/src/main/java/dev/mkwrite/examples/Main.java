package dev.mkwrite.examples;

import dev.mkwrite.examples.diskfull.DiskFullCommand;
import dev.mkwrite.examples.log.LogCommand;
import dev.mkwrite.examples.pagestore.PageStoreCommand;
import dev.mkwrite.examples.slowhandler.SlowHandlerCommand;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.List;

/**
 * The examples jar's entry point: {@code java -jar mkwrite-examples.jar COMMAND [options]}.
 *
 * <p>Exit status: 0 on success, 1 when a run failed or found lost data, 2 for a usage error (printed as
 * one line on standard error). {@code --help} lists the commands, {@code --version} prints the jar's
 * {@code Implementation-Title} and {@code Implementation-Version}.
 */
public final class Main {

    /** The program's name in messages. */
    public static final String PROGRAM = "mkwrite-examples";

    private Main() {
    }

    /**
     * Runs a command and exits with its status.
     *
     * @param args the command line
     */
    public static void main(String[] args) {
        int status = run(args, System.out, System.err);
        System.out.flush();
        System.exit(status);
    }

    /**
     * Runs a command; used by {@link #main} and by tests.
     *
     * @param args the command line
     * @param out  standard output
     * @param err  standard error
     * @return the exit status
     */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        List<Command> commands = commands();
        if (args.length == 0) {
            err.println(PROGRAM + ": missing command; run with --help to list them");
            return 2;
        }
        if (isHelp(args[0])) {
            printHelp(commands, out);
            return 0;
        }
        if (Arrays.asList(args).contains("--version")) {
            out.println(version());
            return 0;
        }
        Command command = commands.stream().filter(c -> c.name().equals(args[0])).findFirst().orElse(null);
        if (command == null) {
            err.println(PROGRAM + ": unknown command '" + args[0] + "'; run with --help to list them");
            return 2;
        }
        Options options = command.options();
        if (Arrays.stream(args, 1, args.length).anyMatch(Main::isHelp)) {
            out.println("usage: java -jar " + PROGRAM + ".jar " + command.name() + " [options]");
            out.println(command.summary());
            out.println("options:");
            options.printHelp(out, true);
            return 0;
        }
        try {
            return command.run(options.parse(args, 1), out);
        } catch (UsageException e) {
            out.flush();
            err.println(PROGRAM + " " + e.getMessage());
            return 2;
        } catch (Exception e) {
            out.flush();
            StringBuilder message = new StringBuilder(PROGRAM + " " + command.name() + ": failed: " + e);
            for (Throwable cause = e.getCause(); cause != null; cause = cause.getCause()) {
                message.append("; caused by ").append(cause);
            }
            err.println(message);
            if (e instanceof RuntimeException) {
                e.printStackTrace(err); // a bug: show where
            }
            return 1;
        }
    }

    /**
     * The jar's name and version from its manifest, and the Java that runs it, such as
     * {@code mkwrite-examples 0.1.0 (Java 25.0.1)}. Run from classes rather than the jar, the manifest is
     * missing and the version says so.
     *
     * @return one line
     */
    public static String version() {
        Package p = Main.class.getPackage();
        String title = p.getImplementationTitle();
        String version = p.getImplementationVersion();
        return (title == null ? PROGRAM : title) + " "
                + (version == null ? "(no version: not run from the jar)" : version)
                + " (Java " + Runtime.version() + ")";
    }

    private static boolean isHelp(String arg) {
        return arg.equals("--help") || arg.equals("-h");
    }

    private static List<Command> commands() {
        return List.of(new LogCommand(), new PageStoreCommand(), new DiskFullCommand(), new SlowHandlerCommand());
    }

    private static void printHelp(List<Command> commands, PrintStream out) {
        out.println("usage: java -jar " + PROGRAM + ".jar COMMAND [options]");
        out.println("mkwrite examples: what a database or log-engine author runs first.");
        out.println();
        for (Command c : commands) {
            out.println(c.name() + ": " + c.summary());
            c.options().printHelp(out, false);
            out.println();
        }
        out.println("Run COMMAND --help for one command's options, --version for the version. Exit status: 0 ok,"
                + " 1 failed or data lost, 2 usage error.");
    }
}
