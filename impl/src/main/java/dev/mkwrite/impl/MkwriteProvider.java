package dev.mkwrite.impl;

import dev.mkwrite.MappedRegion;
import dev.mkwrite.MappedRegionProvider;
import dev.mkwrite.RegionBuilder;

import java.io.IOException;

/**
 * The {@link MappedRegionProvider} that {@link java.util.ServiceLoader} finds in this module. Opens go
 * through the {@link RegionRegistry}, so a file has one region per JVM.
 */
public final class MkwriteProvider implements MappedRegionProvider {

    /** Called by {@link java.util.ServiceLoader}. */
    public MkwriteProvider() {
    }

    @Override
    public MappedRegion open(RegionBuilder spec) throws IOException {
        return RegionRegistry.open(spec);
    }
}
