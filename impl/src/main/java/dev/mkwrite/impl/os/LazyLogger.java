package dev.mkwrite.impl.os;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An SLF4J logger looked up on its first use, not when its class initialises. A cold JVM spends tens of
 * milliseconds in SLF4J's first {@code getLogger} (the provider's discovery and configuration, a few
 * hundred classes), and mkwrite's open and first write log nothing on the way that succeeds: with every
 * logger lazy, an application that has not touched SLF4J yet does not pay for it before its first write.
 * Thread-safe; a race looks the logger up twice and keeps either (SLF4J returns the same one).
 */
public final class LazyLogger {

    private final Class<?> owner;
    private volatile Logger logger;

    /**
     * A logger named after {@code owner}, looked up on the first {@link #get()}.
     *
     * @param owner the class whose logger this is
     */
    public LazyLogger(Class<?> owner) {
        this.owner = owner;
    }

    /**
     * The logger, looked up now if this is the first use.
     *
     * @return the SLF4J logger of the owner class
     */
    public Logger get() {
        Logger l = logger; // volatile
        if (l == null) {
            l = LoggerFactory.getLogger(owner);
            logger = l;
        }
        return l;
    }
}
