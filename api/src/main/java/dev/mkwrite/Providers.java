package dev.mkwrite;

import java.lang.reflect.InvocationTargetException;
import java.util.ArrayList;
import java.util.List;
import java.util.ServiceConfigurationError;
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
     * implementation's package for reflection). Throws what a bundled provider that is present but fails
     * to load or construct threw: the caller falls back to the search and names the failure if that finds
     * nothing either.
     */
    static MappedRegionProvider bundled(ClassLoader loader) throws ReflectiveOperationException {
        if (Providers.class.getModule().isNamed()) {
            return null;
        }
        Class<?> type;
        try {
            type = Class.forName(BUNDLED, false, loader);
        } catch (ClassNotFoundException e) {
            return null; // another implementation, or none: the search decides
        }
        return MappedRegionProvider.class.isAssignableFrom(type)
                ? (MappedRegionProvider) type.getConstructor().newInstance() : null;
    }

    /** Why {@link #bundled} failed, for the message of a search that found nothing usable either. */
    static String bundledFailure(Throwable e) {
        Throwable cause = e instanceof InvocationTargetException t && t.getCause() != null ? t.getCause() : e;
        return "; " + BUNDLED + " is on the class path but could not be loaded: " + cause;
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
     * The provider {@code loader} offers, {@code wanted} naming one or null: the bundled one without a
     * search when nothing is named, else the search's choice ({@link #select}). Never throws: a lookup that
     * fails returns a stand-in that reports why at every use.
     */
    static MappedRegionProvider choose(ClassLoader loader, String wanted) {
        MappedRegionProvider chosen = null;
        String failure = "";
        if (wanted == null || wanted.isBlank()) {
            try {
                chosen = bundled(loader);
            } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
                failure = bundledFailure(e);
            }
        }
        if (chosen == null) {
            try {
                chosen = select(search(loader), wanted);
            } catch (IllegalStateException e) {
                chosen = new Missing(e.getMessage() + failure);
            } catch (ServiceConfigurationError e) {
                // A provider a service file names failed to load: reported at every use, as a missing one is,
                // not once as an error in the holder's initialiser
                chosen = new Missing("An mkwrite implementation on the path failed to load: " + e.getMessage()
                        + failure);
            }
        }
        return chosen;
    }

    /**
     * Lazy holder: the lookup runs on first use, and a failed one is reported at every use. Without
     * {@value MappedRegionProvider#PROVIDER_PROPERTY}, the bundled implementation wins without a search
     * when it is on the class path; otherwise every provider found is a candidate (see {@link #select}).
     */
    private static final class Holder {
        static final MappedRegionProvider PROVIDER = choose(Providers.class.getClassLoader(),
                System.getProperty(MappedRegionProvider.PROVIDER_PROPERTY));
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
