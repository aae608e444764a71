package dev.mkwrite.impl.storage;

import dev.mkwrite.MappedRegion;
import dev.mkwrite.MappedRegionProvider;
import dev.mkwrite.WriteSpan;
import dev.mkwrite.impl.MkwriteProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A successful open and first write log nothing, so they must not start SLF4J: its first {@code getLogger}
 * costs a cold JVM tens of milliseconds (row 8 of docs/BENCHMARKS.md), which every mkwrite logger defers by
 * being looked up on first use. A child JVM with {@code -verbose:class} opens a region with the fallocate
 * handler, writes its first page, and says so; no {@code org.slf4j} class may load before that line.
 *
 * <p>Likewise the api finds this implementation by name on the class path, without {@link java.util.ServiceLoader}'s
 * scan of every jar (about 13 ms cold): no class-path lookup may load before the first write either.
 */
class ColdPathLoggingTest {

    static final String WRITTEN = "mkwrite-cold-path: written";

    @TempDir
    Path dir;

    @Test
    void shouldNotStartSlf4jBeforeTheFirstWriteReturns() throws Exception {
        List<String> before = classesBeforeTheFirstWrite();
        List<String> slf4j = before.stream().filter(l -> l.contains(" org.slf4j.")).toList();
        assertTrue(slf4j.isEmpty(), () -> "SLF4J started on the way to the first write: " + slf4j);
    }

    @Test
    void shouldNotScanTheClassPathForAProviderBeforeTheFirstWriteReturns() throws Exception {
        List<String> before = classesBeforeTheFirstWrite();
        List<String> scan = before.stream().filter(l -> l.contains(" java.util.ServiceLoader$LazyClassPathLookupIterator ")
                || l.contains(" java.util.ServiceLoader$ProviderImpl ")).toList();
        assertTrue(scan.isEmpty(), () -> "the api searched the class path for its provider: " + scan);
    }

    @Test
    void shouldStillSearchWhenThePropertyNamesAProvider() throws Exception {
        // The shortcut is for the default only: a named provider is looked for among all ServiceLoader finds.
        ChildJvm.Result r = ChildJvm.onClassPath(List.of("--enable-native-access=ALL-UNNAMED",
                "-D" + MappedRegionProvider.PROVIDER_PROPERTY + "=no.such.Provider"),
                FirstWrite.class, dir.resolve("named.dat").toString());
        assertNotEquals(0, r.exit(), r::toString);
        assertTrue(r.stderr().contains("no.such.Provider") && r.stderr().contains(MkwriteProvider.class.getName()),
                r::toString);
    }

    /** The child's {@code -verbose:class} lines before it said it wrote, after checking they list the region. */
    private List<String> classesBeforeTheFirstWrite() throws Exception {
        ChildJvm.Result r = ChildJvm.onClassPath(List.of("--enable-native-access=ALL-UNNAMED", "-verbose:class"),
                FirstWrite.class, dir.resolve("cold.dat").toString());
        assertEquals(0, r.exit(), r::toString);
        List<String> lines = r.stdout().lines().toList();
        int written = lines.indexOf(WRITTEN);
        assertTrue(written > 0, () -> "the child never wrote: " + r);
        List<String> before = lines.subList(0, written);
        assertTrue(before.stream().anyMatch(l -> l.contains(" dev.mkwrite.impl.Region ")),
                "-verbose:class must list the region's class, or this test sees nothing");
        return before;
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
