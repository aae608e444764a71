package dev.mkwrite.examples.pagestore;

import dev.mkwrite.FaultResult;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.RegionStats;
import dev.mkwrite.WriteFault;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.examples.Handlers;
import dev.mkwrite.impl.storage.StorageHandler;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.zip.CRC32C;

/**
 * A store of fixed-size pages whose checksums are computed at writeback, the way a filesystem with
 * data checksums (btrfs) does it.
 *
 * <h2>Why stable pages make the checksum valid</h2>
 * The checksum of a page is computed in {@link WriteFaultHandler#beforeWriteback}, which mkwrite calls
 * once the page is under writeback and before it forces the page. mkwrite keeps the page stable from
 * then until the force has completed (rule K8): a writer that reaches it waits. So the bytes that were
 * checksummed are exactly the bytes that were forced. Without stable pages a store could land between
 * the checksum and the force, and after a crash the page on disk would fail its own checksum although
 * nothing went wrong.
 *
 * <h2>Files</h2>
 * {@code pages.dat}: {@code pages * pageSize} bytes. {@code checksums.dat}: 8 bytes per page, little-endian:
 * the CRC32C of the page as last written back (low 32 bits) and how many times it was written back
 * (high 32 bits; zero means never, and the page must then be all zeros).
 *
 * <h2>Threads</h2>
 * {@link #update} may be called from any number of threads; {@link #checkpoint} from one at a time;
 * {@link #close} after both have stopped.
 */
public final class PageStore implements AutoCloseable {

    /** The data file's name. */
    public static final String PAGES = "pages.dat";
    /** The checksum file's name. */
    public static final String CHECKSUMS = "checksums.dat";

    private static final int ENTRY = Long.BYTES;

    private final StorageHandler storage;
    private final MappedRegion checksums;
    private final MappedRegion pages;
    private final long pageCount;

    private PageStore(StorageHandler storage, MappedRegion checksums, MappedRegion pages, long pageCount) {
        this.storage = storage;
        this.checksums = checksums;
        this.pages = pages;
        this.pageCount = pageCount;
    }

    /**
     * Creates a store of {@code pageCount} operating-system pages in {@code dir}.
     *
     * @param dir       the directory; the two files are created in it
     * @param pageCount the number of pages
     * @param granule   storage prepared at a time, for both files
     * @return the store
     * @throws IOException if the files cannot be created or mapped
     */
    public static PageStore create(Path dir, long pageCount, int granule) throws IOException {
        Path checksumFile = dir.resolve(CHECKSUMS);
        Path pageFile = dir.resolve(PAGES);
        // One built-in fallocate handler reserves the space of both files.
        StorageHandler storage = Handlers.storage(granule);
        MappedRegion checksums = null;
        boolean success = false;
        try {
            checksums = MappedRegion.builder(checksumFile).size(pageCount * ENTRY).handler(storage).open();
            ChecksumAtWriteback handler = new ChecksumAtWriteback(storage, checksums);
            // Both regions use the operating system's page size, the default.
            MappedRegion pages = MappedRegion.builder(pageFile).handler(handler)
                    .size(pageCount * (long) checksums.pageSize()).open();
            success = true;
            return new PageStore(storage, checksums, pages, pageCount);
        } finally {
            if (!success) {
                if (checksums != null) {
                    checksums.close();
                }
                storage.close();
            }
        }
    }

    /**
     * The page size: the region's, which is the operating system's.
     *
     * @return bytes per page
     */
    public int pageSize() {
        return pages.pageSize();
    }

    /**
     * The number of pages.
     *
     * @return the count
     */
    public long pageCount() {
        return pageCount;
    }

    /**
     * Writes {@code length} bytes of {@code src} into page {@code page} at {@code offset}.
     *
     * @param page   the page
     * @param offset the offset inside the page
     * @param src    the bytes
     * @param length how many, such that {@code offset + length <= pageSize()}
     */
    public void update(long page, int offset, byte[] src, int length) {
        if (page < 0 || page >= pageCount || offset < 0 || length < 0 || offset + length > pageSize()) {
            throw new IllegalArgumentException("update of page " + page + " at " + offset + "+" + length
                    + " is outside the store of " + pageCount + " pages of " + pageSize() + " bytes");
        }
        pages.put(page * pageSize() + offset, src, 0, length);
    }

    /**
     * Writes back every dirty page, checksumming each while it is stable, then forces the checksums.
     *
     * @return pages written back
     * @throws IOException if forcing failed
     */
    public long checkpoint() throws IOException {
        long n = pages.flush();
        checksums.flush();
        return n;
    }

