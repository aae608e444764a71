package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.MappedRegion;
import dev.mkwrite.WriteFaultHandler;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.Pipe;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A channel write of a read view's buffer (a zero-copy send of the region's bytes, as a log server makes)
 * holds the view's arena for the whole call, and a shared arena so held cannot be closed. A truncate or a
 * close that must unmap that mapping waits for the call to end, then does its work. Before, the unmap
 * threw IllegalStateException: the truncate reported a failure naming no file after the region had shrunk,
 * left the file long with nothing to trim it, and a grow then brought the discarded pages back; the close
 * left its mappings mapped.
 */
class ViewInChannelTest {

    private static final int PAGE = 4096;
    private static final int PAGES = 64; // 256 KiB: more than a pipe holds, so the write blocks

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldTruncateOnceAChannelWriteOfAViewEnds(Backing backing) throws Exception {
        Path file = dir.resolve("truncate-" + backing);
        try (MappedRegion region = open(file, backing)) {
            sendWhile(region, () -> region.truncate(2L * PAGE));
            assertEquals(2L * PAGE, region.size());
            assertEquals(2L * PAGE, Files.size(file), "the file was not shortened");
            region.grow(4L * PAGE);
            assertEquals(0, region.getLong(2L * PAGE + 8), "the discarded page 2 came back");
            assertEquals(2, region.getLong(PAGE + 8));
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldCloseOnceAChannelWriteOfAViewEnds(Backing backing) throws Exception {
        Path file = dir.resolve("close-" + backing);
        MappedRegion region = open(file, backing);
        java.lang.foreign.MemorySegment other = region.view(0, 8);
        sendWhile(region, region::close);
        assertTrue(region.isClosed());
        assertTrue(!other.scope().isAlive(), "the region's memory is still mapped after close");
    }

    /**
     * A grow that maps anew retires the old mapping, which the unmapper thread unmaps once its writers left;
     * a channel write of a view of it holds it off. The unmapper tries again until the write ends. Before, it
     * logged the failure and dropped the mapping, which stayed mapped for good.
     */
    @org.junit.jupiter.api.Test
    void shouldUnmapARetiredMappingOnceAChannelWriteOfAViewOfItEnds() throws Exception {
        Path file = dir.resolve("retired");
        try (MappedRegion region = open(file, Backing.MEMORY_SEGMENT)) {
            java.lang.foreign.MemorySegment old = region.view(0, 8);
            ByteBuffer view = region.viewBuffer(0, (long) PAGES * PAGE);
            Pipe pipe = Pipe.open();
            Thread sender = Thread.ofPlatform().start(() -> {
                try {
                    while (view.hasRemaining()) {
                        pipe.sink().write(view);
                    }
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            awaitInChannelWrite(sender);
            region.grow(4L << 20); // past a native mapping's room: maps anew, retires the old mapping
            Thread.sleep(100);
            assertTrue(old.scope().isAlive(), "the old mapping was unmapped under the channel write");
            ByteBuffer received = ByteBuffer.allocate(PAGES * PAGE);
            while (received.hasRemaining()) {
                pipe.source().read(received);
            }
            sender.join();
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (old.scope().isAlive() && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertTrue(!old.scope().isAlive(), "the retired mapping was never unmapped");
            assertEquals(2, region.getLong(PAGE + 8));
            pipe.sink().close();
            pipe.source().close();
        }
    }

    private static MappedRegion open(Path file, Backing backing) throws IOException {
        MappedRegion region = MappedRegion.builder(file).size((long) PAGES * PAGE).pageSize(PAGE).backing(backing)
                .handler(WriteFaultHandler.none()).open();
        for (int p = 0; p < PAGES; p++) {
            region.putLong((long) p * PAGE + 8, p + 1);
        }
        return region;
    }

    /** An operation that may throw. */
    interface Op {
        void run() throws Exception;
    }

    /**
     * Writes the whole region's view into a pipe nobody reads yet, so the write blocks inside the channel
     * with the view's arena held; runs {@code op} on another thread, which must wait; then drains the pipe and
     * checks that the write sent every byte and that {@code op} ended without a failure.
     */
    private static void sendWhile(MappedRegion region, Op op) throws Exception {
        ByteBuffer view = region.viewBuffer(0, (long) PAGES * PAGE);
        Pipe pipe = Pipe.open();
        AtomicReference<Throwable> sendFailure = new AtomicReference<>();
        Thread sender = Thread.ofPlatform().start(() -> {
            try {
                while (view.hasRemaining()) {
                    pipe.sink().write(view);
                }
            } catch (Throwable t) {
                sendFailure.set(t);
            }
        });
        awaitInChannelWrite(sender);
        AtomicReference<Throwable> opFailure = new AtomicReference<>();
        Thread operation = Thread.ofPlatform().start(() -> {
            try {
                op.run();
            } catch (Throwable t) {
                opFailure.set(t);
            }
        });
        operation.join(300);
        assertTrue(operation.isAlive(), "the operation did not wait for the channel write: " + opFailure.get());

        ByteBuffer received = ByteBuffer.allocate(PAGES * PAGE).order(ByteOrder.LITTLE_ENDIAN);
        while (received.hasRemaining()) {
            pipe.source().read(received);
        }
        sender.join();
        operation.join();
        assertNull(sendFailure.get(), "the channel write failed");
        assertNull(opFailure.get(), "the operation failed");
        for (int p = 0; p < PAGES; p++) {
            assertEquals(p + 1, received.getLong(p * PAGE + 8), "page " + p + " as sent");
        }
        pipe.sink().close();
        pipe.source().close();
    }

    /** Waits until {@code sender} is inside the channel's write, which holds the view's arena. */
    private static void awaitInChannelWrite(Thread sender) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (System.nanoTime() < deadline) {
            if (Arrays.stream(sender.getStackTrace()).anyMatch(f -> f.getMethodName().startsWith("write0"))) {
                Thread.sleep(50); // in the system call: the arena was acquired before it
                return;
            }
            Thread.sleep(5);
        }
        throw new AssertionError("the channel write never blocked");
    }
}
