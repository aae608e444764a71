package dev.mkwrite.impl.os;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The one definition of "no space": by errno where there is one, by message as the last resort, by the
 * filesystem's usable space when asked. The same under another locale is shown by
 * {@code NoSpaceUnderAnotherLocaleTest}, in child JVMs; here the locale is this JVM's.
 */
class ErrnoTest {

    private static final Path FILE = Path.of("/data/segment-7");

    @Test
    void shouldCallEnospcAndEdquotNoSpaceAndNothingElse() {
        assertTrue(Errno.isNoSpace(Errno.ENOSPC));
        assertTrue(Errno.isNoSpace(Errno.EDQUOT));
        assertFalse(Errno.isNoSpace(Errno.EIO));
        assertFalse(Errno.isNoSpace(Errno.EFAULT));
    }

    @Test
    void shouldDecideByTheErrnoOfAnErrnoExceptionAnywhereInTheCauses() {
        assertTrue(Errno.isNoSpace(new ErrnoException("fallocate", Errno.ENOSPC, FILE, 0, 4096, null)));
        assertTrue(Errno.isNoSpace(new IOException("wrapped",
                new ErrnoException("fallocate", Errno.EDQUOT, FILE, 0, 4096, null))));
        // An errno overrules any text: this EIO's hint happens to contain the English no-space text.
        assertFalse(Errno.isNoSpace(new ErrnoException("write", Errno.EIO, FILE, 0, 4096,
                "not to be confused with No space left on device")));
    }

    @Test
    void shouldRecogniseTheJdksEnglishMessagesAsTheLastResort() {
        assertTrue(Errno.isNoSpace(new IOException("No space left on device")));
        assertTrue(Errno.isNoSpace(new IOException("Disk quota exceeded")));
        assertTrue(Errno.isNoSpace(new IOException("outer", new IOException("No space left on device"))));
        assertFalse(Errno.isNoSpace(new IOException("Input/output error")));
        assertFalse(Errno.isNoSpace(new IOException((String) null)));
    }

    @Test
    void shouldRecogniseThisProcesssOwnStrerrorText() {
        assumeTrue(NativeAccess.available(), "strerror needs native access: " + NativeAccess.unavailableReason());
        String text = PosixNative.strerror(Errno.ENOSPC);
        assertTrue(Errno.isNoSpace(new IOException(text)), text);
        assertEquals(text, Errno.describe(Errno.ENOSPC));
    }

    @Test
    void shouldAskTheFilesystemOnlyWhenNeitherErrnoNorMessageTells(@TempDir Path dir) throws IOException {
        IOException german = new IOException("Auf dem Gerät ist kein Speicherplatz mehr verfügbar");
        Path file = dir.resolve("f");
        long usable = Errno.usableSpace(dir);
        assumeTrue(usable > 1 << 20, "the temporary directory's filesystem is nearly full: " + usable);
        // This JVM's locale is not German: the text alone says nothing, and the filesystem has room.
        assertFalse(Errno.isNoSpace(german));
        assertFalse(Errno.isNoSpace(german, file, 4096));
        // More needed than the filesystem has: no space, whatever the text says.
        assertTrue(Errno.isNoSpace(german, file, usable + (1L << 30)));
        // Neither an errno that says otherwise nor an interrupt is turned into no space.
        assertFalse(Errno.isNoSpace(new ErrnoException("write", Errno.EIO, file, 0, 1, null), file, Long.MAX_VALUE));
        assertFalse(Errno.isNoSpace(new InterruptedIOException(), file, Long.MAX_VALUE));
    }

    @Test
    void shouldNameErrnosAndDescribeThemWithoutNativeAccessByName() {
        assertEquals("ENOSPC", Errno.name(28));
        assertEquals("errno 4095", Errno.name(4095));
        String d = Errno.describe(Errno.EIO);
        assertTrue(d.equals("EIO") || !d.isBlank(), d);
    }

    @Test
    void shouldOmitTheFileFromTheMessageOfACallWithout() {
        ErrnoException e = new ErrnoException("mmap", Errno.ENOMEM, null, 0, 1 << 20, null);
        assertFalse(e.getMessage().contains("null"), e.getMessage());
        assertTrue(e.getMessage().contains("ENOMEM"), e.getMessage());
    }
}
