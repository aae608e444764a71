package dev.mkwrite.examples;

import java.io.PrintStream;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The options of one command, and their parser: {@code --name value}, {@code --name=value} and flags.
 *
 * <p>Every value is checked while parsing, so a command only ever sees values that fit: counts are whole
 * numbers in their range (an underscore may group digits: {@code 1_000_000}); sizes are bytes with an
 * optional binary suffix ({@code 4k}, {@code 64m}, {@code 1g}); paths must be well formed. Anything else
 * throws {@link UsageException} with one line that names the option and the value.
 *
 * <p>Not thread-safe; built and parsed on one thread.
 */
public final class Options {

    private enum Kind { FLAG, COUNT, SIZE, PATH }

    private record Option(String name, Kind kind, String valueName, String defaultValue, long min, long max,
                          String help) {
    }

    private final String command;
    private final Map<String, Option> options = new LinkedHashMap<>();

    /**
     * Starts an empty option set.
     *
     * @param command the command's name, used in messages
     */
    public Options(String command) {
        this.command = command;
    }

    /**
     * Adds a flag: present or absent, no value.
     *
     * @param name the name without dashes
     * @param help one line of help
     * @return this
     */
    public Options flag(String name, String help) {
        return add(new Option(name, Kind.FLAG, null, null, 0, 0, help));
    }

    /**
     * Adds a whole-number option.
     *
     * @param name         the name without dashes
     * @param valueName    the value's name in the help, such as {@code N}
     * @param defaultValue the default, or null if the option has none
     * @param min          the smallest value accepted
     * @param max          the largest value accepted
     * @param help         one line of help
     * @return this
     */
    public Options count(String name, String valueName, Long defaultValue, long min, long max, String help) {
        return add(new Option(name, Kind.COUNT, valueName, defaultValue == null ? null : defaultValue.toString(),
                min, max, help));
    }

    /**
     * Adds a byte-size option, which accepts the suffixes {@code k}, {@code m} and {@code g} (powers of 1024).
     *
     * @param name         the name without dashes
     * @param valueName    the value's name in the help, such as {@code B}
     * @param defaultValue the default in the same syntax, or null if the option has none
     * @param min          the smallest value accepted, in bytes
     * @param max          the largest value accepted, in bytes
     * @param help         one line of help
     * @return this
     */
    public Options size(String name, String valueName, String defaultValue, long min, long max, String help) {
        return add(new Option(name, Kind.SIZE, valueName, defaultValue, min, max, help));
    }

    /**
     * Adds a path option, without a default.
     *
     * @param name      the name without dashes
     * @param valueName the value's name in the help, such as {@code DIR}
     * @param help      one line of help
     * @return this
     */
    public Options path(String name, String valueName, String help) {
        return add(new Option(name, Kind.PATH, valueName, null, 0, 0, help));
    }

    private Options add(Option option) {
        if (options.putIfAbsent(option.name(), option) != null) {
            throw new IllegalArgumentException("option --" + option.name() + " declared twice for " + command);
        }
        return this;
    }

    /**
     * Prints one line per option, aligned, with its default.
     *
     * @param out      where to print
     * @param withHelp whether to end with a line for {@code --help}
     */
    public void printHelp(PrintStream out, boolean withHelp) {
        int width = "--help".length();
        for (Option o : options.values()) {
            width = Math.max(width, synopsis(o).length());
        }
        for (Option o : options.values()) {
            String line = String.format(Locale.ROOT, "  %-" + width + "s  %s", synopsis(o), o.help());
            if (o.defaultValue() != null) {
                line += " (default " + o.defaultValue() + ")";
            }
            out.println(line);
        }
        if (withHelp) {
            out.println(String.format(Locale.ROOT, "  %-" + width + "s  %s", "--help", "print this help and exit"));
        }
    }

    private static String synopsis(Option o) {
        return o.kind() == Kind.FLAG ? "--" + o.name() : "--" + o.name() + " " + o.valueName();
    }

