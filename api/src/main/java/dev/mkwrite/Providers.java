package dev.mkwrite;

import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;

/** Finds the {@link MappedRegionProvider} once, the way SLF4J finds its provider. */
final class Providers {

    static final String NO_PROVIDER = "No mkwrite implementation was found on the class path or module path."
            + " Add the artifact dev.mkwrite:mkwrite-impl (module dev.mkwrite.impl) next to mkwrite-api.";

    private Providers() {
    }

    static MappedRegionProvider provider() {
        return Holder.PROVIDER;
    }

    static MappedRegionProvider select(List<MappedRegionProvider> found, String wanted) {
        if (found.isEmpty()) {
            throw new IllegalStateException(NO_PROVIDER);
        }
        if (wanted != null && !wanted.isBlank()) {
            for (MappedRegionProvider p : found) {
                if (p.getClass().getName().equals(wanted)) {
                    return p;
                }
            }
            throw new IllegalStateException("System property " + MappedRegionProvider.PROVIDER_PROPERTY + "="
                    + wanted + " names no provider on the path; found " + names(found));
        }
        if (found.size() > 1) {
            System.getLogger("dev.mkwrite").log(System.Logger.Level.WARNING,
                    "Several mkwrite implementations found: " + names(found) + "; using "
                            + found.getFirst().getClass().getName() + ". Set -D"
                            + MappedRegionProvider.PROVIDER_PROPERTY + "=<class> to choose.");
        }
        return found.getFirst();
    }

    private static List<String> names(List<MappedRegionProvider> found) {
        List<String> names = new ArrayList<>();
        for (MappedRegionProvider p : found) {
            names.add(p.getClass().getName());
        }
        return names;
    }

    /**
     * The implementation this project ships, looked up by name before any search: on the class path,
     * {@link ServiceLoader}'s scan of every jar for its service file costs a cold JVM about 13 ms on the way
     * to its first region (row 8 of the benchmarks), and loading one class by name about 1 ms.
     */
    static final String BUNDLED = "dev.mkwrite.impl.MkwriteProvider";

    /**
     * {@link #BUNDLED}, when it is on the class path; null when it is not, or when this api is a named
     * module (whose service lookup reads the module graph, not the jars, and which does not export the
     * implementation's package for reflection). A bundled provider that fails to load is left to the
     * search, which reports the failure.
     */
    static MappedRegionProvider bundled(ClassLoader loader) {
        if (Providers.class.getModule().isNamed()) {
            return null;
        }
        try {
            Class<?> type = Class.forName(BUNDLED, false, loader);
            return MappedRegionProvider.class.isAssignableFrom(type)
                    ? (MappedRegionProvider) type.getConstructor().newInstance() : null;
        } catch (ReflectiveOperationException | LinkageError e) {
            return null;
        }
    }

    /** Every provider {@link ServiceLoader} finds. */
    static List<MappedRegionProvider> search(ClassLoader loader) {
        List<MappedRegionProvider> found = new ArrayList<>();
        for (MappedRegionProvider p : ServiceLoader.load(MappedRegionProvider.class, loader)) {
            found.add(p); // a loop, not forEach(found::add): no lambda at a cold start
        }
        return found;
    }

    /**
     * Lazy holder: the lookup runs on first use, and a failed one is reported at every use. Without
     * {@value MappedRegionProvider#PROVIDER_PROPERTY}, the bundled implementation wins without a search
     * when it is on the class path; otherwise every provider found is a candidate (see {@link #select}).
     */
    private static final class Holder {
        static final MappedRegionProvider PROVIDER;

        static {
            ClassLoader loader = Providers.class.getClassLoader();
            String wanted = System.getProperty(MappedRegionProvider.PROVIDER_PROPERTY);
            MappedRegionProvider chosen = wanted == null || wanted.isBlank() ? bundled(loader) : null;
            if (chosen == null) {
                try {
                    chosen = select(search(loader), wanted);
                } catch (IllegalStateException e) {
                    chosen = new Missing(e.getMessage());
                }
            }
            PROVIDER = chosen;
        }
    }

    /** Stands in for an absent provider so that every use reports the same clear message. */
    private record Missing(String message) implements MappedRegionProvider {
        @Override
        public MappedRegion open(RegionBuilder spec) {
            throw missing();
        }

        @Override
        public WriteFaultHandlers.Storage bestAvailable(int granule) {
            throw missing();
        }

        @Override
        public WriteFaultHandlers.Storage fallocate(int granule) {
            throw missing();
        }

        @Override
        public WriteFaultHandlers.Storage populate() {
            throw missing();
        }

        @Override
        public WriteFaultHandlers.Storage zeroFill(int granule) {
            throw missing();
        }

        @Override
        public WriteFaultHandler chain(WriteFaultHandler first, WriteFaultHandler[] more) {
            throw missing();
        }

        @Override
        public boolean nativeAccessAvailable() {
            throw missing();
        }

        @Override
        public String nativeAccessFlag() {
            throw missing();
        }

        private IllegalStateException missing() {
            return new IllegalStateException(message);
        }
    }
}
