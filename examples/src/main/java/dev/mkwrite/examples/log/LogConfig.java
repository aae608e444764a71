package dev.mkwrite.examples.log;

import dev.mkwrite.WriteFaultHandler;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.function.UnaryOperator;

/**
 * How a {@link LogWriter} lays out and flushes its log. Immutable; start from {@link #of(Path)} and
 * change what you need with the {@code with} methods.
 *
 * @param dir           the log directory
 * @param segmentSize   the largest a segment file gets; the log rolls to a new file there
 * @param growStep      a segment's region starts at this size and grows by it (rule K2: one exclusive
 *                      {@code grow} per step)
 * @param granule       bytes of storage prepared at a time, lazily, by the space handler
 * @param prepareAhead  granules prepared ahead of the writers, off the fault path; 0 for none
 * @param flushInterval the group flush period
 * @param decorator     wraps each segment's handler, for example to time it; identity by default
 */
public record LogConfig(Path dir, long segmentSize, long growStep, int granule, int prepareAhead,
                        Duration flushInterval, UnaryOperator<WriteFaultHandler> decorator) {

    /** Default segment size: 64 MiB. */
    public static final long DEFAULT_SEGMENT_SIZE = 64L << 20;
    /** Default grow step: 8 MiB. */
    public static final long DEFAULT_GROW_STEP = 8L << 20;
    /** Default granule: 1 MiB. */
    public static final int DEFAULT_GRANULE = 1 << 20;
    /** Default prepare-ahead: 2 granules. */
    public static final int DEFAULT_PREPARE_AHEAD = 2;
    /** Default group flush period: 10 ms. */
    public static final Duration DEFAULT_FLUSH_INTERVAL = Duration.ofMillis(10);

    /**
     * Checks the sizes.
     *
     * @throws IllegalArgumentException if the granule is not a power of two of at least 4 KiB, the grow
     *                                  step not a multiple of it, the segment size not a multiple of the
     *                                  grow step, or the flush interval not positive
     */
    public LogConfig {
        Objects.requireNonNull(dir, "dir");
        Objects.requireNonNull(flushInterval, "flushInterval");
        Objects.requireNonNull(decorator, "decorator");
        if (granule < 4096 || Integer.bitCount(granule) != 1) {
            throw new IllegalArgumentException("granule must be a power of two of at least 4096, was " + granule);
        }
        if (growStep < granule || growStep % granule != 0) {
            throw new IllegalArgumentException("grow step " + growStep + " must be a multiple of the granule " + granule);
        }
        if (segmentSize < growStep || segmentSize % growStep != 0) {
            throw new IllegalArgumentException("segment size " + segmentSize + " must be a multiple of the grow step "
                    + growStep);
        }
        if (prepareAhead < 0) {
            throw new IllegalArgumentException("prepare-ahead must be >= 0, was " + prepareAhead);
        }
        if (flushInterval.isNegative() || flushInterval.isZero()) {
            throw new IllegalArgumentException("flush interval must be positive, was " + flushInterval);
        }
    }

    /**
     * The defaults: 64 MiB segments grown in 8 MiB steps, 1 MiB granules with 2 prepared ahead, a group
     * flush every 10 ms.
     *
     * @param dir the log directory
     * @return the configuration
     */
    public static LogConfig of(Path dir) {
        return new LogConfig(dir, DEFAULT_SEGMENT_SIZE, DEFAULT_GROW_STEP, DEFAULT_GRANULE, DEFAULT_PREPARE_AHEAD,
                DEFAULT_FLUSH_INTERVAL, UnaryOperator.identity());
    }

    /**
     * The largest payload a record may carry: a record and an end-of-segment marker must fit a segment.
     *
     * @return bytes
     */
    public int maxPayload() {
        long room = segmentSize - LogFormat.SEGMENT_HEADER - 2L * LogFormat.RECORD_HEADER;
        return (int) Math.min(Integer.MAX_VALUE - LogFormat.ALIGNMENT, room & -LogFormat.ALIGNMENT);
    }

    /**
     * With other segment sizes.
     *
     * @param segmentSize the new segment size
     * @param growStep    the new grow step
     * @return a new configuration
     */
    public LogConfig withSegments(long segmentSize, long growStep) {
        return new LogConfig(dir, segmentSize, growStep, granule, prepareAhead, flushInterval, decorator);
    }

    /**
     * With other space preparation.
     *
     * @param granule      the new granule
     * @param prepareAhead the new number of granules prepared ahead
     * @return a new configuration
     */
    public LogConfig withSpace(int granule, int prepareAhead) {
        return new LogConfig(dir, segmentSize, growStep, granule, prepareAhead, flushInterval, decorator);
    }

    /**
     * With another group flush period.
     *
     * @param flushInterval the new period
     * @return a new configuration
     */
    public LogConfig withFlushInterval(Duration flushInterval) {
        return new LogConfig(dir, segmentSize, growStep, granule, prepareAhead, flushInterval, decorator);
    }

    /**
     * With a handler decorator.
     *
     * @param decorator wraps each segment's handler
     * @return a new configuration
     */
    public LogConfig withDecorator(UnaryOperator<WriteFaultHandler> decorator) {
        return new LogConfig(dir, segmentSize, growStep, granule, prepareAhead, flushInterval, decorator);
    }
}
