package dev.mkwrite.impl.os;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** An operation runs on an mkwrite-io thread; the caller's interrupt stops it at a check and never early. */
class BlockingIoTest {

    @AfterEach
    void clearInterrupt() {
        Thread.interrupted();
    }

    @Test
    void shouldRunTheOperationOnAnIoThreadAndReturnItsResult() throws IOException {
        String thread = BlockingIo.call(cancel -> Thread.currentThread().getName());
        assertTrue(thread.startsWith("mkwrite-io-"), thread);
        assertTrue(Thread.currentThread() != null);
    }

    @Test
    void shouldRethrowTheOperationsExceptionAsItIs() {
        IOException failure = new IOException("disk on fire");
        assertSame(failure, assertThrows(IOException.class, () -> BlockingIo.call(cancel -> {
            throw failure;
        })));
        IllegalStateException bug = new IllegalStateException("bug");
        assertSame(bug, assertThrows(IllegalStateException.class, () -> BlockingIo.call(cancel -> {
            throw bug;
        })));
    }

    @Test
    void shouldRunNothingForACallerAlreadyInterrupted() {
        AtomicBoolean ran = new AtomicBoolean();
        Thread.currentThread().interrupt();
        assertThrows(InterruptedIOException.class, () -> BlockingIo.call(cancel -> ran.getAndSet(true)));
        assertTrue(Thread.interrupted(), "the interrupt status stays set");
        assertFalse(ran.get());
    }

    @Test
    void shouldStopAtTheNextCheckAndReturnOnlyOnceTheOperationHasReturned() throws Exception {
        CountDownLatch started = new CountDownLatch(1);
        AtomicBoolean returned = new AtomicBoolean();
        AtomicReference<Throwable> seen = new AtomicReference<>();
        AtomicBoolean interruptedAfter = new AtomicBoolean();
        AtomicBoolean returnedBeforeCaller = new AtomicBoolean();
        Thread caller = Thread.ofPlatform().start(() -> {
            try {
                BlockingIo.call(cancel -> {
                    started.countDown();
                    while (!cancel.requested()) {
                        Thread.onSpinWait(); // a step of I/O, until the caller is interrupted
                    }
                    try {
                        Thread.sleep(100); // the step in progress finishes; the caller must wait for it
                    } catch (InterruptedException e) {
                        throw new AssertionError("nobody may interrupt an I/O thread", e);
                    }
                    returned.set(true);
                    cancel.check();
                    return null;
                });
            } catch (Throwable t) {
                returnedBeforeCaller.set(returned.get());
                seen.set(t);
                interruptedAfter.set(Thread.currentThread().isInterrupted());
            }
        });
        assertTrue(started.await(10, TimeUnit.SECONDS));
        caller.interrupt();
        caller.join();
        assertEquals(InterruptedIOException.class, seen.get().getClass(), String.valueOf(seen.get()));
        assertTrue(returnedBeforeCaller.get(), "the caller returned while the operation still ran");
        assertTrue(interruptedAfter.get(), "the caller's interrupt status is set again");
    }

    @Test
    void shouldReturnTheResultOfAnOperationThatFinishedDespiteTheInterrupt() throws Exception {
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch interrupted = new CountDownLatch(1);
        AtomicReference<Object> result = new AtomicReference<>();
        Thread caller = Thread.ofPlatform().start(() -> {
            try {
                result.set(BlockingIo.call(cancel -> {
                    started.countDown();
                    try {
                        interrupted.await();
                    } catch (InterruptedException e) {
                        throw new AssertionError(e);
                    }
                    return "done"; // never checks: the last step was already done
                }));
                result.compareAndSet("done", Thread.currentThread().isInterrupted() ? "done, interrupted" : "done");
            } catch (IOException e) {
                result.set(e);
            }
        });
        assertTrue(started.await(10, TimeUnit.SECONDS));
        caller.interrupt();
        Thread.sleep(20);
        interrupted.countDown();
        caller.join();
        assertEquals("done, interrupted", result.get());
    }
}
