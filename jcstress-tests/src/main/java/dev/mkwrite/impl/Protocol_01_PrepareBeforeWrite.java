/*
 * G1 (K1, K3): a page's preparation happens-before every write into it.
 *
 * Two writers write the same CLEAN page at once. One of them claims the page and runs the handler, which
 * writes a marker into the page (fault.memory()) and sets a plain field of the state before it returns
 * the reservation. The other writer either waits for the claim or arrives once the page is WRITABLE and
 * pins it on the lock-free fast path. Either way, once its span is open, it must see both the marker and
 * the field: the page becomes WRITABLE by a release CAS after the handler returns, and the fast path pins
 * with an acquire CAS. Seeing either missing means the page was published before it was prepared.
 *
 * The third result says which writer ran the handler, so the run shows that both orders occurred.
 * Fails with -Ddev.mkwrite.impl.testing.brokenRule=PUBLISH_BEFORE_PREPARE (the page turns WRITABLE before
 * the handler runs).
 *
 * Run: ./dev jcstress -t Protocol_01
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
import org.openjdk.jcstress.infra.results.III_Result;

import java.lang.foreign.ValueLayout;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE_INTERESTING;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/** G1: prepare happens-before write. */
public final class Protocol_01_PrepareBeforeWrite {

    private Protocol_01_PrepareBeforeWrite() {
    }

    static final int MARKER = 0x600D_F00D;

    @JCStressTest
    @Outcome(id = "1, 1, 1", expect = ACCEPTABLE, desc = "writer 1 prepared the page; writer 2 saw its work")
    @Outcome(id = "1, 1, 2", expect = ACCEPTABLE_INTERESTING, desc = "writer 2 prepared the page; writer 1 saw its work")
    @Outcome(expect = FORBIDDEN, desc = "a writer's span was open before the page's preparation was visible to it")
    @State
    public static class TwoWriters {
        final Region region;
        /** Set by the handler, plainly: published to the other writer only by the page's state word. */
        int preparedBy;

        public TwoWriters() {
            region = Fixture.open(Backing.MEMORY_SEGMENT, Fixture.PAGE, fault -> {
                Fixture.work(100); // a handler's real work; widens the window a broken publish would open
                fault.memory().set(ValueLayout.JAVA_INT_UNALIGNED, 8, MARKER);
                preparedBy = "writer-1".equals(Thread.currentThread().getName()) ? 1 : 2;
                return Reservation.none();
            });
        }

        private int write(String name) {
            Thread.currentThread().setName(name);
            try (WriteSpan span = region.write(0, 16)) {
                span.segment().set(ValueLayout.JAVA_INT_UNALIGNED, 0, 1);
                boolean marker = span.segment().get(ValueLayout.JAVA_INT_UNALIGNED, 8) == MARKER;
                return marker && preparedBy != 0 ? 1 : 0;
            } catch (RuntimeException e) {
                return -1;
            }
        }

        @Actor
        public void writer1(III_Result r) {
            r.r1 = write("writer-1");
        }

        @Actor
        public void writer2(III_Result r) {
            r.r2 = write("writer-2");
        }

        @Arbiter
        public void arbiter(III_Result r) {
            r.r3 = preparedBy;
            Fixture.dispose(region);
        }
    }
}