    /**
     * The page region's counters.
     *
     * @return a snapshot
     */
    public RegionStats stats() {
        return pages.stats();
    }

    /**
     * Storage reserved for both files (see {@link Handlers#reservedBytes}).
     *
     * @return bytes
     */
    public long preparedBytes() {
        return Handlers.reservedBytes(storage);
    }

    /**
     * Writes back the last dirty pages (checksummed as at any checkpoint) and closes both files.
     *
     * @throws IOException if the final writeback failed
     */
    @Override
    public void close() throws IOException {
        try {
            pages.close(); // its final writeback still writes checksums
        } finally {
            try {
                checksums.close();
            } finally {
                storage.close();
            }
        }
    }

    /**
     * Prepares page space through the built-in storage handler, and checksums each page at writeback into the
     * checksum region. Thread-safe: writebacks of different pages may run on different flushing threads.
     */
    private static final class ChecksumAtWriteback implements WriteFaultHandler {
        private final WriteFaultHandler space;
        private final MappedRegion checksums;

        ChecksumAtWriteback(WriteFaultHandler space, MappedRegion checksums) {
            this.space = space;
            this.checksums = checksums;
        }

        @Override
        public FaultResult prepare(WriteFault fault) throws IOException, InterruptedException {
            return space.prepare(fault);
        }

        /** A checksum at writeback must see exactly the bytes that reach the disk: stable pages. */
        @Override
        public boolean needsStablePages() {
            return true;
        }

        @Override
        public void beforeWriteback(long page, MemorySegment contents) {
            CRC32C crc = new CRC32C();
            crc.update(contents.asByteBuffer());
            long entry = checksums.getLong(page * ENTRY);
            long writebacks = (entry >>> 32) + 1;
            checksums.putLong(page * ENTRY, (crc.getValue() & 0xFFFFFFFFL) | (writebacks << 32));
        }
    }

    /**
     * What {@link #verify} found.
     *
     * @param pages       pages checked
     * @param checksummed pages written back at least once, whose checksum matched
     * @param neverWritten pages never written back, all zeros as they must be
     * @param mismatches  pages whose bytes do not match their checksum (or are not zero though never written)
     * @param firstMismatch the first mismatching page, or -1
     */
    public record Verification(long pages, long checksummed, long neverWritten, long mismatches, long firstMismatch) {
    }

    /**
     * Rereads every page of a closed store from its file and checks it against its checksum.
     *
     * @param dir the store's directory
     * @return the counts
     * @throws IOException if the files cannot be read
     */
    public static Verification verify(Path dir) throws IOException {
        try (FileChannel data = FileChannel.open(dir.resolve(PAGES), StandardOpenOption.READ);
             FileChannel sums = FileChannel.open(dir.resolve(CHECKSUMS), StandardOpenOption.READ)) {
            long count = sums.size() / ENTRY;
            if (count == 0) {
                return new Verification(0, 0, 0, 0, -1);
            }
            int pageSize = Math.toIntExact(data.size() / count);
            ByteBuffer page = ByteBuffer.allocate(pageSize);
            ByteBuffer entry = ByteBuffer.allocate(ENTRY).order(ByteOrder.LITTLE_ENDIAN);
            CRC32C crc = new CRC32C();
            long checksummed = 0;
            long never = 0;
            long mismatches = 0;
            long first = -1;
            for (long p = 0; p < count; p++) {
                readFully(data, page.clear(), p * pageSize);
                readFully(sums, entry.clear(), p * ENTRY);
                long e = entry.getLong(0);
                boolean ok;
                if ((e >>> 32) == 0) {
                    ok = isZero(page.array());
                    if (ok) {
                        never++;
                    }
                } else {
                    crc.reset();
                    crc.update(page.array(), 0, pageSize);
                    ok = (int) crc.getValue() == (int) e;
                    if (ok) {
                        checksummed++;
                    }
                }
                if (!ok) {
                    mismatches++;
                    if (first < 0) {
                        first = p;
                    }
                }
            }
            return new Verification(count, checksummed, never, mismatches, first);
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer b, long position) throws IOException {
        long p = position;
        while (b.hasRemaining()) {
            int n = ch.read(b, p);
            if (n < 0) {
                throw new IOException("unexpected end of file at " + p);
            }
            p += n;
        }
    }

    private static boolean isZero(byte[] bytes) {
        for (byte b : bytes) {
            if (b != 0) {
                return false;
            }
        }
        return true;
    }
}
