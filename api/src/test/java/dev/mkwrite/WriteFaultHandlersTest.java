package dev.mkwrite;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.Callable;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * WriteFaultHandlers reaches the implementation's built-in handlers through the provider; without one, or
 * with one that has none, it says so. (The api module's tests run without mkwrite-impl; the handlers
 * themselves are tested through the api in mkwrite-impl's tests.)
 */
class WriteFaultHandlersTest {

    @Test
    void shouldReportTheMissingImplementationFromEveryFactory() {
        List<Callable<?>> factories = List.of(
                () -> WriteFaultHandlers.bestAvailable(1 << 20),
                () -> WriteFaultHandlers.fallocate(1 << 20),
                WriteFaultHandlers::populate,
                () -> WriteFaultHandlers.zeroFill(1 << 20),
                () -> WriteFaultHandlers.chain(WriteFaultHandler.none()),
                WriteFaultHandlers::nativeAccessAvailable,
                WriteFaultHandlers::nativeAccessFlag);
        for (Callable<?> factory : factories) {
            IllegalStateException e = assertThrows(IllegalStateException.class, factory::call);
            assertEquals(Providers.NO_PROVIDER, e.getMessage());
        }
    }

    @Test
    void shouldSayThatAProviderWithoutStorageHandlersHasNone() {
        MappedRegionProvider bare = spec -> {
            throw new UnsupportedOperationException();
        };
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                () -> bare.bestAvailable(4096));
        assertTrue(e.getMessage().contains(bare.getClass().getName()), e.getMessage());
        assertTrue(e.getMessage().contains("WriteFaultHandlers.bestAvailable"), e.getMessage());
        assertThrows(UnsupportedOperationException.class, () -> bare.chain(WriteFaultHandler.none(),
                new WriteFaultHandler[0]));
        assertFalse(bare.nativeAccessAvailable());
        assertEquals("--enable-native-access=ALL-UNNAMED", bare.nativeAccessFlag());
    }

    @Test
    void shouldRefuseANullHandlerInAChainBeforeLookingForAnImplementation() {
        assertThrows(NullPointerException.class, () -> WriteFaultHandlers.chain(null));
        NullPointerException e = assertThrows(NullPointerException.class,
                () -> WriteFaultHandlers.chain(WriteFaultHandler.none(), WriteFaultHandler.none(), null));
        assertEquals("handler 2", e.getMessage());
    }
}
