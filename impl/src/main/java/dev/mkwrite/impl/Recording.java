package dev.mkwrite.impl;

/**
 * Whether mkwrite's Flight Recorder events may be recorded: Flight Recorder has been initialized (a
 * recording was started, on the command line or later). Until then {@link FaultEvents} is never touched,
 * so a process that never runs JFR does not load JFR's machinery (about a hundred classes, a large part
 * of a cold start) at its first fault. Callers keep events as {@code Object}, so that verifying them
 * loads no event class either; this class names none.
 */
final class Recording {

    private Recording() {
    }

    /** Whether to create events; a static read of JFR's own flag. */
    static boolean on() {
        return jdk.jfr.FlightRecorder.isInitialized();
    }
}
