package dev.mkwrite.impl.os;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.function.Consumer;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Every native call of mkwrite (the storage handlers, the native mapping and {@code MappedRegion.punchHole}),
 * in one place: {@code open}, {@code close}, {@code lseek}, {@code fallocate}, {@code posix_fadvise},
 * {@code madvise}, {@code mmap}, {@code munmap}, {@code msync}, {@code ftruncate}, {@code pread},
 * {@code pwrite}, {@code strerror} and {@code syscall} (for {@code membarrier}) from the C library,
 * bound through the FFM {@link Linker}.
 *
 * <h2>Binding</h2>
 * Nothing is bound unless {@link Module#isNativeAccessEnabled()} is true for this class's module, so a JVM
 * started without {@code --enable-native-access} never prints the JDK's restricted-method warning;
 * {@link NativeAccess#available()} is then false and {@link NativeAccess#logUnavailableOnce(String)} tells the user, once per JVM,
 * the exact flag to add. Binding is also skipped on operating systems and architectures whose flag values
 * this class does not know (only Linux on x86-64, AArch64 and RISC-V 64 are bound).
 *
 * <p>Each function is bound on its first call, in a holder class of its own (so the handle is a
 * {@code static final} constant the JIT inlines): a JVM that never punches a hole never looks up
 * {@code fallocate}, and class initialisation costs no downcall stubs. Every binding goes through
 * {@code Restricted.downcall}, the one place that calls restricted methods. A function the C library lacks
 * reports {@code ENOSYS}.
 *
 * <h2>One shape</h2>
 * The linker spins a downcall stub (generated classes, lambda forms) for each distinct function
 * descriptor and set of options, the first one of a JVM costing well over 100 ms of its cold start and
 * each further shape about 15 ms (BENCHMARKS.md, row 8). So every function that takes no Java-owned memory
 * is bound with the same {@link Shape}: six {@code long} arguments, a {@code long} result, errno captured,
 * variadic from the third argument, and the linker's cache hands each later binding the stub it spun for
 * the first. This is exact on the C ABIs bound here (System V x86-64, AAPCS64 as Linux uses it, RISC-V
 * LP64D), where the first six integer or pointer arguments go in the same six registers whether named or
 * variadic, and a caller may pass more arguments than the callee reads:
 * <ul>
 *   <li>an {@code int} argument is passed as the {@code long} Java widens it to (sign-extended, as RISC-V
 *   requires of an {@code int} in a register), a pointer as its address, an unused one as 0;</li>
 *   <li>an {@code int} result is the low 32 bits of the {@code long} (the upper ones are undefined on
 *   x86-64 and AArch64), which is what {@code (int)} keeps;</li>
 *   <li>for the variadic functions ({@code open}, {@code fcntl}) x86-64 wants {@code %al} to bound the
 *   vector registers used, which the variadic option sets (to 0); a function that is not variadic ignores
 *   it.</li>
 * </ul>
 * {@code madvise} keeps a descriptor of its own: its memory is a segment another thread could close, and
 * passing it as an {@code ADDRESS} keeps its arena open for the call. It is not on a cold start's path.
 * {@code strerror} captures nothing and runs only to describe a failure.
 *
 * <h2>Calls</h2>
 * Each call returns its result or a negated {@code errno}, captured with
 * {@link Linker.Option#captureCallState(String...)} into a per-thread buffer, so no call allocates after
 * the thread's first. {@code EINTR} is retried, by a loop around the call in the methods whose function
 * can report it ({@code open}, {@code fcntl}, {@code fallocate}, {@code madvise}, {@code ftruncate},
 * {@code pread}, {@code pwrite}), and never reported. All methods are thread-safe.
 */
public final class PosixNative {

    private static final LazyLogger LOG = new LazyLogger(PosixNative.class);

    /** {@code O_RDWR | O_CLOEXEC} (the same value on every architecture bound here). */
    private static final int O_RDWR_CLOEXEC = 0x2 | 0x80000;
    /** {@code FALLOC_FL_KEEP_SIZE}: allocate without changing the file's size. */
    public static final int FALLOC_FL_KEEP_SIZE = 0x1;
    /** Deallocates the range; must be combined with {@link #FALLOC_FL_KEEP_SIZE}. */
    public static final int FALLOC_FL_PUNCH_HOLE = 0x2;
    /**
     * {@code FALLOC_FL_ZERO_RANGE} (Linux 3.15; ext4, XFS): the range reads as zero and keeps its blocks,
     * as unwritten extents, getting them where it was a hole.
     */
    public static final int FALLOC_FL_ZERO_RANGE = 0x10;
    /** {@code POSIX_FADV_RANDOM}: no readahead through the descriptor's open file. */
    private static final int POSIX_FADV_RANDOM = 1;
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

    /** Why nothing may be bound, or null if binding may be tried ({@link NativeAccess}). */
    private static final String UNAVAILABLE = NativeAccess.unavailableReason();

    private static final ThreadLocal<MemorySegment> CAPTURE = new ThreadLocal<>();

    private PosixNative() {
    }

    // ---------------------------------------------------------------------------------------------
    // The functions, each bound when its holder is first used

    private static final class Open {
        /** {@code open(path, flags, mode)}: the mode is variadic. */
        static final MethodHandle H = bindShared("open");
    }

    private static final class Fcntl {
        /** {@code fcntl(fd, cmd, struct flock *)}: the third argument is variadic. */
        static final MethodHandle H = bindShared("fcntl");
    }

    private static final class Close {
        static final MethodHandle H = bindShared("close");
    }

    private static final class Lseek {
        static final MethodHandle H = bindShared("lseek");
    }

    private static final class Fallocate {
        static final MethodHandle H = bindShared("fallocate");
    }

    /** {@code posix_fadvise} reports its error as its result, and sets no errno. */
    private static final class Fadvise {
        static final MethodHandle H = bindShared("posix_fadvise");
    }

    private static final class Madvise {
        static final MethodHandle H = bind("madvise", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    }

    private static final class Mmap {
        static final MethodHandle H = bindShared("mmap");
    }

    private static final class Munmap {
        static final MethodHandle H = bindShared("munmap");
    }

    private static final class Msync {
        static final MethodHandle H = bindShared("msync");
    }

    /**
     * {@code syscall(number, ...)}, for the calls the C library has no wrapper for ({@code membarrier}) or
     * that are made by number ({@code fstatfs}, {@code fstat}). Every argument after the number is variadic
     * and read as a {@code long}, so the shared shape fits it exactly.
     */
    private static final class Syscall {
        static final MethodHandle H = bindShared("syscall");
    }

    /** {@code pread} and {@code pwrite} keep descriptors of their own, as madvise: their buffer is a segment. */
    private static final class Pread {
        static final MethodHandle H = bind("pread", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG,
                JAVA_LONG));
    }

    private static final class Pwrite {
        static final MethodHandle H = bind("pwrite", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG,
                JAVA_LONG));
    }

    private static final class Ftruncate {
        static final MethodHandle H = bindShared("ftruncate");
    }

    /** {@code strerror} captures no errno: it is the only call that cannot fail. */
    private static final class Strerror {
        static final MethodHandle H = Restricted.downcall("strerror", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    }

    /** The errno capture buffer's layout, and where errno is in it. */
    private static final class Capture {
        static final StructLayout LAYOUT = Linker.Option.captureStateLayout();
        static final long ERRNO = offsetOf("errno");

        /**
         * The member's offset, found by walking the members: a layout path ({@code byteOffset(groupElement)})
         * would load the path machinery and spin lambda forms on a cold start.
         */
        private static long offsetOf(String name) {
            long offset = 0;
            for (MemoryLayout member : LAYOUT.memberLayouts()) {
                if (name.equals(member.name().orElse(null))) {
                    return offset;
                }
                offset += member.byteSize();
            }
            throw new IllegalStateException("the capture state layout has no " + name + ": " + LAYOUT);
        }
    }

    /**
     * The descriptor and options every function but {@code madvise} and {@code strerror} is bound with; see
     * the class documentation.
     */
    private static final class Shape {
        static final FunctionDescriptor DESCRIPTOR = FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG,
                JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG);
        static final Linker.Option[] OPTIONS = {Linker.Option.captureCallState("errno"),
            Linker.Option.firstVariadicArg(2)};
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
            MemorySegment cPath = cString(arena, path.toAbsolutePath().toString());
            MemorySegment state = captureState();
            int r;
            do {
                r = (int) (long) h.invokeExact(state, cPath.address(), (long) O_RDWR_CLOEXEC, 0L, 0L, 0L, 0L);
            } while (interrupted(r, state));
            return result(r, state);
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
            // l_type, by a copy from a heap array: set(JAVA_SHORT) would spin a var handle on a cold start
            MemorySegment.copy(MemorySegment.ofArray(new short[] {F_WRLCK}), 0, flock, 0, Short.BYTES);
            MemorySegment state = captureState();
            int r;
            do {
                r = (int) (long) h.invokeExact(state, (long) fd, (long) F_OFD_SETLK, flock.address(), 0L, 0L, 0L);
            } while (interrupted(r, state));
            return result(r, state);
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
            return result((int) (long) h.invokeExact(state, (long) fd, 0L, 0L, 0L, 0L, 0L), state);
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
            return result((long) h.invokeExact(state, (long) fd, 0L, (long) SEEK_END, 0L, 0L, 0L), state);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code fallocate(fd, mode, offset, length)}.
     *
     * @param fd     the descriptor
     * @param mode   0, {@link #FALLOC_FL_KEEP_SIZE}, or that with {@link #FALLOC_FL_PUNCH_HOLE} or
     *               {@link #FALLOC_FL_ZERO_RANGE}
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
            int r;
            do {
                r = (int) (long) h.invokeExact(state, (long) fd, (long) mode, offset, length, 0L, 0L);
            } while (interrupted(r, state));
            return result(r, state);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM)}: reads through {@code fd}'s open file get no
     * readahead from now on, so they bring the file into the page cache in single pages (Linux: order-0
     * folios) where readahead would bring large folios. Not retried: it cannot report EINTR.
     *
     * @param fd the descriptor
     * @return 0, or {@code -errno}
     */
    public static int adviseRandom(int fd) {
        MethodHandle h = handle(Fadvise.H);
        if (h == null) {
            return -Errno.ENOSYS;
        }
        try {
            MemorySegment state = captureState();
            return -(int) (long) h.invokeExact(state, (long) fd, 0L, 0L, (long) POSIX_FADV_RANDOM, 0L, 0L);
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
                int r;
                do {
                    r = (int) h.invokeExact(state, memory, length, advice);
                } while (interrupted(r, state));
                r = result(r, state);
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
            address = h == null ? -Errno.ENOSYS : result((long) h.invokeExact(state, 0L, capacity,
                    (long) PROT_READ_WRITE, (long) MAP_SHARED, (long) fd, 0L), state);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (address < 0) {
            throw new ErrnoException("mmap", (int) -address, null, 0, capacity, null);
        }
        return Restricted.mapped(address, capacity, arena, new Unmap(address, capacity));
    }

    /** Unmaps a mapping of {@link #mapShared} when its arena closes (a class, not a lambda: see row 8). */
    private record Unmap(long address, long length) implements Consumer<MemorySegment> {
        @Override
        public void accept(MemorySegment unused) {
            unmap(address, length);
        }
    }

    private static void unmap(long address, long length) {
        MethodHandle h = handle(Munmap.H);
        try {
            MemorySegment state = captureState();
            int r = h == null ? -Errno.ENOSYS : result((int) (long) h.invokeExact(state, address, length, 0L, 0L, 0L,
                    0L), state);
            if (r != 0) {
                LOG.get().error("mkwrite: munmap of {} bytes failed: {}", length, Errno.name(-r));
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
            return result((int) (long) h.invokeExact(state, aligned, length + (start - aligned), (long) MS_SYNC, 0L,
                    0L, 0L), state);
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
            long r;
            do {
                r = (long) h.invokeExact(state, fd, buffer, buffer.byteSize(), offset);
            } while (r == -1L && errno(state) == Errno.EINTR);
            return result(r, state);
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
            int r;
            do {
                r = (int) (long) h.invokeExact(state, (long) fd, length, 0L, 0L, 0L, 0L);
            } while (interrupted(r, state));
            return result(r, state);
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
        MethodHandle h = handle(Syscall.H);
        if (h == null) {
            return -Errno.ENOSYS;
        }
        try {
            MemorySegment state = captureState();
            return result((long) h.invokeExact(state, SYS_MEMBARRIER, (long) cmd, 0L, 0L, 0L, 0L), state);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The membarrier system call's number: 324 on x86-64, 283 in the generic table (AArch64, RISC-V). */
    private static final long SYS_MEMBARRIER = isX86() ? 324 : 283;
    /** {@code fstat}'s number: 5 on x86-64, 80 in the generic table. */
    private static final long SYS_FSTAT = isX86() ? 5 : 80;
    /** {@code fstatfs}'s number: 138 on x86-64, 44 in the generic table. */
    private static final long SYS_FSTATFS = isX86() ? 138 : 44;
    /** Room for {@code struct stat} (144 bytes on x86-64, 128 on AArch64) and {@code struct statfs} (120). */
    private static final long STAT_BUFFER = 256;

    /**
     * The device a descriptor's file is on: {@code st_dev} of {@code fstat(fd)}, through {@code syscall(2)}
     * (the C library exports {@code fstat} only since glibc 2.33). {@code st_dev} is the first field of the
     * kernel's {@code struct stat} on x86-64 and AArch64.
     *
     * @param fd the descriptor
     * @return the device number, or {@code -errno}
     */
    public static long deviceOf(int fd) {
        return firstLongOfStat(SYS_FSTAT, fd);
    }

    /**
     * The filesystem a descriptor's file is on: {@code f_type} of {@code fstatfs(fd)}, through
     * {@code syscall(2)}; the first field of the kernel's {@code struct statfs} on 64-bit Linux.
     *
     * @param fd the descriptor
     * @return the filesystem's magic number (for example {@link #TMPFS_MAGIC}), or {@code -errno}
     */
    public static long filesystemTypeOf(int fd) {
        return firstLongOfStat(SYS_FSTATFS, fd);
    }

    /**
     * The filesystem a path is on: {@code f_type} of {@code statfs(path)}, through {@code syscall(2)}. Opens
     * no descriptor, so it cannot drop a POSIX lock this process holds on the file.
     *
     * @param path a file or directory
     * @return the filesystem's magic number, or {@code -errno} ({@code ENOENT} for a path that does not exist)
     * @throws UnsupportedOperationException without native access, as every call here
     */
    public static long filesystemTypeOf(Path path) {
        MethodHandle h = handle(Syscall.H); // the shared syscall(2) binding
        if (h == null) {
            return -Errno.ENOSYS;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cPath = cString(arena, path.toAbsolutePath().toString());
            return firstLong(h, arena, SYS_STATFS, cPath.address());
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code statfs}'s number: 137 on x86-64, 43 in the generic table. */
    private static final long SYS_STATFS = isX86() ? 137 : 43;

    /** {@code f_type} of a tmpfs. */
    public static final long TMPFS_MAGIC = 0x01021994L;
    /** {@code f_type} of ext2, ext3 and ext4, which share it. */
    public static final long EXT_SUPER_MAGIC = 0xEF53L;

    /** The first 8 bytes of what system call {@code number}{@code (fd, buffer)} writes, or {@code -errno}. */
    private static long firstLongOfStat(long number, int fd) {
        MethodHandle h = handle(Syscall.H); // the shared syscall(2) binding
        if (h == null) {
            return -Errno.ENOSYS;
        }
        try (Arena arena = Arena.ofConfined()) {
            return firstLong(h, arena, number, fd);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * System call {@code number}{@code (first, buffer)} through the {@code syscall(2)} binding {@code h},
     * with a buffer from {@code arena}: the buffer's first 8 bytes, or {@code -errno}.
     */
    private static long firstLong(MethodHandle h, Arena arena, long number, long first) throws Throwable {
        MemorySegment buffer = arena.allocate(STAT_BUFFER, Long.BYTES);
        MemorySegment state = captureState();
        long r = result((long) h.invokeExact(state, number, first, buffer.address(), 0L, 0L, 0L), state);
        if (r < 0) {
            return r;
        }
        long[] value = new long[1];
        // A bulk copy, not get(JAVA_LONG): no var handle for this path to spin.
        MemorySegment.copy(buffer, java.lang.foreign.ValueLayout.JAVA_LONG, 0, value, 0, 1);
        return value[0] < 0 ? -Errno.EINVAL : value[0]; // neither a device nor a magic number is negative
    }

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

    // ---------------------------------------------------------------------------------------------
    // Helpers

    /** The handle, or null if its function is missing; throws if native calls may not be used at all. */
    private static MethodHandle handle(MethodHandle h) {
        if (UNAVAILABLE != null) {
            throw new UnsupportedOperationException("native calls are unavailable: " + UNAVAILABLE);
        }
        return h;
    }

    /** Binds {@code name} with the one {@link Shape}; null (logged) as {@link Restricted#downcall} says. */
    private static MethodHandle bindShared(String name) {
        return Restricted.downcall(name, Shape.DESCRIPTOR, Shape.OPTIONS);
    }

    /**
     * Binds {@code name} with errno captured into a leading {@link MemorySegment} argument, for a function
     * that needs a descriptor of its own (most should use {@link #bindShared}: a new shape costs a cold
     * start a stub). Null (logged) if the C library lacks the function or native calls are unavailable.
     */
    private static MethodHandle bind(String name, FunctionDescriptor descriptor, Linker.Option... options) {
        Linker.Option[] all = new Linker.Option[options.length + 1];
        all[0] = Linker.Option.captureCallState("errno");
        System.arraycopy(options, 0, all, 1, options.length);
        return Restricted.downcall(name, descriptor, all);
    }

    /** The loop condition of the calls that retry EINTR: the call failed with it. */
    private static boolean interrupted(int result, MemorySegment state) {
        return result == -1 && errno(state) == Errno.EINTR;
    }

    /**
     * {@code s} as a NUL-terminated UTF-8 string in {@code arena}: the bytes of
     * {@code arena.allocateFrom(s)}, copied from a heap array, where {@code allocateFrom} writes the NUL
     * through a var handle that a cold start would spin (row 8).
     */
    private static MemorySegment cString(Arena arena, String s) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        MemorySegment c = arena.allocate(bytes.length + 1L); // zeroed: the last byte is the NUL
        MemorySegment.copy(MemorySegment.ofArray(bytes), 0, c, 0, bytes.length);
        return c;
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
        return state.get(JAVA_INT, Capture.ERRNO);
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
