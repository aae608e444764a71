package dev.mkwrite.impl.storage;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.NoSpaceException;
import dev.mkwrite.OutOfRegionException;
import dev.mkwrite.WriteSpan;
import dev.mkwrite.impl.os.Errno;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Random operations through a region whose handler is a real storage handler, on a real small filesystem
 * that another file keeps nearly full, checked against a shadow of the region's bytes: fsx
 * ({@code reliability.FsxTest}) with the storage layer's records in play. {@code FsxTest}'s handler keeps
 * no allocation records; here every truncate, grow (which may map anew: a new scope for the records),
 * hole, close and reopen meets granules recorded allocated, given back, or allocated ahead, while writes
 * keep running out of space and space keeps coming back.
 *
 * <p>What must hold after every operation: a write either succeeded or threw {@link NoSpaceException}
 * (or, past the end, {@link OutOfRegionException}) and then changed nothing; a no-wait write may be
 * refused, and then changed nothing; no write dies with {@code InternalError} (SIGBUS); the bytes the
 * operation touched equal the shadow, and every {@value #FULL_CHECK_EVERY} operations the whole region
 * does; after each close the file, read through a channel of its own, has the region's size and bytes.
 * A run is a pure function of its seed; a failure names the seed and the last operations.
 */
final class StorageFsx {

    static final int PAGE = 4096;
    private static final int FULL_CHECK_EVERY = 128;
    private static final int LOG_TAIL = 30;

    private final SmallFilesystem fs;
    private final HandlerKind kind;
    private final Backing backing;
    private final long seed;
    private final Random rnd;
    private final Path file;
    private final Path filler;
    /** The largest size the region grows to. */
    private final long maxSize;
    private final byte[] shadow;
    private final Deque<String> log = new ArrayDeque<>();

    private HandlerKind.Setup setup;
    private MappedRegion region;
    private long size;
    private int op;
    private long noSpace;
    private long refused;
    private long written;

    StorageFsx(SmallFilesystem fs, HandlerKind kind, Backing backing, long seed, long maxSize) {
        this.fs = fs;
        this.kind = kind;
        this.backing = backing;
        this.seed = seed;
        this.rnd = new Random(seed);
        this.file = fs.dir().resolve("fsx.dat");
        this.filler = fs.dir().resolve("filler");
        this.maxSize = maxSize;
        this.shadow = new byte[Math.toIntExact(maxSize)];
    }

    /**
     * Runs {@code ops} operations; returns a line that says what happened (writes, refusals, no-space
     * failures), for the test's output.
     */
    String run(int ops) throws Exception {
        setup = kind.open();
        try {
            size = PAGE * (1 + rnd.nextInt(64));
            region = open();
            refill();
            for (op = 0; op < ops; op++) {
                step();
                if (op % FULL_CHECK_EVERY == 0) {
                    checkAll();
                }
            }
            checkAll();
            closeAndCheckFile();
        } catch (Throwable t) {
            throw new AssertionError("storage fsx failed: seed " + seed + ", " + kind + " on " + backing
                    + ", operation " + op + "; the last operations, newest last:\n  " + String.join("\n  ", log), t);
        } finally {
            if (region != null && !region.isClosed()) {
                region.close();
            }
            setup.close();
        }
        return String.format("storage fsx seed %d, %s on %s: %d operations, %d bytes written, %d no-space"
                + " failures, %d no-wait refusals", seed, kind, backing, ops, written, noSpace, refused);
    }

    private MappedRegion open() throws IOException {
        return MappedRegion.builder(file).size(size).pageSize(PAGE).backing(backing).handler(setup.handler).open();
    }

    private void note(String what) {
        if (log.size() == LOG_TAIL) {
            log.removeFirst();
        }
        log.addLast(op + ": " + what + " (size " + size + ")");
    }

    private void step() throws Exception {
        int dice = rnd.nextInt(100);
        if (dice < 30) {
            put();
        } else if (dice < 45) {
            span();
        } else if (dice < 52) {
            putLong();
        } else if (dice < 60) {
            flush();
        } else if (dice < 67) {
            shrink();
        } else if (dice < 77) {
            grow();
        } else if (dice < 84) {
            punch();
        } else if (dice < 88) {
            note("close and reopen");
            closeAndCheckFile();
            region = open();
        } else if (dice < 94) {
            refill();
        } else {
            read();
        }
    }

    /** A put of 1 byte to three pages, sometimes reaching past the end. */
    private void put() {
        long offset = (long) (rnd.nextDouble() * (size + PAGE));
        int length = 1 + rnd.nextInt(3 * PAGE);
        byte[] data = bytes(length);
        note("put " + offset + "+" + length);
        if (offset + length > size) {
            assertThrows(OutOfRegionException.class, () -> region.put(offset, data));
            checkRange(offset, length);
            return;
        }
        try {
            region.put(offset, data);
            acknowledge(offset, data);
        } catch (NoSpaceException e) {
            failedWrite(offset, length, e);
        }
    }

    /** A span over 1 to 3 pages, blocking or no-wait, filled with random bytes. */
    private void span() {
        if (size == 0) {
            return;
        }
        long offset = (long) (rnd.nextDouble() * size);
        int length = (int) Math.min(size - offset, 1 + rnd.nextInt(3 * PAGE));
        boolean noWait = rnd.nextBoolean();
        byte[] data = bytes(length);
        note((noWait ? "tryWrite " : "write ") + offset + "+" + length);
        WriteSpan span;
        try {
            span = noWait ? region.tryWrite(offset, length) : region.write(offset, length);
        } catch (NoSpaceException e) {
            failedWrite(offset, length, e);
            return;
        }
        if (span == null) {
            refused++;
            checkRange(offset, length);
            return;
        }
        try (span) {
            MemorySegment.copy(MemorySegment.ofArray(data), 0, span.segment(), 0, length);
        }
        acknowledge(offset, data);
    }

    private void putLong() {
        if (size < Long.BYTES) {
            return;
        }
        long offset = (long) (rnd.nextDouble() * (size - Long.BYTES + 1));
        long value = rnd.nextLong() | 1;
        note("putLong " + offset);
        try {
            region.putLong(offset, value);
            acknowledge(offset, ByteBuffer.allocate(Long.BYTES).order(ByteOrder.LITTLE_ENDIAN) // the builder's default
                    .putLong(0, value).array());
        } catch (NoSpaceException e) {
            failedWrite(offset, Long.BYTES, e);
        }
    }

    private void flush() throws IOException {
        if (rnd.nextBoolean() || size == 0) {
            note("flush");
            region.flush();
        } else {
            long offset = (long) (rnd.nextDouble() * size);
            long length = (long) (rnd.nextDouble() * (size - offset));
            note("flush " + offset + "+" + length);
            region.flush(offset, length);
        }
    }

    private void shrink() throws IOException {
        long newSize = (long) (rnd.nextDouble() * size);
        if (rnd.nextBoolean()) {
            newSize &= -PAGE;
        }
        note("truncate to " + newSize);
        region.truncate(newSize);
        Arrays.fill(shadow, (int) newSize, (int) size, (byte) 0);
        size = newSize;
        assertEquals(size, region.size());
    }

    private void grow() throws IOException {
        long newSize = size + (long) (rnd.nextDouble() * (maxSize - size));
        if (rnd.nextBoolean()) {
            newSize = Math.min(maxSize, (newSize + PAGE - 1) & -PAGE);
        }
        note("grow to " + newSize);
        try {
            region.grow(newSize);
        } catch (IOException e) {
            if (!Errno.isNoSpace(e)) {
                throw e;
            }
            noSpace++; // the file could not be extended (its metadata): nothing changed
            assertEquals(size, region.size());
            return;
        }
        size = newSize;
        assertEquals(size, region.size());
    }

    private void punch() throws IOException {
        long pages = (size + PAGE - 1) / PAGE;
        if (pages == 0) {
            return;
        }
        long first = (long) (rnd.nextDouble() * pages);
        long count = 1 + (long) (rnd.nextDouble() * Math.min(8, pages - first));
        long offset = first * PAGE;
        long length = Math.min(size, (first + count) * PAGE) - offset;
        note("punchHole " + offset + "+" + length);
        try {
            region.punchHole(offset, length);
        } catch (IOException e) {
            if (!Errno.isNoSpace(e)) {
                throw e;
            }
            // A hole that needs metadata the full disk lacks: bytes of the range may read as zero already,
            // page by page; the pages stay as they were otherwise.
            noSpace++;
            byte[] now = new byte[(int) length];
            read(now, offset);
            for (int p = 0; p < length; p += PAGE) {
                int n = (int) Math.min(PAGE, length - p);
                boolean zero = true;
                for (int i = 0; i < n; i++) {
                    zero &= now[p + i] == 0;
                }
                if (zero) {
                    Arrays.fill(shadow, (int) offset + p, (int) offset + p + n, (byte) 0);
                }
            }
            checkRange(offset, length);
            return;
        }
        Arrays.fill(shadow, (int) offset, (int) (offset + length), (byte) 0);
        checkRange(offset, length);
    }

    private void read() {
        if (size == 0) {
            return;
        }
        long offset = (long) (rnd.nextDouble() * size);
        int length = (int) Math.min(size - offset, 1 + rnd.nextInt(4 * PAGE));
        note("get " + offset + "+" + length);
        checkRange(offset, length);
    }

    /** Gives the filler's space back, then fills the disk again but for 0 to 160 pages. */
    private void refill() throws IOException {
        int free = rnd.nextInt(161);
        note("refill, leaving " + free + " pages");
        Files.deleteIfExists(filler);
        fs.fillLeaving(filler, free);
    }

    private void acknowledge(long offset, byte[] data) {
        System.arraycopy(data, 0, shadow, (int) offset, data.length);
        written += data.length;
        checkRange(offset, data.length);
    }

    /** A write that reported no space: it must have changed nothing. */
    private void failedWrite(long offset, long length, NoSpaceException e) {
        noSpace++;
        if (!e.getMessage().contains(file.toString())) {
            fail("a NoSpaceException that does not name the file: " + e.getMessage());
        }
        checkRange(offset, length);
    }

    private void checkRange(long offset, long length) {
        long end = Math.min(size, offset + length);
        if (end <= offset) {
            return;
        }
        byte[] now = new byte[(int) (end - offset)];
        read(now, offset);
        compare(now, offset, "the region");
    }

    private void checkAll() {
        checkRange(0, size);
    }

    private void compare(byte[] actual, long offset, String where) {
        for (int i = 0; i < actual.length; i++) {
            if (actual[i] != shadow[(int) offset + i]) {
                fail(where + " differs from the shadow at byte " + (offset + i) + " (page " + (offset + i) / PAGE
                        + "): " + actual[i] + " where " + shadow[(int) offset + i] + " was written");
            }
        }
    }

    /**
     * Reads through the region, in one of its ways. On tmpfs a read fault on a hole allocates a page, so
     * this read of pages never written on a full tmpfs died with SIGBUS before the region read those
     * through its descriptor.
     */
    private void read(byte[] bytes, long offset) {
        switch (bytes.length <= 64 ? rnd.nextInt(3) : rnd.nextInt(2)) {
            case 0 -> region.get(offset, bytes, 0, bytes.length);
            case 1 -> region.get(offset, MemorySegment.ofArray(bytes));
            default -> { // a byte at a time: short reads only
                for (int i = 0; i < bytes.length; i++) {
                    bytes[i] = region.getByte(offset + i);
                }
            }
        }
    }

    /** Reads {@code [offset, offset + bytes.length)} of the file through a channel of its own (pread). */
    private void readFile(byte[] bytes, long offset) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining() && ch.read(b, offset + b.position()) > 0) {
                // reads the whole range
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private void closeAndCheckFile() throws IOException {
        region.close();
        assertEquals(size, Files.size(file), "the file's size after close");
        byte[] bytes = new byte[(int) size];
        readFile(bytes, 0);
        compare(bytes, 0, "the file after close");
    }

    private byte[] bytes(int length) {
        byte[] b = new byte[length];
        rnd.nextBytes(b);
        return b;
    }
}
