package dev.mkwrite;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.reflect.InvocationTargetException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The api finds its implementation like SLF4J finds its provider, and says clearly when it cannot. */
class ProvidersTest {

    @Test
    void shouldFailWithAClearMessageWhenNoImplementationIsOnThePath() {
        // The api module's tests run without mkwrite-impl.
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> MappedRegion.builder(Path.of("x"))
                .handler(WriteFaultHandler.none()).open());
        assertTrue(e.getMessage().contains("dev.mkwrite:mkwrite-impl"), e.getMessage());
    }

    @Test
    void shouldRequireAHandlerBeforeLookingForAnImplementation() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> MappedRegion.builder(Path.of("x"))
                .open());
        assertTrue(e.getMessage().contains("WriteFaultHandler.none()"), e.getMessage());
    }

    @Test
    void shouldPickTheNamedProviderOrTheFirst() {
        MappedRegionProvider a = new ProviderA();
        MappedRegionProvider b = new ProviderB();
        assertSame(b, Providers.select(List.of(a, b), ProviderB.class.getName()));
        assertSame(a, Providers.select(List.of(a, b), null));
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> Providers.select(List.of(a), "no.such.Provider"));
        assertTrue(e.getMessage().contains("no.such.Provider"), e.getMessage());
        assertEquals(Providers.NO_PROVIDER,
                assertThrows(IllegalStateException.class, () -> Providers.select(List.of(), null)).getMessage());
    }

    @Test
    void shouldReportAProviderThatFailsToLoadAtEveryUseInsteadOfFailingTheLookup(@TempDir Path dir) throws Exception {
        // A service file naming a class that is not there: ServiceLoader throws ServiceConfigurationError.
        Path services = Files.createDirectories(dir.resolve("META-INF/services"));
        Files.writeString(services.resolve(MappedRegionProvider.class.getName()), "no.such.BrokenProvider\n");
        try (URLClassLoader loader = new URLClassLoader(new URL[] {dir.toUri().toURL()}, getClass().getClassLoader())) {
            MappedRegionProvider chosen = Providers.choose(loader, null);
            for (int use = 0; use < 2; use++) {
                IllegalStateException e = assertThrows(IllegalStateException.class,
                        () -> chosen.open(MappedRegion.builder(Path.of("x")).handler(WriteFaultHandler.none())));
                assertTrue(e.getMessage().contains("no.such.BrokenProvider") && e.getMessage().contains("failed to load"),
                        e.getMessage());
            }
        }
        assertNull(Providers.bundled(getClass().getClassLoader()), "the api's tests run without mkwrite-impl");
        String why = Providers.bundledFailure(new InvocationTargetException(new IllegalStateException("boom")));
        assertTrue(why.contains(Providers.BUNDLED) && why.contains("boom"), why);
    }

    @Test
    void shouldValidateBuilderArguments() {
        RegionBuilder b = MappedRegion.builder(Path.of("x"));
        assertThrows(IllegalArgumentException.class, () -> b.size(-1));
        assertThrows(IllegalArgumentException.class, () -> b.pageSize(0));
        assertThrows(IllegalArgumentException.class, () -> b.pageSize(6000));
        assertThrows(IllegalArgumentException.class, () -> b.pageSize(1 << 31));
        assertThrows(IllegalArgumentException.class, () -> b.dirtyLimit(-1));
        assertThrows(NullPointerException.class, () -> b.handler(null));
        assertEquals(Backing.MEMORY_SEGMENT, b.backing());
        assertEquals(-1, b.size());
    }

    @Test
    void shouldNameFileOffsetAndPageInEveryFaultException() {
        WriteFaultException e = new NoSpaceException("disk full", Path.of("/data/wal"), 8192, 2);
        assertEquals("disk full [file /data/wal, offset 8192, page 2]", e.getMessage());
        assertEquals(2, e.page());
        assertEquals(8192, e.offset());
        assertEquals(Path.of("/data/wal"), e.path());
    }

    private static final class ProviderA implements MappedRegionProvider {
        @Override
        public MappedRegion open(RegionBuilder spec) {
            throw new UnsupportedOperationException();
        }
    }

    private static final class ProviderB implements MappedRegionProvider {
        @Override
        public MappedRegion open(RegionBuilder spec) {
            throw new UnsupportedOperationException();
        }
    }
}
