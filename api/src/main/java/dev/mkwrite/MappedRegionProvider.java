package dev.mkwrite;

import java.io.IOException;

/**
 * The service an mkwrite implementation provides. Applications do not call it; they use
 * {@link MappedRegion#builder} and {@link WriteFaultHandlers}. An implementation declares it in its {@code module-info}
 * ({@code provides dev.mkwrite.MappedRegionProvider with ...}) and in
 * {@code META-INF/services/dev.mkwrite.MappedRegionProvider} for the class path.
 *
 * <p>When several providers are present, the system property {@value #PROVIDER_PROPERTY} names the class
 * to use. Without it, when mkwrite-api is on the class path, mkwrite's own implementation
 * ({@code dev.mkwrite.impl.MkwriteProvider}) is used if it is there too, with no search of the other jars
 * (a search costs a cold JVM about 13 ms), so another provider on the class path is used only when the
 * property names it; otherwise, and on the module path, the first one found is used and a warning names the
 * others. A provider that fails to load is reported at every use.
 */
public interface MappedRegionProvider {

    /** System property naming the provider class to use when several are present. */
    String PROVIDER_PROPERTY = "dev.mkwrite.provider";

    /**
     * Opens a handle on the region of {@code spec}'s file: a new region, or the one already open over the
     * same file in this JVM, under the rules of {@link MappedRegion} (<i>Opening a file more than once</i>).
     *
     * @param spec what to open; the handler is not null
     * @return a handle on the open region
     * @throws IOException           if the file cannot be opened, extended or mapped
     * @throws IllegalStateException if the file is open in this JVM with other settings
     */
    MappedRegion open(RegionBuilder spec) throws IOException;

    // ---------------------------------------------------------------------------------------------
    // The built-in handlers behind WriteFaultHandlers. An implementation without them keeps the
    // defaults, which say so.

    /**
     * Backs {@link WriteFaultHandlers#bestAvailable(int)}.
     *
     * @param granule the allocation unit
     * @return a new handler
     * @throws UnsupportedOperationException if this implementation has no built-in storage handlers
     */
    default WriteFaultHandlers.Storage bestAvailable(int granule) {
        throw noStorageHandlers("bestAvailable");
    }

    /**
     * Backs {@link WriteFaultHandlers#fallocate(int)}.
     *
     * @param granule the allocation unit
     * @return a new handler
     * @throws UnsupportedOperationException if this implementation has no built-in storage handlers
     */
    default WriteFaultHandlers.Storage fallocate(int granule) {
        throw noStorageHandlers("fallocate");
    }

    /**
     * Backs {@link WriteFaultHandlers#populate()}.
     *
     * @return a new handler
     * @throws UnsupportedOperationException if this implementation has no built-in storage handlers
     */
    default WriteFaultHandlers.Storage populate() {
        throw noStorageHandlers("populate");
    }

    /**
     * Backs {@link WriteFaultHandlers#zeroFill(int)}.
     *
     * @param granule the allocation unit
     * @return a new handler
     * @throws UnsupportedOperationException if this implementation has no built-in storage handlers
     */
    default WriteFaultHandlers.Storage zeroFill(int granule) {
        throw noStorageHandlers("zeroFill");
    }

    /**
     * Backs {@link WriteFaultHandlers#chain(WriteFaultHandler, WriteFaultHandler...)}.
     *
     * @param first the first handler, not null
     * @param more  the handlers after it, none null; the implementation may keep the array
     * @return the chained handler
     * @throws UnsupportedOperationException if this implementation has no built-in storage handlers
     */
    default WriteFaultHandler chain(WriteFaultHandler first, WriteFaultHandler[] more) {
        throw noStorageHandlers("chain");
    }

    /**
     * Backs {@link WriteFaultHandlers#nativeAccessAvailable()}.
     *
     * @return whether this implementation makes native calls in this JVM; {@code false} by default
     */
    default boolean nativeAccessAvailable() {
        return false;
    }

    /**
     * Backs {@link WriteFaultHandlers#nativeAccessFlag()}.
     *
     * @return the flag that enables native access for this implementation; by default the class path's
     */
    default String nativeAccessFlag() {
        return "--enable-native-access=ALL-UNNAMED";
    }

    private UnsupportedOperationException noStorageHandlers(String factory) {
        return new UnsupportedOperationException("the mkwrite implementation " + getClass().getName()
                + " has no built-in storage handlers (WriteFaultHandlers." + factory + "); write a"
                + " WriteFaultHandler, or use dev.mkwrite:mkwrite-impl");
    }
}
