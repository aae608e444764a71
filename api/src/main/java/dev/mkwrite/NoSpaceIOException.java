package dev.mkwrite;

/**
 * A {@link NoSpaceException} as a checked {@link java.io.IOException}: the storage behind a page could not
 * be reserved (a full disk, a quota, a budget). Obtained from {@link WriteFaultException#asIOException()}.
 * Nothing of the write landed, and the same write succeeds once space is freed.
 *
 * <p>Its message starts with {@code "No space left on device"}, the words of the JDK's own
 * {@code IOException} for {@code ENOSPC}, so a store that already recognises a full disk by the message of
 * a failed {@code FileChannel.write} recognises this one too; a store written for mkwrite catches the
 * type.
 */
public class NoSpaceIOException extends WriteFaultIOException {

    private static final long serialVersionUID = 1L;

    /** What the JDK's {@code IOException} for {@code ENOSPC} says; the start of every message. */
    public static final String NO_SPACE = "No space left on device";

    /**
     * Wraps {@code cause}.
     *
     * @param cause the write's failure; not null
     */
    public NoSpaceIOException(NoSpaceException cause) {
        super(cause);
    }

    @Override
    public NoSpaceException getCause() {
        return (NoSpaceException) super.getCause();
    }

    /**
     * {@value #NO_SPACE}, then the message of the write's failure (what is full, the file, the offset
     * and the page).
     *
     * @return the message
     */
    @Override
    public String getMessage() {
        return NO_SPACE + ": " + getReason();
    }
}
