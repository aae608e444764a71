package dev.mkwrite.impl;

import dev.mkwrite.impl.os.LazyLogger;

import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * Unmaps mappings a grow has retired, off the grow's path: one daemon thread for the JVM, started on
 * the first retirement and ended after a few idle seconds.
 *
 * <p>Closing a shared arena unmaps the file and handshakes every Java thread; that took 45-57 us at the
 * median and up to 190 us at p99 on the benchmark machine, several times the rest of a grow. A region
 * hands its reaper here; the reaper closes what has no user left and says whether anything remains, and
 * is asked again every {@value #POLL_MICROS} us until nothing does.
 */
final class Unmapper {

    private static final LazyLogger LOG = new LazyLogger(Unmapper.class);
    private static final long POLL_MICROS = 500;
    private static final ScheduledThreadPoolExecutor EXECUTOR = executor();

    private Unmapper() {
    }

    private static ScheduledThreadPoolExecutor executor() {
        ScheduledThreadPoolExecutor executor = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "mkwrite-unmapper");
            t.setDaemon(true);
            return t;
        });
        executor.setKeepAliveTime(5, TimeUnit.SECONDS);
        executor.allowCoreThreadTimeOut(true);
        executor.setRemoveOnCancelPolicy(true);
        return executor;
    }

    /** Runs {@code reaper} soon, and again while it returns true. */
    static void schedule(BooleanSupplier reaper) {
        EXECUTOR.schedule(() -> run(reaper), POLL_MICROS, TimeUnit.MICROSECONDS);
    }

    private static void run(BooleanSupplier reaper) {
        boolean more;
        try {
            more = reaper.getAsBoolean();
        } catch (RuntimeException | Error e) {
            LOG.get().error("mkwrite: unmapping a retired mapping failed; it stays mapped until its region closes", e);
            return;
        }
        if (more) {
            schedule(reaper);
        }
    }
}
