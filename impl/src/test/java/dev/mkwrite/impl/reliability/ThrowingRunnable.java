package dev.mkwrite.impl.reliability;

/**
 * A piece of test code that may throw anything, for helpers that catch and classify what it throws. The one
 * definition for every test package ({@code RegionContract} uses it too).
 */
@FunctionalInterface
public interface ThrowingRunnable {
    /**
     * Runs it.
     *
     * @throws Exception whatever it throws
     */
    void run() throws Exception;
}
