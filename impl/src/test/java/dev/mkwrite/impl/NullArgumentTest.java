package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.RegionWriter;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.WriteFaultHandlers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A null argument: a {@link NullPointerException} that names the file, the offset and the page (the
 * JDK's own says only which variable), with nothing written, pinned or read, and the region usable.
 * Every reference argument of the region's and the writer's reads and writes, through the region itself
 * and through a second handle on it.
 */
class NullArgumentTest {

    static final int PAGE = 4096;

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldNameTheFileOffsetAndPageOfEveryNullArgument(Backing backing) throws IOException {
        Path file = dir.resolve("nulls.dat");
        try (MappedRegion region = MappedRegion.builder(file).size(4L * PAGE).pageSize(PAGE).backing(backing)
                .handler(WriteFaultHandler.none()).open();
             MappedRegion handle = MappedRegion.builder(file).pageSize(PAGE).backing(backing)
                     .handler(WriteFaultHandler.none()).open(); // the same instance: a handle on the region
             RegionWriter writer = region.writer()) {
            region.putLong(PAGE + 8, 42); // page 1 WRITABLE: the fast paths see the nulls
            long at = PAGE + 16;
            for (MappedRegion r : new MappedRegion[] {region, handle}) {
                Map<String, Executable> calls = new LinkedHashMap<>();
                calls.put("put(byte[], int, int)", () -> r.put(at, null, 0, 8));
                calls.put("put(byte[])", () -> r.put(at, (byte[]) null));
                calls.put("put(MemorySegment)", () -> r.put(at, (MemorySegment) null));
                calls.put("put(ByteBuffer)", () -> r.put(at, (ByteBuffer) null));
                calls.put("get(byte[], int, int)", () -> r.get(at, null, 0, 8));
                calls.put("get(MemorySegment)", () -> r.get(at, (MemorySegment) null));
                calls.put("tryWrite(WouldBlock)", () -> r.tryWrite(at, 8, null));
                calls.put("writer put(byte[], int, int)", () -> writer.put(at, null, 0, 8));
                calls.put("writer put(byte[])", () -> writer.put(at, (byte[]) null));
                calls.put("writer put(MemorySegment)", () -> writer.put(at, (MemorySegment) null));
                for (Map.Entry<String, Executable> call : calls.entrySet()) {
                    NullPointerException e = assertThrows(NullPointerException.class, call.getValue(), call.getKey());
                    String m = String.valueOf(e.getMessage());
                    assertTrue(m.contains(file.toString()) && m.contains("offset " + at) && m.contains("page 1"),
                            call.getKey() + ": " + m);
                }
                NullPointerException e = assertThrows(NullPointerException.class, () -> r.dirtyRanges(null));
                assertTrue(String.valueOf(e.getMessage()).contains(file.toString()), e.getMessage());
            }
            assertEquals(42, region.getLong(PAGE + 8), "the region reads on");
            assertEquals(0, region.getLong(at), "nothing was written");
            writer.putLong(at, 7); // no pin was left behind: the writer, a flush and a truncate go on
            region.flush();
            region.truncate(2L * PAGE);
            assertEquals(7, handle.getLong(at));
        }
    }

    @Test
    void shouldNameTheFileOfANullBuilderSetting() {
        Path file = dir.resolve("builder.dat");
        for (Executable call : new Executable[] {
                () -> MappedRegion.builder(file).backing(null),
                () -> MappedRegion.builder(file).handler(null),
                () -> MappedRegion.builder(file).byteOrder(null)}) {
            NullPointerException e = assertThrows(NullPointerException.class, call);
            assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
        }
        assertThrows(NullPointerException.class, () -> WriteFaultHandlers.chain(WriteFaultHandler.none(),
                (WriteFaultHandler[]) null));
        assertFalse(Files.exists(file));
    }

    /** The provider's open called directly without a handler (the builder's open refuses it first): no file made. */
    @Test
    void shouldRefuseAProviderOpenWithoutAHandlerBeforeMakingTheFile() {
        Path file = dir.resolve("no-handler.dat");
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> new MkwriteProvider().open(MappedRegion.builder(file).size(PAGE)));
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
        assertFalse(Files.exists(file), "the open made the file");
    }
}
