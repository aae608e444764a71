package dev.mkwrite.impl.storage;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A test's seam ({@link GranuleAllocator#afterGranuleForTests}, {@link ZeroFill#afterNeighboursForTests})
 * that holds the first thread to reach it until {@link #release()}, or 30 seconds, so that another fault
 * runs while that thread is there; every later one passes. Release it in a {@code finally}, or the held
 * thread waits out the 30 seconds.
 */
final class SeamHold implements Runnable {

    private final CountDownLatch reached = new CountDownLatch(1);
    private final CountDownLatch released = new CountDownLatch(1);
    private final AtomicBoolean first = new AtomicBoolean(true);

    @Override
    public void run() {
        if (first.compareAndSet(true, false)) {
            reached.countDown();
            try {
                released.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Waits until a thread is held: false if none is within 30 seconds. */
    boolean awaitReached() throws InterruptedException {
        return reached.await(30, TimeUnit.SECONDS);
    }

    /** Lets the held thread, and any to come, go on. */
    void release() {
        released.countDown();
    }
}
