package dev.mkwrite;

/**
 * How a {@link MappedRegion} maps its file. Both backings keep the same protocol and pass the same
 * contract tests; they differ in what a {@link WriteSpan} hands out natively and in how large a region
 * may be.
 */
public enum Backing {
    /**
     * {@code FileChannel.map(mode, offset, size, arena)}: a {@link java.lang.foreign.MemorySegment} in a
     * shared arena. Regions may be larger than 2 GiB. Mappings are unmapped deterministically on
     * {@code grow}, {@code truncate} and {@code close}, after every writer has left them.
     */
    MEMORY_SEGMENT,

    /**
     * {@code FileChannel.map(mode, offset, size)}: a {@link java.nio.MappedByteBuffer}. Regions are
     * limited to {@value #MAX_BYTE_BUFFER_REGION} bytes. Replaced buffers are unmapped by the garbage
     * collector, as the JDK offers no public way to unmap them; so a deleted file's space comes back only
     * after a garbage collection, and truncated space is not returned to a full filesystem until then.
     */
    MAPPED_BYTE_BUFFER;

    /** The largest region the {@link #MAPPED_BYTE_BUFFER} backing can map: {@code Integer.MAX_VALUE}. */
    public static final long MAX_BYTE_BUFFER_REGION = Integer.MAX_VALUE;

    /**
     * The largest region size this backing can map.
     *
     * @return the limit in bytes
     */
    public long maxRegionSize() {
        return this == MAPPED_BYTE_BUFFER ? MAX_BYTE_BUFFER_REGION : Long.MAX_VALUE;
    }
}
