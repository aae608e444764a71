package dev.mkwrite.examples;

import java.io.Serial;

/**
 * The command line or the environment does not allow the command to run: an unknown option, a bad
 * value, a missing directory. {@link Main} prints the message as one line on standard error and exits
 * with status 2.
 */
public final class UsageException extends Exception {

    @Serial
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message one line saying what is wrong and, where it helps, what to do instead
     */
    public UsageException(String message) {
        super(message);
    }
}
