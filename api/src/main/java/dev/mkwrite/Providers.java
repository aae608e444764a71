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

    /** Lazy holder: the search runs on first use, and a failed search is reported at every use. */
    private static final class Holder {
        static final MappedRegionProvider PROVIDER;

        static {
            List<MappedRegionProvider> found = new ArrayList<>();
            for (MappedRegionProvider p : ServiceLoader.load(MappedRegionProvider.class,
                    Providers.class.getClassLoader())) { // a loop, not forEach(found::add): no lambda at a cold start
                found.add(p);
            }
            MappedRegionProvider chosen;
            try {
                chosen = select(found, System.getProperty(MappedRegionProvider.PROVIDER_PROPERTY));
            } catch (IllegalStateException e) {
                chosen = new Missing(e.getMessage());
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
