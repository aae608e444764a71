package dev.mkwrite.impl.os;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.invoke.VarHandle;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicBoolean;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Every native call of mkwrite (the storage handlers, the native mapping and {@code MappedRegion.punchHole}),
 * in one place: {@code open}, {@code close}, {@code lseek}, {@code fallocate}, {@code madvise},
 * {@code mmap}, {@code munmap}, {@code msync}, {@code ftruncate}, {@code pread}, {@code pwrite},
 * {@code strerror} and {@code syscall} (for {@code membarrier}) from the C library,
 * bound through the FFM {@link Linker}.
 *
 * <h2>Binding</h2>
 * Nothing is bound unless {@link Module#isNativeAccessEnabled()} is true for this class's module, so a JVM
 * started without {@code --enable-native-access} never prints the JDK's restricted-method warning;
 * {@link #available()} is then false and {@link #logUnavailableOnce(String)} tells the user, once per JVM,
 * the exact flag to add. Binding is also skipped on operating systems and architectures whose flag values
 * this class does not know (only Linux on x86-64, AArch64 and RISC-V 64 are bound).
 *
 * <p>Each function is bound on its first call, in a holder class of its own (so the handle is a
 * {@code static final} constant the JIT inlines): a JVM that never punches a hole never looks up
 * {@code fallocate}, and class initialisation costs no downcall stubs. Every binding goes through
 * {@code Restricted.downcall}, the one place that calls restricted methods. A function the C library lacks
 * reports {@code ENOSYS}.
 *
 * <h2>Calls</h2>
 * Each call returns its result or a negated {@code errno}, captured with
 * {@link Linker.Option#captureCallState(String...)} into a per-thread buffer, so no call allocates after
 * the thread's first. {@code EINTR} is retried, by one loop built into the handles of the calls that can
 * report it ({@code open}, {@code fallocate}, {@code madvise}, {@code ftruncate}, {@code pread}, {@code pwrite}), and never reported. All
 * methods are thread-safe.
 */
public final class PosixNative {

    private static final Logger LOG = LoggerFactory.getLogger(PosixNative.class);

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
    /** How often madvise is retried on EAGAIN, which MADV_POPULATE_WRITE reports for a transient failure. */
    private static final int EAGAIN_RETRIES = 16;
    /** The longest {@code strerror} text read: glibc's longest is under 60 bytes in any language. */
    private static final long MAX_STRERROR = 1024;

    /** Why nothing may be bound, or null if binding may be tried. Cheap: no lookup, no linking. */
    private static final String UNAVAILABLE = unavailable();

    private static final ThreadLocal<MemorySegment> CAPTURE = new ThreadLocal<>();
    private static final AtomicBoolean LOGGED = new AtomicBoolean();

    private PosixNative() {
    }

    // ---------------------------------------------------------------------------------------------
    // The functions, each bound when its holder is first used

    private static final class Open {
        static final MethodHandle H = bind("open", true, FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT),
                Linker.Option.firstVariadicArg(2));
    }

    private static final class Fcntl {
        /** {@code fcntl(fd, cmd, struct flock *)}: the third argument is variadic. */
        static final MethodHandle H = bind("fcntl", true, FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS),
                Linker.Option.firstVariadicArg(2));
    }

    private static final class Close {
        static final MethodHandle H = bind("close", false, FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }

    private static final class Lseek {
        static final MethodHandle H = bind("lseek", false, FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG,
                JAVA_INT));
    }

    private static final class Fallocate {
        static final MethodHandle H = bind("fallocate", true, FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT,
                JAVA_LONG, JAVA_LONG));
    }

    private static final class Madvise {
        static final MethodHandle H = bind("madvise", true, FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG,
                JAVA_INT));
    }

    private static final class Mmap {
        static final MethodHandle H = bind("mmap", false, FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG,
                JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
    }

    private static final class Munmap {
        static final MethodHandle H = bind("munmap", false, FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG));
    }

    private static final class Msync {
        static final MethodHandle H = bind("msync", false, FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG,
                JAVA_INT));
    }

    /**
     * {@code syscall(SYS_membarrier, cmd, flags, cpu_id)}: the C library has no wrapper. The three
     * arguments are variadic, passed as ints.
     */
    private static final class Membarrier {
        static final MethodHandle H = bind("syscall", false, FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_INT,
                JAVA_INT, JAVA_INT), Linker.Option.firstVariadicArg(1));
    }

    private static final class Pread {
        static final MethodHandle H = bind("pread", true, FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS,
                JAVA_LONG, JAVA_LONG));
    }

    private static final class Pwrite {
        static final MethodHandle H = bind("pwrite", true, FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS,
                JAVA_LONG, JAVA_LONG));
    }

    private static final class Ftruncate {
        static final MethodHandle H = bind("ftruncate", true, FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG));
    }

    /** {@code strerror} captures no errno: it is the only call that cannot fail. */
    private static final class Strerror {
        static final MethodHandle H = Restricted.downcall("strerror", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    }

    /** The errno capture buffer's layout, and the loop predicate of {@link #retryingEintr}. */
    private static final class Capture {
        static final StructLayout LAYOUT = Linker.Option.captureStateLayout();
        static final VarHandle ERRNO = LAYOUT.varHandle(MemoryLayout.PathElement.groupElement("errno"));
        static final MethodHandle INTERRUPTED_INT;
        static final MethodHandle INTERRUPTED_LONG;

        static {
            try {
                MethodHandles.Lookup lookup = MethodHandles.lookup();
                INTERRUPTED_INT = lookup.findStatic(Capture.class, "interrupted",
                        MethodType.methodType(boolean.class, int.class, MemorySegment.class));
                INTERRUPTED_LONG = lookup.findStatic(Capture.class, "interrupted",
                        MethodType.methodType(boolean.class, long.class, MemorySegment.class));
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        /** The loop condition: the call failed with EINTR. */
        private static boolean interrupted(int result, MemorySegment state) {
            return result == -1 && errno(state) == Errno.EINTR;
        }

        private static boolean interrupted(long result, MemorySegment state) {
            return result == -1L && errno(state) == Errno.EINTR;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Availability

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

    private static String unavailable() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        if (!os.startsWith("linux")) {
            return "the operating system is " + System.getProperty("os.name") + ", not Linux";
        }
        if (!(arch.equals("amd64") || arch.equals("x86_64") || arch.equals("aarch64") || arch.equals("riscv64"))) {
            return "the architecture " + arch + " is not one whose flag values mkwrite knows";
        }
        if (!PosixNative.class.getModule().isNativeAccessEnabled()) {
            return "native access is not enabled for " + moduleName() + "; add " + nativeAccessFlag()
                    + " to the java command line";
        }
        return null;
    }

    // ---------------------------------------------------------------------------------------------
    // The calls

    /**
     * {@code open(path, O_RDWR | O_CLOEXEC)}.
     *
     * @param path the file
     * @return the file descriptor, or {@code -errno}
     */
    public static int open(Path path) {
        MethodHandle h = handle(Open.H);
        if (h == null) {
            return -Errno.ENOSYS;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cPath = arena.allocateFrom(path.toAbsolutePath().toString());
            MemorySegment state = captureState();
            return result((int) h.invokeExact(state, cPath, O_RDWR_CLOEXEC, 0), state);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code F_OFD_SETLK} (Linux 3.15): an open-file-description lock, owned by the descriptor's open file. */
    private static final int F_OFD_SETLK = 37;
    private static final short F_WRLCK = 1;
    /**
     * {@code struct flock} on Linux (x86-64 and aarch64): {@code short l_type, short l_whence, off_t
     * l_start, off_t l_len, pid_t l_pid}, 32 bytes with padding.
     */
    private static final java.lang.foreign.MemoryLayout FLOCK = java.lang.foreign.MemoryLayout.structLayout(
            java.lang.foreign.ValueLayout.JAVA_SHORT.withName("l_type"),
            java.lang.foreign.ValueLayout.JAVA_SHORT.withName("l_whence"),
            java.lang.foreign.MemoryLayout.paddingLayout(4),
            JAVA_LONG.withName("l_start"), JAVA_LONG.withName("l_len"),
            JAVA_INT.withName("l_pid"), java.lang.foreign.MemoryLayout.paddingLayout(4));

    /**
     * Takes a write lock on the whole file through {@code fd}'s open file description ({@code fcntl(fd,
     * F_OFD_SETLK)} of {@code F_WRLCK} from 0 to the end): unlike a POSIX record lock, closing another
     * descriptor of the file in this process does not drop it; only closing {@code fd} does. It conflicts
     * with POSIX locks and with OFD locks of other open file descriptions, in this process too.
     *
     * @param fd the descriptor, open for writing
     * @return 0, or {@code -errno}: {@code EAGAIN} or {@code EACCES} if another holds a conflicting lock,
     *         {@code EINVAL} on a kernel without OFD locks
     */
    public static int lockFile(int fd) {
        MethodHandle h = handle(Fcntl.H);
        if (h == null) {
            return -Errno.ENOSYS;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment flock = arena.allocate(FLOCK); // zeroed: l_whence SEEK_SET, l_start 0, l_len 0 (to the end), l_pid 0
            flock.set(java.lang.foreign.ValueLayout.JAVA_SHORT, 0, F_WRLCK);
            MemorySegment state = captureState();
            return result((int) h.invokeExact(state, fd, F_OFD_SETLK, flock), state);
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
        MethodHandle h = handle(Close.H);
        if (h == null) {
            return -Errno.ENOSYS;
        }
        try {
            MemorySegment state = captureState();
            return result((int) h.invokeExact(state, fd), state);
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
        MethodHandle h = handle(Lseek.H);
        if (h == null) {
            return -Errno.ENOSYS;
        }
        try {
            MemorySegment state = captureState();
            return result((long) h.invokeExact(state, fd, 0L, SEEK_END), state);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code fallocate(fd, mode, offset, length)}.
     *
     * @param fd     the descriptor
     * @param mode   0, {@link #FALLOC_FL_KEEP_SIZE}, or that with {@link #FALLOC_FL_PUNCH_HOLE}
     * @param offset the first byte
     * @param length the number of bytes
     * @return 0, or {@code -errno}
     */
    public static int fallocate(int fd, int mode, long offset, long length) {
        MethodHandle h = handle(Fallocate.H);
        if (h == null) {
            return -Errno.ENOSYS;
        }
        try {
            MemorySegment state = captureState();
            return result((int) h.invokeExact(state, fd, mode, offset, length), state);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code madvise(memory.address(), length, advice)}, retried on EAGAIN (which MADV_POPULATE_WRITE
     * reports for a transient failure) up to 16 times.
     *
     * @param memory the first page; must be page-aligned native memory
     * @param length bytes, rounded up to pages by the kernel
     * @param advice the advice
     * @return 0, or {@code -errno}
     */
    public static int madvise(MemorySegment memory, long length, int advice) {
        MethodHandle h = handle(Madvise.H);
        if (h == null) {
            return -Errno.ENOSYS;
        }
        try {
            MemorySegment state = captureState();
            for (int attempt = 0; ; attempt++) {
                int r = result((int) h.invokeExact(state, memory, length, advice), state);
                if (r != -Errno.EAGAIN || attempt >= EAGAIN_RETRIES) {
                    return r;
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
     * @throws IOException if mmap fails (an {@link ErrnoException})
     */
    public static MemorySegment mapShared(int fd, long capacity, Arena arena) throws IOException {
        MethodHandle h = handle(Mmap.H);
        long address;
        try {
            MemorySegment state = captureState();
            address = h == null ? -Errno.ENOSYS : result((long) h.invokeExact(state, 0L, capacity, PROT_READ_WRITE,
                    MAP_SHARED, fd, 0L), state);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (address < 0) {
            throw new ErrnoException("mmap", (int) -address, null, 0, capacity, null);
        }
        return Restricted.mapped(address, capacity, arena, () -> unmap(address, capacity));
    }

    private static void unmap(long address, long length) {
        MethodHandle h = handle(Munmap.H);
        try {
            MemorySegment state = captureState();
            int r = h == null ? -Errno.ENOSYS : result((int) h.invokeExact(state, address, length), state);
            if (r != 0) {
                LOG.error("mkwrite: munmap of {} bytes failed: {}", length, Errno.name(-r));
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
        MethodHandle h = handle(Msync.H);
        if (h == null) {
            return -Errno.ENOSYS;
        }
        long start = mapping.address() + offset;
        long aligned = start & -osPage;
        try {
            MemorySegment state = captureState();
            return result((int) h.invokeExact(state, aligned, length + (start - aligned), MS_SYNC), state);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code pread(fd, buffer, buffer.byteSize(), offset)}, or with {@code write} {@code pwrite}: one
     * transfer, which may move fewer bytes than asked (a read at the end of the file moves none). Blocks
     * the calling thread; unlike a channel's I/O, an interrupt neither stops it nor closes the descriptor.
     *
     * @param fd     the descriptor
     * @param buffer native memory to read into, or to write from
     * @param offset the file offset
     * @param write  pwrite rather than pread
     * @return the bytes moved, or {@code -errno}
     */
    public static long transfer(int fd, MemorySegment buffer, long offset, boolean write) {
        MethodHandle h = handle(write ? Pwrite.H : Pread.H);
        if (h == null) {
            return -Errno.ENOSYS;
        }
        try {
            MemorySegment state = captureState();
            return result((long) h.invokeExact(state, fd, buffer, buffer.byteSize(), offset), state);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code ftruncate(fd, length)}.
     *
     * @param fd     the descriptor
     * @param length the new size
     * @return 0, or {@code -errno}
     */
    public static int ftruncate(int fd, long length) {
        MethodHandle h = handle(Ftruncate.H);
        if (h == null) {
            return -Errno.ENOSYS;
        }
        try {
            MemorySegment state = captureState();
            return result((int) h.invokeExact(state, fd, length), state);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code MEMBARRIER_CMD_QUERY}: returns the mask of the commands the kernel supports. */
    public static final int MEMBARRIER_CMD_QUERY = 0;
    /** {@code MEMBARRIER_CMD_PRIVATE_EXPEDITED} (Linux 4.14): a barrier on every running thread of this process. */
    public static final int MEMBARRIER_CMD_PRIVATE_EXPEDITED = 1 << 3;
    /** {@code MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED}: the registration the command above needs first. */
    public static final int MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED = 1 << 4;

    /**
     * {@code membarrier(cmd, 0, 0)}, through {@code syscall(2)}.
     *
     * @param cmd the command
     * @return the call's result (for {@link #MEMBARRIER_CMD_QUERY}, a mask of commands), or {@code -errno}
     */
    public static long membarrier(int cmd) {
        MethodHandle h = handle(Membarrier.H);
        if (h == null) {
            return -Errno.ENOSYS;
        }
        try {
            MemorySegment state = captureState();
            return result((long) h.invokeExact(state, SYS_MEMBARRIER, cmd, 0, 0), state);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The membarrier system call's number: 324 on x86-64, 283 in the generic table (AArch64, RISC-V). */
    private static final long SYS_MEMBARRIER = isX86() ? 324 : 283;

    private static boolean isX86() {
        String arch = System.getProperty("os.arch", "");
        return arch.equals("amd64") || arch.equals("x86_64");
    }

    /**
     * {@code strerror(errno)}: the C library's description in this process's locale.
     *
     * @param errno the errno, positive
     * @return the description, or null without native access
     */
    public static String strerror(int errno) {
        if (UNAVAILABLE != null || Strerror.H == null) {
            return null;
        }
        try {
            MemorySegment s = (MemorySegment) Strerror.H.invokeExact(errno);
            return s.equals(MemorySegment.NULL) ? null : Restricted.cString(s, MAX_STRERROR);
        } catch (Throwable t) {
            return null;
        }
    }

    /**
     * The symbolic name of an errno; the same as {@link Errno#name(int)}, kept for the core's call sites.
     *
     * @param errno the errno, positive
     * @return the name
     */
    public static String errnoName(int errno) {
        return Errno.name(errno);
    }

    /**
     * The C library's description of an errno; the same as {@link Errno#describe(int)}, kept for the core's
     * call sites.
     *
     * @param errno the errno, positive
     * @return the description
     */
    public static String describe(int errno) {
        return Errno.describe(errno);
    }

    // ---------------------------------------------------------------------------------------------
    // Helpers

    /** The handle, or null if its function is missing; throws if native calls may not be used at all. */
    private static MethodHandle handle(MethodHandle h) {
        if (UNAVAILABLE != null) {
            throw new UnsupportedOperationException("native calls are unavailable: " + UNAVAILABLE);
        }
        return h;
    }

    /**
     * Binds {@code name} with errno captured into a leading {@link MemorySegment} argument, and if
     * {@code retryEintr} wrapped in the one EINTR loop: call; while it returned -1 with errno EINTR, call
     * again. Null (logged) if the C library lacks the function or native calls are unavailable.
     */
    private static MethodHandle bind(String name, boolean retryEintr, FunctionDescriptor descriptor,
                                     Linker.Option... options) {
        Linker.Option[] all = new Linker.Option[options.length + 1];
        all[0] = Linker.Option.captureCallState("errno");
        System.arraycopy(options, 0, all, 1, options.length);
        MethodHandle call = Restricted.downcall(name, descriptor, all);
        return call == null || !retryEintr ? call : retryingEintr(call);
    }

    /** {@code call}, type {@code (MemorySegment state, A...) -> R}, retried while it fails with EINTR. */
    private static MethodHandle retryingEintr(MethodHandle call) {
        MethodType type = call.type();
        Class<?> r = type.returnType();
        MethodHandle body = MethodHandles.dropArguments(call, 0, r); // (R previous, state, A...) -> R
        MethodHandle again = MethodHandles.dropArguments(r == int.class ? Capture.INTERRUPTED_INT
                : Capture.INTERRUPTED_LONG, 2, type.parameterList().subList(1, type.parameterCount()));
        return MethodHandles.doWhileLoop(null, body, again); // (state, A...) -> R
    }

    private static int result(int r, MemorySegment state) {
        return r != -1 ? r : -errno(state);
    }

    private static long result(long r, MemorySegment state) {
        return r != -1L ? r : -errno(state);
    }

    private static MemorySegment captureState() {
        MemorySegment s = CAPTURE.get();
        if (s == null) {
            s = Arena.ofAuto().allocate(Capture.LAYOUT); // freed once the thread and its value are gone
            CAPTURE.set(s);
        }
        return s;
    }

    private static int errno(MemorySegment state) {
        return (int) Capture.ERRNO.get(state, 0L);
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
