package dev.mkwrite.impl.storage;

import dev.mkwrite.impl.storage.probe.NativeAccessProbe;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Without {@code --enable-native-access} every handler falls back to zero-fill, the log names the exact
 * flag once, and the JVM prints no warning; with it, fallocate and populate are used. Child JVMs, since
 * native access is fixed when a JVM starts.
 */
class NativeAccessFallbackTest {

    @Test
    void shouldFallBackToZeroFillOnTheClassPathAndNameTheFlagOnce(@TempDir Path dir) throws Exception {
        ChildJvm.Result r = ChildJvm.onClassPath(List.of(), NativeAccessProbe.class, dir.toString());
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.stdout().contains("nativeAccess=false"), r.toString());
        assertTrue(r.stdout().contains("bestAvailable=ZERO_FILL"), r.toString());
        assertTrue(r.stdout().contains("fallocate=ZERO_FILL"), r.toString());
        assertTrue(r.stdout().contains("populate=ZERO_FILL"), r.toString());
        assertTrue(r.stdout().contains("punchHole=1,2,0,0,0,0,7,8"), r.toString());
        assertTrue(r.stdout().contains("done"), r.toString());
        assertEquals(1, count(r.stderr(), "--enable-native-access=ALL-UNNAMED"), r.toString());
        assertNoJvmWarning(r);
    }

    @Test
    void shouldFallBackOnTheModulePathAndNameTheModulesFlag(@TempDir Path dir) throws Exception {
        ChildJvm.Result r = ChildJvm.onModulePath(List.of(), NativeAccessProbe.class, dir.toString());
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.stdout().contains("bestAvailable=ZERO_FILL"), r.toString());
        assertTrue(r.stdout().contains("flag=--enable-native-access=dev.mkwrite.impl"), r.toString());
        assertEquals(1, count(r.stderr(), "--enable-native-access=dev.mkwrite.impl"), r.toString());
        assertNoJvmWarning(r);
    }

    @Test
    void shouldUseFallocateAndPopulateWhenNativeAccessIsEnabled(@TempDir Path dir) throws Exception {
        ChildJvm.Result r = ChildJvm.onClassPath(List.of("--enable-native-access=ALL-UNNAMED"),
                NativeAccessProbe.class, dir.toString());
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.stdout().contains("nativeAccess=true"), r.toString());
        assertTrue(r.stdout().contains("bestAvailable=FALLOCATE"), r.toString());
        assertTrue(r.stdout().contains("populate=NONE"), r.toString());
        assertTrue(r.stdout().contains("punchHole=1,2,0,0,0,0,7,8"), r.toString());
        assertFalse(r.stderr().contains("enable-native-access"), r.toString());
        assertNoJvmWarning(r);
    }

    @Test
    void shouldUseFallocateWhenNativeAccessIsEnabledForTheModule(@TempDir Path dir) throws Exception {
        ChildJvm.Result r = ChildJvm.onModulePath(List.of("--enable-native-access=dev.mkwrite.impl"),
                NativeAccessProbe.class, dir.toString());
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.stdout().contains("bestAvailable=FALLOCATE"), r.toString());
        assertNoJvmWarning(r);
    }

    private static void assertNoJvmWarning(ChildJvm.Result r) {
        for (String line : r.stderr().split("\n")) {
            assertFalse(line.startsWith("WARNING"), "the JVM warned: " + line + "\n" + r);
        }
    }

    private static int count(String text, String what) {
        int n = 0;
        for (int i = text.indexOf(what); i >= 0; i = text.indexOf(what, i + 1)) {
            n++;
        }
        return n;
    }
}
