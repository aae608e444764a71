package dev.mkwrite;

import java.nio.file.Path;

/**
 * The write or read reaches past the end of the region, either because it was asked for or because the
 * region was truncated while a fault waited (the kernel's {@code VM_FAULT_NOPAGE} after a truncate race).
 */
public class OutOfRegionException extends WriteFaultException {

    private static final long serialVersionUID = 1L;

    /** The number of bytes asked for. */
    private final long length;
    /** The size of the region when the range was checked. */
    private final long regionSize;

    /**
     * Creates the exception.
     *
     * @param path       the region's file
     * @param offset     the first byte asked for
     * @param length     the number of bytes asked for
     * @param regionSize the region's size at the time
     * @param page       the first page outside the region, or -1
     */
    public OutOfRegionException(Path path, long offset, long length, long regionSize, long page) {
        super("range [" + offset + ", " + (offset + length) + ") reaches past the end of the region (size "
                + regionSize + ")", path, offset, page, null);
        this.length = length;
        this.regionSize = regionSize;
    }

    /**
     * The number of bytes asked for.
     *
     * @return the length
     */
    public long length() {
        return length;
    }

    /**
     * The size of the region when the range was checked.
     *
     * @return the size
     */
    public long regionSize() {
        return regionSize;
    }
}