    /**
     * Parses {@code args[from..]}.
     *
     * @param args the command line
     * @param from the index of the first option
     * @return the values
     * @throws UsageException for an unknown option, a missing or bad value, or a positional argument
     */
    public Values parse(String[] args, int from) throws UsageException {
        Map<String, Object> values = new LinkedHashMap<>();
        for (Option o : options.values()) {
            if (o.defaultValue() != null) {
                values.put(o.name(), convert(o, o.defaultValue()));
            }
        }
        for (int i = from; i < args.length; i++) {
            String arg = args[i];
            if (!arg.startsWith("--") || arg.length() == 2) {
                throw new UsageException(command + ": unexpected argument '" + arg + "'; options start with --,"
                        + " see " + command + " --help");
            }
            int eq = arg.indexOf('=');
            String name = eq < 0 ? arg.substring(2) : arg.substring(2, eq);
            Option o = options.get(name);
            if (o == null) {
                throw new UsageException(command + ": unknown option --" + name + "; see " + command + " --help");
            }
            if (o.kind() == Kind.FLAG) {
                if (eq >= 0) {
                    throw new UsageException(command + ": --" + name + " takes no value");
                }
                values.put(name, Boolean.TRUE);
                continue;
            }
            String text;
            if (eq >= 0) {
                text = arg.substring(eq + 1);
            } else if (i + 1 < args.length) {
                text = args[++i];
            } else {
                throw new UsageException(command + ": --" + name + " needs a value " + o.valueName());
            }
            values.put(name, convert(o, text));
        }
        return new Values(command, values);
    }

    private Object convert(Option o, String text) throws UsageException {
        return switch (o.kind()) {
            case FLAG -> Boolean.TRUE;
            case PATH -> {
                if (text.isEmpty()) {
                    throw new UsageException(command + ": --" + o.name() + " needs a non-empty path");
                }
                try {
                    yield Path.of(text);
                } catch (InvalidPathException e) {
                    throw new UsageException(command + ": --" + o.name() + ": not a path: '" + text + "'");
                }
            }
            case COUNT -> inRange(o, text, parseNumber(o, text, false));
            case SIZE -> inRange(o, text, parseNumber(o, text, true));
        };
    }

    private long parseNumber(Option o, String text, boolean size) throws UsageException {
        String digits = text.replace("_", "");
        long multiplier = 1;
        if (size && !digits.isEmpty()) {
            char suffix = Character.toLowerCase(digits.charAt(digits.length() - 1));
            multiplier = switch (suffix) {
                case 'k' -> 1L << 10;
                case 'm' -> 1L << 20;
                case 'g' -> 1L << 30;
                default -> 1;
            };
            if (multiplier != 1) {
                digits = digits.substring(0, digits.length() - 1);
            }
        }
        boolean wellFormed = !digits.isEmpty() && !text.startsWith("_") && !text.endsWith("_");
        for (int k = 0; wellFormed && k < digits.length(); k++) {
            wellFormed = digits.charAt(k) >= '0' && digits.charAt(k) <= '9';
        }
        if (!wellFormed) {
            throw new UsageException(command + ": --" + o.name() + ": expected "
                    + (size ? "a size in bytes such as 128, 4k or 64m" : "a whole number") + ", got '" + text + "'");
        }
        try {
            return Math.multiplyExact(Long.parseLong(digits), multiplier);
        } catch (NumberFormatException | ArithmeticException e) {
            throw new UsageException(command + ": --" + o.name() + ": '" + text + "' is too large");
        }
    }

    private long inRange(Option o, String text, long value) throws UsageException {
        if (value < o.min() || value > o.max()) {
            throw new UsageException(command + ": --" + o.name() + ": " + text + " is out of range; expected "
                    + o.min() + " to " + o.max());
        }
        return value;
    }

    /** Parsed values, each already checked. Not thread-safe. */
    public static final class Values {
        private final String command;
        private final Map<String, Object> values;

        private Values(String command, Map<String, Object> values) {
            this.command = command;
            this.values = values;
        }

        /**
         * Whether the option was given or has a default.
         *
         * @param name the option's name
         * @return {@code true} if it has a value
         */
        public boolean has(String name) {
            return values.containsKey(name);
        }

        /**
         * Whether a flag was given.
         *
         * @param name the flag's name
         * @return {@code true} if present
         */
        public boolean flag(String name) {
            return Boolean.TRUE.equals(values.get(name));
        }

        /**
         * A count or size option's value.
         *
         * @param name the option's name
         * @return the value
         * @throws UsageException if the option was not given and has no default
         */
        public long number(String name) throws UsageException {
            Object v = values.get(name);
            if (v == null) {
                throw new UsageException(command + ": --" + name + " is required");
            }
            return (Long) v;
        }

        /**
         * A count or size option's value that fits an {@code int}; the option's range guarantees it.
         *
         * @param name the option's name
         * @return the value
         * @throws UsageException if the option was not given and has no default
         */
        public int intNumber(String name) throws UsageException {
            return Math.toIntExact(number(name));
        }

        /**
         * A path option's value.
         *
         * @param name the option's name
         * @return the path
         * @throws UsageException if the option was not given
         */
        public Path path(String name) throws UsageException {
            Object v = values.get(name);
            if (v == null) {
                throw new UsageException(command + ": --" + name + " is required");
            }
            return (Path) v;
        }
    }
}
