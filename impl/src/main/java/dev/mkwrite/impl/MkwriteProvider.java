package dev.mkwrite.impl;

import dev.mkwrite.MappedRegion;
import dev.mkwrite.MappedRegionProvider;
import dev.mkwrite.RegionBuilder;
import dev.mkwrite.WriteFaultHandler;
import dev.mkwrite.WriteFaultHandlers;
import dev.mkwrite.impl.storage.StorageHandlers;

import java.io.IOException;

/**
 * The {@link MappedRegionProvider} of this module: the api constructs it by name when both are on the class
 * path, and {@link java.util.ServiceLoader} finds it otherwise. Opens go
 * through the {@link RegionRegistry}, so a file has one region per JVM; the api's built-in handlers
 * ({@link WriteFaultHandlers}) are those of {@link StorageHandlers}.
 */
public final class MkwriteProvider implements MappedRegionProvider {

    /** Called by the api's lookup, or by {@link java.util.ServiceLoader}. */
    public MkwriteProvider() {
    }

    @Override
    public MappedRegion open(RegionBuilder spec) throws IOException {
        return RegionRegistry.open(spec);
    }

    @Override
    public WriteFaultHandlers.Storage bestAvailable(int granule) {
        return new StorageAdapter(StorageHandlers.bestAvailable(granule));
    }

    @Override
    public WriteFaultHandlers.Storage fallocate(int granule) {
        return new StorageAdapter(StorageHandlers.fallocate(granule));
    }

    @Override
    public WriteFaultHandlers.Storage populate() {
        return new StorageAdapter(StorageHandlers.populate());
    }

    @Override
    public WriteFaultHandlers.Storage zeroFill(int granule) {
        return new StorageAdapter(StorageHandlers.zeroFill(granule));
    }

    @Override
    public WriteFaultHandler chain(WriteFaultHandler first, WriteFaultHandler[] more) {
        return StorageHandlers.chain(first, more);
    }

    @Override
    public boolean nativeAccessAvailable() {
        return StorageHandlers.nativeAccessAvailable();
    }

    @Override
    public String nativeAccessFlag() {
        return StorageHandlers.nativeAccessFlag();
    }
}
