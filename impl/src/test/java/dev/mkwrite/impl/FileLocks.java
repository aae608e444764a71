package dev.mkwrite.impl;

import java.nio.file.Files;
import java.nio.file.Path;

/** What /proc/locks says of a file: whether a region's lock on it is still held. */
public final class FileLocks {

    private FileLocks() {
    }

    /**
     * Whether /proc/locks lists a write lock on {@code file}: a POSIX lock of this process, or an
     * open-file-description lock (which /proc/locks lists with pid -1; the tests' files are their own, so
     * an OFD lock on one is this process's).
     *
     * <p>/proc/locks is generated a page at a time from a list that every process's locks change: a lock
     * taken or dropped elsewhere between two reads shifts the entries, and one can be skipped. So a file
     * not found is looked for again, up to five times; a lock that is held is seen in one of them.
     *
     * @param file the file
     * @return true if it is locked
     * @throws Exception if /proc/locks or the file's inode cannot be read
     */
    public static boolean held(Path file) throws Exception {
        for (int attempt = 0; attempt < 5; attempt++) {
            if (listed(file)) {
                return true;
            }
        }
        return false;
    }

    private static boolean listed(Path file) throws Exception {
        long inode = (Long) Files.getAttribute(file, "unix:ino");
        String pid = Long.toString(ProcessHandle.current().pid());
        for (String line : Files.readAllLines(Path.of("/proc/locks"))) {
            String[] f = line.trim().split("\\s+");
            // "1: POSIX  ADVISORY  WRITE 1234 fd:01:5678 0 EOF" or "2: OFDLCK ADVISORY  WRITE -1 fd:01:5678 0 EOF"
            if (f.length >= 6 && f[5].endsWith(":" + inode)
                    && ((f[1].equals("POSIX") && f[4].equals(pid)) || f[1].equals("OFDLCK"))) {
                return true;
            }
        }
        return false;
    }
}
