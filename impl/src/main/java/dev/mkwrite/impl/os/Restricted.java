package dev.mkwrite.impl.os;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * The one place that calls restricted methods: binding a C function, and viewing native memory the C
 * library handed out (a mapping, a string). Reached only once {@link NativeAccess#available()} said native
 * access is enabled, so the JDK never warns. Apart from {@link PosixNative} so that class stays a list of
 * calls.
 */
@SuppressWarnings("restricted")
final class Restricted {
    private static final LazyLogger LOG = new LazyLogger(Restricted.class);
    private static final Linker LINKER = Linker.nativeLinker();

    private Restricted() {
    }

    /** Binds {@code name} from the C library; null, logged, if it is missing or may not be bound. */
    static MethodHandle downcall(String name, FunctionDescriptor descriptor, Linker.Option... options) {
        if (!NativeAccess.available()) {
            return null;
        }
        try {
            Optional<MemorySegment> symbol = LINKER.defaultLookup().find(name); // no lambda: see row 8
            if (symbol.isEmpty()) {
                LOG.get().warn("mkwrite: the C library has no {}(); calls to it report ENOSYS", name);
                return null;
            }
            return LINKER.downcallHandle(symbol.get(), descriptor, options);
        } catch (RuntimeException | LinkageError e) {
            LOG.get().warn("mkwrite: binding {}() failed ({}); calls to it report ENOSYS", name, e.toString());
            return null;
        }
    }

    /** The {@code length} bytes at {@code address}, valid while {@code arena} is open. */
    static MemorySegment mapped(long address, long length, Arena arena, Consumer<MemorySegment> cleanup) {
        return MemorySegment.ofAddress(address).reinterpret(length, arena, cleanup);
    }

    /** The NUL-terminated string at {@code s}, read up to {@code max} bytes. */
    static String cString(MemorySegment s, long max) {
        return s.reinterpret(max).getString(0);
    }
}
