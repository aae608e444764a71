package dev.mkwrite;

/** Receives byte ranges of a region, in ascending order, such as its dirty ranges. */
@FunctionalInterface
public interface RangeConsumer {

    /**
     * One range.
     *
     * @param offset file offset of its first byte
     * @param length its length in bytes, at least one
     */
    void accept(long offset, long length);
}
