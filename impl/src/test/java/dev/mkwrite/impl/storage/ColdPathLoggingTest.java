package dev.mkwrite.impl.storage;

import dev.mkwrite.MappedRegion;
import dev.mkwrite.WriteSpan;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A successful open and first write log nothing, so they must not start SLF4J: its first {@code getLogger}
 * costs a cold JVM tens of milliseconds (row 8 of docs/BENCHMARKS.md), which every mkwrite logger defers by
 * being looked up on first use. A child JVM with {@code -verbose:class} opens a region with the fallocate
 * handler, writes its first page, and says so; no {@code org.slf4j} class may load before that line.
 */
class ColdPathLoggingTest {

    static final String WRITTEN = "mkwrite-cold-path: written";

    @TempDir
    Path dir;

    @Test
    void shouldNotStartSlf4jBeforeTheFirstWriteReturns() throws Exception {
        ChildJvm.Result r = ChildJvm.onClassPath(List.of("--enable-native-access=ALL-UNNAMED", "-verbose:class"),
                FirstWrite.class, dir.resolve("cold.dat").toString());
        assertEquals(0, r.exit(), r::toString);
        List<String> lines = r.stdout().lines().toList();
        int written = lines.indexOf(WRITTEN);
        assertTrue(written > 0, () -> "the child never wrote: " + r);
        List<String> before = lines.subList(0, written);
        assertTrue(before.stream().anyMatch(l -> l.contains(" dev.mkwrite.impl.Region ")),
                "-verbose:class must list the region's class, or this test sees nothing");
        List<String> slf4j = before.stream().filter(l -> l.contains(" org.slf4j.")).toList();
        assertTrue(slf4j.isEmpty(), () -> "SLF4J started on the way to the first write: " + slf4j);
    }

    /** The child: open, write one page, say so, and halt before anything else runs. */
    public static final class FirstWrite {
        public static void main(String[] args) throws Exception {
            StorageHandler storage = StorageHandlers.fallocate(1 << 20);
            MappedRegion region = MappedRegion.builder(Path.of(args[0])).size(1 << 22).handler(storage).open();
            try (WriteSpan span = region.write(0, 4096)) {
                span.segment().copyFrom(MemorySegment.ofArray(new byte[4096]));
            }
            System.out.println(WRITTEN);
            System.out.flush();
            Runtime.getRuntime().halt(0);
        }
    }
}
