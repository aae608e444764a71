package dev.mkwrite;

/**
 * Why a {@link MappedRegion#tryWrite(long, long, WouldBlock) tryWrite} returned {@code null}: a holder
 * the caller allocates once and passes to every call, as Aeron's {@code BufferClaim} is reused, so a
 * refusal costs no allocation and no second call. Confined to one thread at a time.
 *
 * <pre>{@code
 * WouldBlock why = new WouldBlock();                  // once per thread
 * WriteSpan span = region.tryWrite(offset, length, why);
 * if (span == null) {
 *     switch (why.reason()) {
 *         case WRITEBACK, PREPARING, REGION_LOCK -> retryLater();   // brief: another thread is busy
 *         case HANDLER, DIRTY_LIMIT -> region.write(offset, length).close(); // worth waiting for
 *     }
 * }
 * }</pre>
 */
public final class WouldBlock {

    /** What the write would have waited for. */
    public enum Reason {
        /** An exclusive operation (grow, truncate, punchHole, close) holds the region lock. */
        REGION_LOCK,
        /** A page is being prepared by another writer's fault. */
        PREPARING,
        /** A page is under writeback, in a region with stable pages. */
        WRITEBACK,
        /** The handler answered {@link FaultResult#RETRY} to the no-wait fault: preparing would block. */
        HANDLER,
        /** The region is at its dirty limit: the write would first write back. */
        DIRTY_LIMIT
    }

    private Reason reason;

    /** A holder with no reason yet. */
    public WouldBlock() {
    }

    /**
     * Why the latest {@code tryWrite} given this holder returned {@code null}; unchanged by one that
     * returned a span.
     *
     * @return the reason, or null if no call has been refused yet
     */
    public Reason reason() {
        return reason;
    }

    /**
     * Records the reason; called by the implementation.
     *
     * @param reason why the write would block
     */
    public void reason(Reason reason) {
        this.reason = reason;
    }

    @Override
    public String toString() {
        return "WouldBlock[" + reason + "]";
    }
}
