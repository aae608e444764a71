package dev.mkwrite.impl.reliability;

import dev.mkwrite.MappedRegion;
import dev.mkwrite.RegionBuilder;
import dev.mkwrite.RegionStats;
import dev.mkwrite.WriteFaultHandler;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A JUnit 5 extension that fails a test which ends with a page pin held or a reservation outstanding.
 * Register it with {@code @RegisterExtension final LeakCheck leaks = new LeakCheck();}, open regions
 * through {@link #open(RegionBuilder)} (or hand them to {@link #track}), and wrap handlers with
 * {@link #counting(WriteFaultHandler)}.
 *
 * <p>After each test, for every tracked region:
 * <ol>
 *   <li>before closing it, if it is still open: no pin held ({@link RegionStats#pins()}), no page
 *   PREPARING or under writeback, and one outstanding reservation per WRITABLE page, no more;</li>
 *   <li>it is closed (idempotent), and then holds no pin and no outstanding reservation.</li>
 * </ol>
 * Then, for every counting handler: every reservation it issued was consumed or released exactly once.
 * All failures are reported together in one {@link AssertionError}.
 */
final class LeakCheck implements AfterEachCallback {

    /** How long close may take before the region counts as wedged (a pin that never drains). */
    static final long CLOSE_SECONDS = 20;

    private final List<MappedRegion> regions = new CopyOnWriteArrayList<>();
    private final List<CountingHandler> handlers = new CopyOnWriteArrayList<>();

    /**
     * Wraps {@code handler} so that its reservations are counted and checked after the test.
     *
     * @param handler the handler the test means to use
     * @return the counting handler to pass to the region
     */
    CountingHandler counting(WriteFaultHandler handler) {
        CountingHandler h = new CountingHandler(handler);
        handlers.add(h);
        return h;
    }

    /**
     * Tracks a region opened by the test.
     *
     * @param region the region
     * @return {@code region}
     */
    <R extends MappedRegion> R track(R region) {
        regions.add(region);
        return region;
    }

    /**
     * Opens a region and tracks it.
     *
     * @param builder the region's description
     * @return the open region
     * @throws IOException if opening failed
     */
    MappedRegion open(RegionBuilder builder) throws IOException {
        return track(builder.open());
    }

    /**
     * Checks a region that the test has finished writing to, but not closed: no pin, nothing in
     * preparation or writeback, and exactly one outstanding reservation per WRITABLE page.
     *
     * @param region the region
     * @return the problems found, empty if none
     */
    static List<String> quiescentProblems(MappedRegion region) {
        List<String> problems = new ArrayList<>();
        RegionStats s = region.stats();
        if (s.pins() != 0) {
            problems.add(s.pins() + " page pins held with no writer in flight");
        }
        if (s.preparingPages() != 0) {
            problems.add(s.preparingPages() + " pages PREPARING with no fault in flight");
        }
        if (s.writebackPages() != 0) {
            problems.add(s.writebackPages() + " pages under writeback with no flush in flight");
        }
        if (s.reservationsOutstanding() != s.writablePages() + s.preparedPages()) {
            problems.add(s.reservationsOutstanding() + " reservations outstanding for " + s.writablePages()
                    + " WRITABLE and " + s.preparedPages() + " PREPARED pages (each holds exactly one)");
        }
        return problems;
    }

    /**
     * Closes {@code region} on a daemon thread and waits at most {@code seconds} for it: a region whose
     * pins never drain (a broken variant) would otherwise hang the test run, as extension callbacks have
     * no JUnit timeout.
     *
     * @return null if it closed, else what went wrong
     */
    static String closeWithin(MappedRegion region, long seconds) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        Thread.ofPlatform().daemon(true).name("leak-check-close").start(() -> {
            try {
                region.close();
                done.complete(null);
            } catch (Throwable t) {
                done.completeExceptionally(t);
            }
        });
        try {
            done.get(seconds, TimeUnit.SECONDS);
            return null;
        } catch (TimeoutException e) {
            return "close did not finish within " + seconds + " s (a pin that never drains?); stats "
                    + region.stats();
        } catch (ExecutionException e) {
            return "close failed: " + e.getCause();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted while closing";
        }
    }

    @Override
    public void afterEach(ExtensionContext context) {
        List<String> problems = new ArrayList<>();
        for (MappedRegion region : regions) {
            if (!region.isClosed()) {
                for (String p : quiescentProblems(region)) {
                    problems.add(region.path().getFileName() + " before close: " + p);
                }
            }
            String closeFailure = closeWithin(region, CLOSE_SECONDS);
            if (closeFailure != null) {
                problems.add(region.path().getFileName() + ": " + closeFailure);
                continue; // a wedged region's counters say nothing more
            }
            RegionStats s = region.stats();
            if (s.pins() != 0) {
                problems.add(region.path().getFileName() + " after close: " + s.pins() + " page pins held");
            }
            if (s.reservationsOutstanding() != 0 || s.reservedBytes() != 0) {
                problems.add(region.path().getFileName() + " after close: " + s.reservationsOutstanding()
                        + " reservations (" + s.reservedBytes() + " bytes) outstanding");
            }
        }
        for (CountingHandler h : handlers) {
            List<String> bad = h.unbalanced();
            if (!bad.isEmpty()) {
                problems.add(bad.size() + " of " + h.issued() + " reservations did not end exactly once, e.g. "
                        + bad.subList(0, Math.min(5, bad.size())));
            }
        }
        regions.clear();
        handlers.clear();
        if (!problems.isEmpty()) {
            throw new AssertionError("leak check of " + context.getDisplayName() + ": " + String.join("; ", problems));
        }
    }
}
