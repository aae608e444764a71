package dev.mkwrite.examples.readme;

import dev.mkwrite.MappedRegion;
import dev.mkwrite.NoSpaceException;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.WriteFaultHandlers;
import dev.mkwrite.WriteSpan;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static java.nio.charset.StandardCharsets.UTF_8;

/** Records appended to a mapped file: each is its length, then its bytes; a zero length ends them. */
public final class RecordStore implements AutoCloseable {

    private static final ValueLayout.OfInt LENGTH =
            ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final MappedRegion region;
    private long end;                                        // where the next record goes

    private RecordStore(MappedRegion region, long end) {
        this.region = region;
        this.end = end;
    }

    /** Opens or creates the store in {@code file}; {@code handler} prepares each page for its first write. */
    public static RecordStore open(Path file, WriteFaultHandler handler) throws IOException {
        MappedRegion region = MappedRegion.builder(file)
                .size(1 << 20)                               // sparse; a longer file keeps its size
                .handler(handler)
                .open();
        long end = 0;
        int length;
        while (end + 4 <= region.size() && (length = region.getInt(end)) > 0) {
            end += 4 + length;
        }
        return new RecordStore(region, end);
    }

    /** Appends a record; on a full disk throws {@link NoSpaceException}, and nothing of the record lands. */
    public void append(byte[] record) throws IOException {
        if (record.length == 0) {
            throw new IllegalArgumentException("empty record");
        }
        long next = end + 4 + record.length;
        if (next > region.size()) {
            region.grow(Math.max(2 * region.size(), next));
        }
        try (WriteSpan span = region.write(end, 4 + record.length)) {     // prepares the pages, pins
            MemorySegment.copy(record, 0, span.segment(), ValueLayout.JAVA_BYTE, 4, record.length);
            span.segment().set(LENGTH, 0, record.length);
        }                                                                  // unpins
        end = next;
    }

    /** Forces the records appended since the last flush to storage: exactly their dirty pages. */
    public void flush() throws IOException {
        region.flush();
    }

    /** Reads every record back. */
    public List<byte[]> readAll() {
        List<byte[]> records = new ArrayList<>();
        for (long at = 0; at < end; ) {
            byte[] record = new byte[region.getInt(at)];
            region.get(at + 4, record, 0, record.length);
            records.add(record);
            at += 4 + record.length;
        }
        return records;
    }

    @Override
    public void close() throws IOException {
        region.close();                                      // writes back what is still dirty, unmaps
    }

    /** Appends two records to {@code records.dat} (or the file given), flushes, reopens, reads all back. */
    public static void main(String[] args) throws IOException {
        Path file = Path.of(args.length > 0 ? args[0] : "records.dat");
        // fallocate(2) of each 1 MiB granule before its first write; zero-fill without native access.
        // One handler serves every region; close it after them.
        try (WriteFaultHandlers.Storage storage = WriteFaultHandlers.fallocate(1 << 20)) {
            try (RecordStore store = RecordStore.open(file, storage)) {
                store.append("hello".getBytes(UTF_8));
                store.append("world".getBytes(UTF_8));
                store.flush();
            } catch (NoSpaceException e) {
                System.err.println("disk full, that record was not written: " + e.getMessage());
            }
            try (RecordStore store = RecordStore.open(file, storage)) {
                for (byte[] record : store.readAll()) {
                    System.out.println(new String(record, UTF_8));
                }
            }
        }
    }
}
