package dev.mkwrite.impl;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/**
 * JDK Flight Recorder events, so mkwrite shows in the profiler users already run. Disabled events cost a
 * branch on a constant: {@code begin()} and {@code shouldCommit()} are folded away by the JIT and the
 * event object is scalar-replaced. They are created on slow paths only, and only once
 * {@link Recording#on()}: this class is not even loaded before, since loading an event class loads JFR's
 * machinery.
 */
final class FaultEvents {

    private FaultEvents() {
    }

    /** Starts a {@link Fault} event; call only when {@link Recording#on()}. */
    static Object faultBegin() {
        Fault event = new Fault();
        event.begin();
        return event;
    }

    static void faultEnd(Object begun, String path, long page, long offset, boolean retried, int handlerCalls,
                         String outcome) {
        Fault event = (Fault) begun;
        if (event.shouldCommit()) {
            event.path = path;
            event.page = page;
            event.offset = offset;
            event.retried = retried;
            event.handlerCalls = handlerCalls;
            event.outcome = outcome;
            event.commit();
        }
    }

    /** Starts a {@link LockDrop} event, or returns null if it is not enabled; call only when {@link Recording#on()}. */
    static Object lockDropBegin(String path, long page) {
        LockDrop event = new LockDrop();
        if (!event.isEnabled()) {
            return null;
        }
        event.begin();
        event.path = path;
        event.page = page;
        return event;
    }

    static void lockDropEnd(Object begun) {
        ((LockDrop) begun).commit();
    }

    /** Starts a {@link WritebackWait} event; call only when {@link Recording#on()}. */
    static Object writebackWaitBegin() {
        WritebackWait event = new WritebackWait();
        event.begin();
        return event;
    }

    static void writebackWaitEnd(Object begun, String path, long page) {
        WritebackWait event = (WritebackWait) begun;
        if (event.shouldCommit()) {
            event.path = path;
            event.page = page;
            event.commit();
        }
    }

    @Name("dev.mkwrite.WriteFault")
    @Label("Write Fault")
    @Category({"mkwrite"})
    @Description("A write into a page that was not WRITABLE: the handler call, retries and waits included")
    @StackTrace(true)
    static final class Fault extends Event {
        @Label("File")
        String path;
        @Label("Page")
        long page;
        @Label("Offset")
        @DataAmount(DataAmount.BYTES)
        long offset;
        @Label("Retried")
        boolean retried;
        @Label("Handler Called")
        int handlerCalls;
        @Label("Outcome")
        String outcome;
    }

    @Name("dev.mkwrite.LockDrop")
    @Label("Region Lock Dropped")
    @Category({"mkwrite"})
    @Description("A handler ran without the region lock, from dropLock() until its retry took the lock again")
    @StackTrace(false)
    static final class LockDrop extends Event {
        @Label("File")
        String path;
        @Label("Page")
        long page;
    }

    @Name("dev.mkwrite.WritebackWait")
    @Label("Writeback Wait")
    @Category({"mkwrite"})
    @Description("A writer waited for a page to leave writeback (stable pages)")
    @StackTrace(true)
    static final class WritebackWait extends Event {
        @Label("File")
        String path;
        @Label("Page")
        long page;
    }
}
