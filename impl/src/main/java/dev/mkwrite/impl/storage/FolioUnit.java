package dev.mkwrite.impl.storage;

import dev.mkwrite.StorageFile;
import dev.mkwrite.impl.os.LazyLogger;
import dev.mkwrite.impl.os.PosixNative;
import dev.mkwrite.impl.os.SharedFile;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The folio unit of a file: the aligned span a storage handler allocates and gives back as a whole, so
 * that no page-cache folio holds both a page a writer may store into and a hole.
 *
 * <h2>Why</h2>
 * Filesystems with large page-cache folios (ext4 since Linux 6.16, XFS) reserve blocks in
 * {@code ->page_mkwrite} for the whole folio of the page written, not for the page alone. A folio made by
 * readahead can hold a page the handler allocated and, beside it, a hole (a granule allocated in part at
 * the disk's edge, blocks given back); after that page's writeback, the next store into it needs a block
 * for the hole, and on a full disk the kernel answers {@code SIGBUS} ({@code InternalError}), though the
 * page has its block. Folios are naturally aligned powers of two, so a span aligned to a power of two at
 * least as large as the largest folio is never straddled by one: allocating such spans whole, and giving
 * back only spans no fault touched, leaves no written page beside a hole in its folio.
 *
 * <h2>How large</h2>
 * Readahead makes a file's large folios, and it never makes one larger than its window: the window of the
 * file's block device ({@code read_ahead_kb}) for a mapping's read-around and its asynchronous
 * readahead; for a {@code read(2)} of another descriptor of the file, the larger of that window and the
 * device's largest request ({@code max_sectors_kb}). Seen on Linux 6.18 with ext4 on a loop device
 * ({@code mm_filemap_add_to_page_cache}, faulting a mapping page after page with
 * {@code MADV_POPULATE_WRITE}): with a 128 KiB window, folios of up to 32 pages (128 KiB); with the 2560
 * KiB window a loop device gets by default, up to 512 pages (2 MiB, the page cache's largest folio on
 * x86-64); a single fault's read-around brings the whole window as single pages, the later asynchronous
 * rounds grow the order by two each. So a file's folio unit is the larger of the device's read-ahead
 * window and its largest request, rounded down to a power of two, and kept within
 * {@link #MIN} (the kernel's default window) and {@link #MAX}; {@link #MAX} where the device cannot be
 * told. A tmpfs file's folio unit is one 4 KiB unit: tmpfs reserves nothing in a store's fault (its
 * memory is charged when a page is allocated, which fallocate does), and its large folios come from its
 * {@code huge=} option, not from readahead.
 *
 * <p>Not covered: a window raised after the file's first fault (the folio unit is read once per file and
 * region), and folios larger than {@link #MAX} on kernels whose page cache allows them (other page sizes).
 *
 * <p>For tests, system property {@value #TEST_PROPERTY} (bytes, a power of two from 4 KiB) sets every
 * file's folio unit.
 */
final class FolioUnit {

    private static final LazyLogger LOG = new LazyLogger(FolioUnit.class);

    /** The smallest folio unit but tmpfs's: 128 KiB, the kernel's default read-ahead window. */
    static final int MIN = 128 << 10;
    /** The largest: 2 MiB, the page cache's largest folio with 4 KiB pages on x86-64 (a PMD). */
    static final int MAX = 2 << 20;
    /** Sets every file's folio unit, for tests. */
    static final String TEST_PROPERTY = "dev.mkwrite.impl.testing.folioUnit";

    private FolioUnit() {
    }

    /**
     * The folio units of block devices met so far, by device number: a block device's limits are read
     * once per JVM (a window changed afterwards is not seen, as for a file after its first fault).
     * Devices without a block device of their own (major 0: NFS, FUSE, btrfs) are read for every file,
     * as their numbers are reused by whatever is mounted next.
     */
    private static final ConcurrentHashMap<Long, Integer> BLOCK_DEVICES = new ConcurrentHashMap<>();

    /**
     * The folio unit of {@code path}, in bytes: a power of two from {@link UnitTable#UNIT} to {@link #MAX}.
     * Reads the file's filesystem type and its device's limits from sysfs: call it once per file.
     */
    static int of(Path path) {
        return of(path, null);
    }

    /**
     * {@link #of(Path)}, asking the region's descriptor {@code file} (null: none) with {@code fstatfs} and
     * {@code fstat} where it is a native one: microseconds, where the file store and the attribute view of
     * {@code path} cost about 2 ms in a fresh JVM and 0.2 ms a file after that.
     */
    static int of(Path path, StorageFile file) {
        Integer forced = Integer.getInteger(TEST_PROPERTY);
        if (forced != null && forced >= UnitTable.UNIT && Integer.bitCount(forced) == 1) {
            return forced;
        }
        try {
            if (file instanceof SharedFile shared && shared.fd() >= 0) {
                long type = PosixNative.filesystemTypeOf(shared.fd());
                long dev = PosixNative.deviceOf(shared.fd());
                if (type >= 0 && dev >= 0) {
                    return type == PosixNative.TMPFS_MAGIC ? UnitTable.UNIT : ofDevice(dev);
                }
            }
            if (Files.getFileStore(path).type().toLowerCase(Locale.ROOT).equals("tmpfs")) {
                return UnitTable.UNIT;
            }
            return ofDevice(((Number) Files.getAttribute(path, "unix:dev")).longValue());
        } catch (IOException | RuntimeException e) {
            LOG.get().debug("mkwrite storage: the folio unit of {} is {} bytes, its device unknown: {}", path, MAX,
                    e.toString());
            return MAX;
        }
    }

    /** The folio unit of a file on device {@code dev} (not a tmpfs): its limits, read or remembered. */
    private static int ofDevice(long dev) {
        long major = ((dev >>> 8) & 0xfff) | ((dev >>> 32) & ~0xfffL);
        if (major == 0) {
            return measure(dev, major);
        }
        Integer known = BLOCK_DEVICES.get(dev);
        if (known != null) {
            return known;
        }
        int unit = measure(dev, major);
        BLOCK_DEVICES.putIfAbsent(dev, unit);
        return unit;
    }

    /** Reads device {@code dev}'s limits from sysfs. */
    private static int measure(long dev, long major) {
        long minor = (dev & 0xff) | ((dev >>> 12) & ~0xffL);
        String id = major + ":" + minor;
        long window = Math.max(limitKiB(id, "read_ahead_kb"), limitKiB(id, "max_sectors_kb"));
        if (window <= 0) {
            return MAX;
        }
        return Math.clamp(Long.highestOneBit(window << 10), MIN, MAX);
    }

    /**
     * A queue limit of device {@code id} ("major:minor"), in KiB: the device's own, its disk's for a
     * partition, or the backing device's (read-ahead only) for a filesystem without a block device (NFS,
     * FUSE); 0 if none is found.
     */
    private static long limitKiB(String id, String name) {
        for (String p : new String[] {"/sys/dev/block/" + id + "/queue/" + name,
                "/sys/dev/block/" + id + "/../queue/" + name, "/sys/class/bdi/" + id + "/" + name}) {
            try {
                Path f = Path.of(p);
                if (Files.isReadable(f)) {
                    return Long.parseLong(Files.readString(f).trim());
                }
            } catch (IOException | RuntimeException e) {
                // try the next
            }
        }
        return 0;
    }
}
