/*
 * G3 (progress) for write fault-around: a writer that waits for a page of another fault's run wakes when
 * the run is published. The faulting page's own publish wakes waiters before the run's pages leave
 * PREPARING, so a writer woken by it can find its page still PREPARING and wait again; only the run's own
 * wake-up ends that wait (FaultPath.awaitChange does not poll).
 *
 * A region of two pages whose handler takes page 1 around its fault on page 0, then works a little.
 * Writer A opens a span over page 0 (the fault) and holds it until B is done, or HOLD_SECONDS: an appender
 * that keeps its span open, so A's unpin, which wakes waiters too, comes after B. Writer B spins
 * (bounded) until page 1 leaves CLEAN, then writes page 1: it waits for A's run (page 1 PREPARING),
 * enters page 1 PREPARED (A was quicker), or faults it itself (the spin ran out), and must not wait long
 * in any case.
 *   r1: 1 if B's write took over STALL_SECONDS (a lost wake-up, ended only by A's close of its span after
 *       HOLD_SECONDS), else 0;
 *   r2: 1 if A's or B's write threw.
 * Fails with AROUND_WAKES_NOBODY (the run is published without a wake-up, after a stand-in for a
 * preemption): r1 is 1 whenever B waited. Each such sample costs the broken run HOLD_SECONDS.
 *
 * Run: ./dev jcstress -t Protocol_12
 */
package dev.mkwrite.impl;

import dev.mkwrite.Backing;
import dev.mkwrite.Reservation;
import dev.mkwrite.WriteSpan;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.II_Result;

import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/** G3 for fault-around: a writer waiting for a page of another fault's run wakes when the run is published. */
public final class Protocol_12_AroundWakeup {

    /** Longer than any wait for a handler here, shorter than the 10 s after which a lost wake-up ends. */
    static final long STALL_SECONDS = 5;
    /** How long A holds its span at most, waiting for B: longer than a stall. */
    static final long HOLD_SECONDS = 6;

    private Protocol_12_AroundWakeup() {
    }

    @JCStressTest
    @Outcome(id = "0, 0", expect = ACCEPTABLE, desc = "B faulted page 1 itself, entered it PREPARED, or waited"
            + " briefly for A's run")
    @Outcome(expect = FORBIDDEN, desc = "r1: B slept through the publish of A's run (a lost wake-up); r2: a write threw")
    @State
    public static class WaitOnRun {
        final Region region;
        int failed;
        volatile boolean bDone;

        public WaitOnRun() {
            // One backing: the wait and its wake-up do not depend on it.
            region = Fixture.open(Backing.MEMORY_SEGMENT, 2L * Fixture.PAGE, fault -> {
                if (fault.page() == 0 && fault.aroundPages() > 0) {
                    fault.prepareAround(1, page -> Reservation.none());
                    Fixture.work(50); // page 1 PREPARING: the window in which B waits for the run
                }
                return Reservation.none();
            });
        }

        @Actor
        public void a() {
            // A span, held until B is done: A's own unpin, which also wakes waiters, comes only after B.
            try (WriteSpan span = region.write(0, Long.BYTES)) {
                span.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 1L);
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(HOLD_SECONDS);
                while (!bDone && System.nanoTime() < deadline) {
                    Thread.onSpinWait();
                }
            } catch (RuntimeException e) {
                failed = 1;
            }
        }

        @Actor
        public void b(II_Result r) {
            // Until A's run claims page 1 (bounded): B then meets it PREPARING, or PREPARED if A was quick.
            Fixture.spinUntil(() -> Fixture.state(region, 1) != PageState.CLEAN, 20_000);
            long start = System.nanoTime();
            try {
                region.putLong(Fixture.PAGE, 2);
            } catch (RuntimeException e) {
                r.r2 = 1;
            }
            r.r1 = System.nanoTime() - start > TimeUnit.SECONDS.toNanos(STALL_SECONDS) ? 1 : 0;
            bDone = true;
        }

        @Arbiter
        public void check(II_Result r) {
            r.r2 |= failed | Fixture.dispose(region);
        }
    }
}
