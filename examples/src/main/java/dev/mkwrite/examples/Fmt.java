package dev.mkwrite.examples;

import org.HdrHistogram.Histogram;

import java.util.Locale;

/** Number formatting for the examples' output: plain ASCII, root locale. Stateless and thread-safe. */
public final class Fmt {

    private Fmt() {
    }

    /**
     * A count with thousands separators: {@code 1,000,000}.
     *
     * @param n the count
     * @return the text
     */
    public static String count(long n) {
        return String.format(Locale.ROOT, "%,d", n);
    }

    /**
     * A byte count in binary units: {@code 512 B}, {@code 4.0 KiB}, {@code 136.2 MiB}.
     *
     * @param bytes the count
     * @return the text
     */
    public static String bytes(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = bytes;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }

    /**
     * A rate in MiB per second.
     *
     * @param bytes bytes moved
     * @param nanos over this many nanoseconds
     * @return the text, such as {@code 58.3 MiB/s}
     */
    public static String mibPerSecond(long bytes, long nanos) {
        return String.format(Locale.ROOT, "%.1f MiB/s", nanos <= 0 ? 0.0 : bytes / 1048576.0 / (nanos / 1e9));
    }

    /**
     * A duration: microseconds below a millisecond, milliseconds below ten seconds, else seconds.
     *
     * @param nanos the duration
     * @return the text, such as {@code 3.1 us} or {@code 4.20 ms}
     */
    public static String nanos(long nanos) {
        if (nanos < 1_000_000) {
            return String.format(Locale.ROOT, "%.1f us", nanos / 1e3);
        }
        if (nanos < 10_000_000_000L) {
            return String.format(Locale.ROOT, "%.2f ms", nanos / 1e6);
        }
        return String.format(Locale.ROOT, "%.1f s", nanos / 1e9);
    }

    /**
     * The p50, p99 and max of a histogram of nanoseconds, or a dash when it is empty.
     *
     * @param h the histogram
     * @return the text, such as {@code p50 3.1 us  p99 410.2 us  max 2.10 ms  (n=9,120)}
     */
    public static String latencies(Histogram h) {
        if (h.getTotalCount() == 0) {
            return "-  (no samples)";
        }
        return "p50 " + nanos(h.getValueAtPercentile(50)) + "  p99 " + nanos(h.getValueAtPercentile(99))
                + "  max " + nanos(h.getMaxValue()) + "  (n=" + count(h.getTotalCount()) + ")";
    }

    /**
     * A histogram value at a percentile as a duration, or a dash when it is empty.
     *
     * @param h          the histogram of nanoseconds
     * @param percentile 0 to 100; 100 gives the maximum
     * @return the text
     */
    public static String percentile(Histogram h, double percentile) {
        if (h.getTotalCount() == 0) {
            return "-";
        }
        return nanos(percentile >= 100 ? h.getMaxValue() : h.getValueAtPercentile(percentile));
    }
}
