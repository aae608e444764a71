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
 * event object is scalar-replaced. They are created on slow paths only.
 */
final class FaultEvents {

    private FaultEvents() {
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
