package dev.mkwrite.impl.os;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The errno values mkwrite acts on (Linux numbering, the same on every architecture {@link PosixNative}
 * binds), their names and descriptions, and the one definition of "no space" for the whole of mkwrite.
 *
 * <h2>No space</h2>
 * A failed call that reports {@code ENOSPC} or {@code EDQUOT} means the filesystem has no space for the
 * bytes; mkwrite reports it as {@link dev.mkwrite.NoSpaceException}. {@link #isNoSpace(IOException)} decides
 * for an exception, in this order:
 * <ol>
 *   <li>by errno, when the exception or one of its causes is an {@link ErrnoException} (mkwrite's own native
 *   calls);</li>
 *   <li>by message, as a last resort for the JDK's {@code IOException}s, which carry no errno, only the C
 *   library's {@code strerror} text; that text follows the process's locale ("Auf dem Ger&auml;t ist kein
 *   Speicherplatz mehr verf&uuml;gbar" under {@code de_DE}), so it is compared with {@code strerror(ENOSPC)}
 *   and {@code strerror(EDQUOT)} of this process when native access gives them, and with the English texts
 *   always.</li>
 * </ol>
 * {@link #isNoSpace(IOException, Path, long)} adds what needs neither: the exception means no space if the
 * filesystem of the file has less usable space than the operation needed. That covers a JDK message in a
 * locale this process cannot describe (no native access), at the price of calling an unrelated failure on
 * an exactly full disk "no space".
 *
 * <p>Stateless and thread-safe.
 */
public final class Errno {

    public static final int EPERM = 1;
    public static final int ENOENT = 2;
    public static final int EINTR = 4;
    public static final int EIO = 5;
    public static final int EBADF = 9;
    public static final int EAGAIN = 11;
    public static final int ENOMEM = 12;
    public static final int EACCES = 13;
    public static final int EFAULT = 14;
    public static final int ENODEV = 19;
    public static final int EISDIR = 21;
    public static final int EINVAL = 22;
    public static final int ENFILE = 23;
    public static final int EMFILE = 24;
    public static final int EFBIG = 27;
    public static final int ENOSPC = 28;
    public static final int ESPIPE = 29;
    public static final int EROFS = 30;
    public static final int ENOSYS = 38;
    public static final int EOPNOTSUPP = 95;
    public static final int EDQUOT = 122;
    public static final int EHWPOISON = 133;

    private static final Map<Integer, String> NAMES = Map.ofEntries(
            Map.entry(EPERM, "EPERM"), Map.entry(ENOENT, "ENOENT"), Map.entry(EINTR, "EINTR"),
            Map.entry(EIO, "EIO"), Map.entry(EBADF, "EBADF"), Map.entry(EAGAIN, "EAGAIN"),
            Map.entry(ENOMEM, "ENOMEM"), Map.entry(EACCES, "EACCES"), Map.entry(EFAULT, "EFAULT"),
            Map.entry(ENODEV, "ENODEV"), Map.entry(EISDIR, "EISDIR"), Map.entry(EINVAL, "EINVAL"),
            Map.entry(ENFILE, "ENFILE"), Map.entry(EMFILE, "EMFILE"), Map.entry(EFBIG, "EFBIG"),
            Map.entry(ENOSPC, "ENOSPC"), Map.entry(ESPIPE, "ESPIPE"), Map.entry(EROFS, "EROFS"),
            Map.entry(ENOSYS, "ENOSYS"), Map.entry(EOPNOTSUPP, "EOPNOTSUPP"), Map.entry(EDQUOT, "EDQUOT"),
            Map.entry(EHWPOISON, "EHWPOISON"));

    /** How deep {@link #isNoSpace(IOException)} follows causes: a guard against cycles. */
    private static final int MAX_CAUSES = 8;

    private Errno() {
    }

    /**
     * What to tell the user about a {@code fallocate} that failed with {@code errno}, or null.
     *
     * @param errno the errno, positive
     * @return a hint, or null
     */
    public static String fallocateHint(int errno) {
        return errno == EBADF || errno == EPERM ? "the file must be open for writing and not immutable or append-only"
                : errno == EFBIG ? "the range exceeds the filesystem's maximum file size" : null;
    }

    /**
     * {@code first}, with {@code next} suppressed by it; or {@code next} if there was no first failure.
     *
     * @param first the first failure, or null
     * @param next  a later one
     * @return the failure to report
     */
    public static IOException firstOf(IOException first, IOException next) {
        if (first == null) {
            return next;
        }
        first.addSuppressed(next);
        return first;
    }

    /**
     * Whether an errno means the filesystem has no space: {@code ENOSPC} or {@code EDQUOT}.
     *
     * @param errno the errno, positive
     * @return true for no space
     */
    public static boolean isNoSpace(int errno) {
        return errno == ENOSPC || errno == EDQUOT;
    }

    /**
     * Whether an exception reports that the filesystem has no space: by errno where the exception or a
     * cause carries one, else by message; see the class documentation.
     *
     * @param e the exception
     * @return true for no space
     */
    public static boolean isNoSpace(IOException e) {
        Throwable t = e;
        for (int depth = 0; t != null && depth < MAX_CAUSES; depth++, t = t.getCause()) {
            if (t instanceof ErrnoException x) {
                return isNoSpace(x.errno()); // an errno decides: no message may overrule it
            }
        }
        t = e;
        for (int depth = 0; t != null && depth < MAX_CAUSES; depth++, t = t.getCause()) {
            String m = t.getMessage();
            if (m != null) {
                for (String text : Texts.NO_SPACE) {
                    if (m.contains(text)) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    /**
     * {@link #isNoSpace(IOException)}, or else whether the filesystem of {@code path} has fewer usable bytes
     * than the failed operation needed (false if that cannot be told).
     *
     * @param e      the exception
     * @param path   a file on the filesystem the operation wrote to
     * @param needed the bytes the operation needed, at least 1
     * @return true for no space
     */
    public static boolean isNoSpace(IOException e, Path path, long needed) {
        if (isNoSpace(e)) {
            return true;
        }
        if (hasErrno(e) || e instanceof InterruptedIOException || e instanceof ClosedByInterruptException) {
            return false; // the errno said it is something else, or nothing failed but a wait
        }
        long usable = usableSpace(path);
        return usable >= 0 && usable < needed;
    }

    /**
     * The usable space of the filesystem holding {@code path} (or, if it does not exist, its nearest
     * ancestor that does), for an unprivileged writer.
     *
     * @param path a file
     * @return bytes, or -1 if it cannot be told
     */
    public static long usableSpace(Path path) {
        for (Path p = path.toAbsolutePath(); p != null; p = p.getParent()) {
            try {
                return Files.getFileStore(p).getUsableSpace();
            } catch (NoSuchFileException e) {
                // try the directory that would hold it
            } catch (IOException | RuntimeException e) {
                return -1;
            }
        }
        return -1;
    }

    /**
     * The symbolic name of an errno, such as {@code ENOSPC}, or {@code errno N} for one this class does not
     * name.
     *
     * @param errno the errno, positive
     * @return the name
     */
    public static String name(int errno) {
        String name = NAMES.get(errno);
        return name != null ? name : "errno " + errno;
    }

    /**
     * The C library's description of an errno in this process's locale, such as "No space left on device";
     * without native access, the symbolic name.
     *
     * @param errno the errno, positive
     * @return the description
     */
    public static String describe(int errno) {
        String s = PosixNative.strerror(errno);
        return s != null ? s : name(errno);
    }

    private static boolean hasErrno(Throwable e) {
        Throwable t = e;
        for (int depth = 0; t != null && depth < MAX_CAUSES; depth++, t = t.getCause()) {
            if (t instanceof ErrnoException) {
                return true;
            }
        }
        return false;
    }

    /** The no-space messages, computed on first use: the locale is fixed when the JVM starts. */
    private static final class Texts {
        static final List<String> NO_SPACE = noSpaceTexts();

        private static List<String> noSpaceTexts() {
            // glibc's English texts: what the JDK reports under the C locale or without translations.
            String enospc = "No space left on device";
            String edquot = "Disk quota exceeded";
            String localEnospc = PosixNative.strerror(ENOSPC);
            String localEdquot = PosixNative.strerror(EDQUOT);
            return Stream.of(enospc, edquot, localEnospc, localEdquot)
                    .filter(s -> s != null && !s.isBlank() && !s.startsWith("Unknown error"))
                    .distinct()
                    .toList();
        }
    }
}
