package dev.mkwrite.impl.os;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Every native call of mkwrite (the storage handlers, and {@code MappedRegion.punchHole}), in one place: {@code open}, {@code close},
 * {@code lseek}, {@code fallocate}, {@code madvise}, {@code mmap}, {@code munmap}, {@code msync},
 * {@code ftruncate} and {@code strerror} from the C library, bound through
 * the FFM {@link Linker}.
 *
 * <p>Nothing is bound unless {@link Module#isNativeAccessEnabled()} is true for this class's module, so a
 * JVM started without {@code --enable-native-access} never prints the JDK's restricted-method warning;
 * {@link #available()} is then false and {@link #logUnavailableOnce(String)} tells the user, once per JVM,
 * the exact flag to add. Binding is also skipped on operating systems and architectures whose flag values
 * this class does not know (only Linux on x86-64, AArch64 and RISC-V 64 are bound).
 *
 * <p>Each call returns its result or a negated {@code errno}, captured with
 * {@link Linker.Option#captureCallState(String...)} into a per-thread buffer, so no call allocates after
 * the thread's first. All methods are thread-safe. {@code EINTR} is retried here, never reported.
 */
@SuppressWarnings("restricted") // the one place: binding downcalls and reading strerror's C string
public final class PosixNative {

    private static final Logger LOG = LoggerFactory.getLogger(PosixNative.class);

    public static final int EPERM = 1;
    public static final int ENOENT = 2;
    public static final int EINTR = 4;
    public static final int EIO = 5;
    public static final int EBADF = 9;
    public static final int EAGAIN = 11;
    public static final int ENOMEM = 12;
    public static final int EACCES = 13;
    public static final int EFAULT = 14;
    public static final int ENODEV = 19;
    public static final int EISDIR = 21;
    public static final int EINVAL = 22;
    public static final int ENFILE = 23;
    public static final int EMFILE = 24;
    public static final int EFBIG = 27;
    public static final int ENOSPC = 28;
    public static final int ESPIPE = 29;
    public static final int EROFS = 30;
    public static final int ENOSYS = 38;
    public static final int EOPNOTSUPP = 95;
    public static final int EDQUOT = 122;
    public static final int EHWPOISON = 133;

    private static final Map<Integer, String> NAMES = Map.ofEntries(
            Map.entry(EPERM, "EPERM"), Map.entry(ENOENT, "ENOENT"), Map.entry(EINTR, "EINTR"),
            Map.entry(EIO, "EIO"), Map.entry(EBADF, "EBADF"), Map.entry(EAGAIN, "EAGAIN"),
            Map.entry(ENOMEM, "ENOMEM"), Map.entry(EACCES, "EACCES"), Map.entry(EFAULT, "EFAULT"),
            Map.entry(ENODEV, "ENODEV"), Map.entry(EISDIR, "EISDIR"), Map.entry(EINVAL, "EINVAL"),
            Map.entry(ENFILE, "ENFILE"), Map.entry(EMFILE, "EMFILE"), Map.entry(EFBIG, "EFBIG"),
            Map.entry(ENOSPC, "ENOSPC"), Map.entry(ESPIPE, "ESPIPE"), Map.entry(EROFS, "EROFS"),
            Map.entry(ENOSYS, "ENOSYS"), Map.entry(EOPNOTSUPP, "EOPNOTSUPP"), Map.entry(EDQUOT, "EDQUOT"),
            Map.entry(EHWPOISON, "EHWPOISON"));

    /** {@code O_RDWR | O_CLOEXEC} (the same value on every architecture bound here). */
    private static final int O_RDWR_CLOEXEC = 0x2 | 0x80000;
    /** {@code FALLOC_FL_KEEP_SIZE}: allocate without changing the file's size. */
    public static final int FALLOC_FL_KEEP_SIZE = 0x1;
    /** Deallocates the range; must be combined with {@link #FALLOC_FL_KEEP_SIZE}. */
    public static final int FALLOC_FL_PUNCH_HOLE = 0x2;
    /** {@code MADV_POPULATE_WRITE} (Linux 5.14): write-fault the range in now, reporting errors. */
    public static final int MADV_POPULATE_WRITE = 23;
    private static final int SEEK_END = 2;
    private static final int PROT_READ_WRITE = 0x1 | 0x2;
    private static final int MAP_SHARED = 0x1;
    private static final int MS_SYNC = 0x4;

    private static final MethodHandle OPEN;
    private static final MethodHandle CLOSE;
    private static final MethodHandle LSEEK;
    private static final MethodHandle FALLOCATE;
    private static final MethodHandle MADVISE;
    private static final MethodHandle MMAP;
    private static final MethodHandle MUNMAP;
    private static final MethodHandle MSYNC;
    private static final MethodHandle FTRUNCATE;
    private static final MethodHandle STRERROR;
    private static final StructLayout CAPTURE_LAYOUT;
    private static final VarHandle ERRNO;
    /** Why nothing was bound, or null if everything was. */
    private static final String UNAVAILABLE;

    private static final ThreadLocal<MemorySegment> CAPTURE = new ThreadLocal<>();
    private static final AtomicBoolean LOGGED = new AtomicBoolean();

    static {
        MethodHandle open = null;
        MethodHandle close = null;
        MethodHandle lseek = null;
        MethodHandle fallocate = null;
        MethodHandle madvise = null;
        MethodHandle mmap = null;
        MethodHandle munmap = null;
        MethodHandle msync = null;
        MethodHandle ftruncate = null;
        MethodHandle strerror = null;
        StructLayout captureLayout = null;
        VarHandle errno = null;
        String unavailable = null;
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        if (!os.startsWith("linux")) {
            unavailable = "the operating system is " + System.getProperty("os.name") + ", not Linux";
        } else if (!(arch.equals("amd64") || arch.equals("x86_64") || arch.equals("aarch64")
                || arch.equals("riscv64"))) {
            unavailable = "the architecture " + arch + " is not one whose flag values mkwrite knows";
        } else if (!PosixNative.class.getModule().isNativeAccessEnabled()) {
            unavailable = "native access is not enabled for " + moduleName() + "; add " + nativeAccessFlag()
                    + " to the java command line";
        } else {
            try {
                Linker linker = Linker.nativeLinker();
                SymbolLookup libc = linker.defaultLookup();
                Linker.Option capture = Linker.Option.captureCallState("errno");
                captureLayout = Linker.Option.captureStateLayout();
                errno = captureLayout.varHandle(MemoryLayout.PathElement.groupElement("errno"));
                open = linker.downcallHandle(libc.findOrThrow("open"),
                        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT,
                                ValueLayout.JAVA_INT),
                        capture, Linker.Option.firstVariadicArg(2));
                close = linker.downcallHandle(libc.findOrThrow("close"),
                        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), capture);
                lseek = linker.downcallHandle(libc.findOrThrow("lseek"),
                        FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG,
                                ValueLayout.JAVA_INT), capture);
                fallocate = linker.downcallHandle(libc.findOrThrow("fallocate"),
                        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                                ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG), capture);
                madvise = linker.downcallHandle(libc.findOrThrow("madvise"),
                        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG,
                                ValueLayout.JAVA_INT), capture);
                mmap = linker.downcallHandle(libc.findOrThrow("mmap"),
                        FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
                                ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                                ValueLayout.JAVA_LONG), capture);
                munmap = linker.downcallHandle(libc.findOrThrow("munmap"),
                        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG),
                        capture);
                msync = linker.downcallHandle(libc.findOrThrow("msync"),
                        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
                                ValueLayout.JAVA_INT), capture);
                ftruncate = linker.downcallHandle(libc.findOrThrow("ftruncate"),
                        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG),
                        capture);
                strerror = linker.downcallHandle(libc.findOrThrow("strerror"),
                        FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
            } catch (RuntimeException | LinkageError e) {
                unavailable = "binding the C library failed: " + e;
            }
        }
        boolean ok = unavailable == null;
        OPEN = ok ? open : null;
        CLOSE = ok ? close : null;
        LSEEK = ok ? lseek : null;
        FALLOCATE = ok ? fallocate : null;
        MADVISE = ok ? madvise : null;
        MMAP = ok ? mmap : null;
        MUNMAP = ok ? munmap : null;
        MSYNC = ok ? msync : null;
        FTRUNCATE = ok ? ftruncate : null;
        STRERROR = ok ? strerror : null;
        CAPTURE_LAYOUT = ok ? captureLayout : null;
        ERRNO = ok ? errno : null;
        UNAVAILABLE = unavailable;
    }

    private PosixNative() {
    }

    /**
     * Whether the native calls are bound.
     *
     * @return true if they may be called
     */
    public static boolean available() {
        return UNAVAILABLE == null;
    }

    /**
     * Why the native calls are not bound.
     *
     * @return the reason, or null if they are bound
     */
    public static String unavailableReason() {
        return UNAVAILABLE;
    }

    /** The exact flag that enables native access for this code, on the class path or the module path. */
    public static String nativeAccessFlag() {
        return "--enable-native-access=" + moduleName();
    }

    private static String moduleName() {
        Module m = PosixNative.class.getModule();
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
            LOG.warn("mkwrite: {} because {}.", what, UNAVAILABLE);
        }
    }

    /**
     * {@code open(path, O_RDWR | O_CLOEXEC)}.
     *
     * @param path the file
     * @return the file descriptor, or {@code -errno}
     */
    public static int open(Path path) {
        requireAvailable();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cPath = arena.allocateFrom(path.toAbsolutePath().toString());
            MemorySegment state = captureState();
            for (;;) {
                int fd = (int) OPEN.invokeExact(state, cPath, O_RDWR_CLOEXEC, 0);
                if (fd >= 0) {
                    return fd;
                }
                int e = errno(state);
                if (e != EINTR) {
                    return -e;
                }
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code close(fd)}. Not retried on EINTR: Linux releases the descriptor even then.
     *
     * @param fd the descriptor
     * @return 0, or {@code -errno}
     */
    public static int close(int fd) {
        requireAvailable();
        try {
            MemorySegment state = captureState();
            int r = (int) CLOSE.invokeExact(state, fd);
            return r == 0 ? 0 : -errno(state);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * The file's size: {@code lseek(fd, 0, SEEK_END)}. The descriptor's offset is not used by mkwrite.
     *
     * @param fd the descriptor
     * @return the size, or {@code -errno}
     */
    public static long size(int fd) {
        requireAvailable();
        try {
            MemorySegment state = captureState();
            long r = (long) LSEEK.invokeExact(state, fd, 0L, SEEK_END);
            return r >= 0 ? r : -errno(state);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code fallocate(fd, mode, offset, length)}, retried on EINTR.
     *
     * @param fd     the descriptor
     * @param mode   0, {@link #FALLOC_FL_KEEP_SIZE}, or that with {@link #FALLOC_FL_PUNCH_HOLE}
     * @param offset the first byte
     * @param length the number of bytes
     * @return 0, or {@code -errno}
     */
    public static int fallocate(int fd, int mode, long offset, long length) {
        requireAvailable();
        try {
            MemorySegment state = captureState();
            for (;;) {
                int r = (int) FALLOCATE.invokeExact(state, fd, mode, offset, length);
                if (r == 0) {
                    return 0;
                }
                int e = errno(state);
                if (e != EINTR) {
                    return -e;
                }
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code madvise(memory.address(), length, advice)}, retried on EINTR and EAGAIN (which
     * MADV_POPULATE_WRITE reports for a transient failure).
     *
     * @param memory the first page; must be page-aligned native memory
     * @param length bytes, rounded up to pages by the kernel
     * @param advice the advice
     * @return 0, or {@code -errno}
     */
    public static int madvise(MemorySegment memory, long length, int advice) {
        requireAvailable();
        try {
            MemorySegment state = captureState();
            for (int attempt = 0; ; attempt++) {
                int r = (int) MADVISE.invokeExact(state, memory, length, advice);
                if (r == 0) {
                    return 0;
                }
                int e = errno(state);
                if (e != EINTR && (e != EAGAIN || attempt >= 16)) {
                    return -e;
                }
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code mmap(NULL, capacity, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)}, as a segment of
     * {@code capacity} bytes in {@code arena}, unmapped when the arena closes. The file may be shorter
     * than the capacity: the caller must not touch bytes past its end (they raise SIGBUS).
     *
     * @param fd       the descriptor, open for reading and writing
     * @param capacity bytes to map, at least 1
     * @param arena    the arena whose close unmaps the segment
     * @return the segment
     * @throws IOException if mmap fails (the message names the errno)
     */
    public static MemorySegment mapShared(int fd, long capacity, Arena arena) throws IOException {
        requireAvailable();
        long address;
        int e;
        try {
            MemorySegment state = captureState();
            address = (long) MMAP.invokeExact(state, 0L, capacity, PROT_READ_WRITE, MAP_SHARED, fd, 0L);
            e = address == -1L ? errno(state) : 0;
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (address == -1L) {
            throw new IOException("mmap of " + capacity + " bytes failed: " + errnoName(e) + " (" + describe(e) + ")");
        }
        return MemorySegment.ofAddress(address).reinterpret(capacity, arena, s -> unmap(address, capacity));
    }

    private static void unmap(long address, long length) {
        try {
            MemorySegment state = captureState();
            int r = (int) MUNMAP.invokeExact(state, address, length);
            if (r != 0) {
                LOG.error("mkwrite: munmap of {} bytes failed: {}", length, errnoName(errno(state)));
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code msync(start, length, MS_SYNC)} over the pages holding {@code [offset, offset + length)} of a
     * segment from {@link #mapShared}.
     *
     * @param mapping the mapped segment
     * @param offset  the first byte
     * @param length  bytes
     * @param osPage  the operating system's page size
     * @return 0, or {@code -errno}
     */
    public static int msync(MemorySegment mapping, long offset, long length, int osPage) {
        requireAvailable();
        long start = mapping.address() + offset;
        long aligned = start & -osPage;
        try {
            MemorySegment state = captureState();
            int r = (int) MSYNC.invokeExact(state, aligned, length + (start - aligned), MS_SYNC);
            return r == 0 ? 0 : -errno(state);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code ftruncate(fd, length)}, retried on EINTR.
     *
     * @param fd     the descriptor
     * @param length the new size
     * @return 0, or {@code -errno}
     */
    public static int ftruncate(int fd, long length) {
        requireAvailable();
        try {
            MemorySegment state = captureState();
            for (;;) {
                int r = (int) FTRUNCATE.invokeExact(state, fd, length);
                if (r == 0) {
                    return 0;
                }
                int e = errno(state);
                if (e != EINTR) {
                    return -e;
                }
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * The symbolic name of an errno, such as {@code ENOSPC}, or {@code errno N} for one this class does
     * not name.
     *
     * @param errno the errno, positive
     * @return the name
     */
    public static String errnoName(int errno) {
        String name = NAMES.get(errno);
        return name != null ? name : "errno " + errno;
    }

    /**
     * The C library's description of an errno, such as "No space left on device"; without native access,
     * the symbolic name.
     *
     * @param errno the errno, positive
     * @return the description
     */
    public static String describe(int errno) {
        if (UNAVAILABLE == null) {
            try {
                MemorySegment s = (MemorySegment) STRERROR.invokeExact(errno);
                if (!s.equals(MemorySegment.NULL)) {
                    return s.reinterpret(256).getString(0);
                }
            } catch (Throwable t) {
                // fall through to the name
            }
        }
        return errnoName(errno);
    }

    private static MemorySegment captureState() {
        MemorySegment s = CAPTURE.get();
        if (s == null) {
            s = Arena.ofAuto().allocate(CAPTURE_LAYOUT); // freed once the thread and its value are gone
            CAPTURE.set(s);
        }
        return s;
    }

    private static int errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    private static void requireAvailable() {
        if (UNAVAILABLE != null) {
            throw new UnsupportedOperationException("native calls are unavailable: " + UNAVAILABLE);
        }
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException("unexpected checked exception from a native call", t);
    }
}
