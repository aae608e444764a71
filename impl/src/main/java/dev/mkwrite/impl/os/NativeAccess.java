package dev.mkwrite.impl.os;

import java.util.Locale;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Whether mkwrite may make native calls ({@link PosixNative}): Linux on an architecture whose flag values
 * it knows, and native access enabled for its module. Decided once, cheaply: no lookup, no linking. Without
 * it every caller falls back, and {@link #logUnavailableOnce} tells the user, once per JVM, the exact flag
 * to add.
 */
public final class NativeAccess {

    private static final LazyLogger LOG = new LazyLogger(NativeAccess.class);

    /** Why nothing may be bound, or null if binding may be tried. */
    private static final String UNAVAILABLE = unavailable();
    private static final AtomicBoolean LOGGED = new AtomicBoolean();

    private NativeAccess() {
    }

    /**
     * Whether the native calls may be used: Linux on a known architecture, and native access enabled.
     *
     * @return true if they may be called
     */
    public static boolean available() {
        return UNAVAILABLE == null;
    }

    /**
     * Why the native calls may not be used.
     *
     * @return the reason, or null if they may
     */
    public static String unavailableReason() {
        return UNAVAILABLE;
    }

    /**
     * The exact flag that enables native access for this code, on the class path or the module path.
     *
     * @return the flag
     */
    public static String nativeAccessFlag() {
        return "--enable-native-access=" + moduleName();
    }

    private static String moduleName() {
        Module m = NativeAccess.class.getModule();
        return m.isNamed() ? m.getName() : "ALL-UNNAMED";
    }

    /**
     * Logs, once per JVM, that {@code what} falls back because native calls are unavailable, naming the
     * flag that enables them. Only the first caller's {@code what} is logged.
     *
     * @param what the handler and its fallback, e.g. "fallocate(2) falls back to zero-fill"
     */
    public static void logUnavailableOnce(String what) {
        if (UNAVAILABLE != null && LOGGED.compareAndSet(false, true)) {
            LOG.get().warn("mkwrite: {} because {}.", what, UNAVAILABLE);
        }
    }

    private static String unavailable() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        if (!os.startsWith("linux")) {
            return "the operating system is " + System.getProperty("os.name") + ", not Linux";
        }
        if (!(arch.equals("amd64") || arch.equals("x86_64") || arch.equals("aarch64") || arch.equals("riscv64"))) {
            return "the architecture " + arch + " is not one whose flag values mkwrite knows";
        }
        if (!NativeAccess.class.getModule().isNativeAccessEnabled()) {
            return "native access is not enabled for " + moduleName() + "; add " + nativeAccessFlag()
                    + " to the java command line";
        }
        return null;
    }
}
