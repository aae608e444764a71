package dev.mkwrite.benchmarks;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;

/**
 * {@code fallocate(2)} of a whole file, for the raw baselines that preallocate: the blocks are reserved
 * as unwritten extents and no page enters the page cache, as when mkwrite's fallocate handler prepares a
 * page. Linux only; needs {@code --enable-native-access=ALL-UNNAMED}.
 */
final class Fallocate {

    private static final int O_RDWR = 2;

    private Fallocate() {
    }

    /**
     * Allocates {@code [0, length)} of {@code file} and sets its size to {@code length} (mode 0).
     *
     * @param file   an existing file
     * @param length bytes to allocate
     * @throws IOException if a call fails, naming it and the errno
     */
    @SuppressWarnings("restricted")
    static void allocate(Path file, long length) throws IOException {
        Linker linker = Linker.nativeLinker();
        SymbolLookup libc = linker.defaultLookup();
        Linker.Option errno = Linker.Option.captureCallState("errno");
        MethodHandle open = linker.downcallHandle(libc.find("open").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT),
                errno, Linker.Option.firstVariadicArg(2));
        MethodHandle fallocate = linker.downcallHandle(libc.find("fallocate").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                        ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG), errno);
        MethodHandle close = linker.downcallHandle(libc.find("close").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(Linker.Option.captureStateLayout());
            MemorySegment name = arena.allocateFrom(file.toString());
            int fd = (int) open.invokeExact(state, name, O_RDWR);
            if (fd < 0) {
                throw new IOException("open(" + file + ") failed: errno " + errno(state));
            }
            try {
                int r = (int) fallocate.invokeExact(state, fd, 0, 0L, length);
                if (r != 0) {
                    throw new IOException("fallocate(" + file + ", 0, " + length + ") failed: errno " + errno(state));
                }
            } finally {
                int ignored = (int) close.invokeExact(fd);
            }
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("native call failed for " + file, t);
        }
    }

    private static int errno(MemorySegment state) {
        return (int) Linker.Option.captureStateLayout()
                .varHandle(java.lang.foreign.MemoryLayout.PathElement.groupElement("errno")).get(state, 0L);
    }
}
