package dev.mkwrite;

/**
 * What a {@link WriteFaultHandler} returns: the analogue of the kernel's {@code vm_fault_t}.
 *
 * <ul>
 *   <li>A {@link Reservation}: the page is prepared ({@code VM_FAULT_LOCKED}). Return
 *   {@link Reservation#none()} when nothing needed reserving.</li>
 *   <li>{@link #RETRY}: the handler dropped the region lock ({@code VM_FAULT_RETRY}), or, in a
 *   {@linkplain WriteFault#isNoWait() no-wait} fault, it would have had to block.</li>
 * </ul>
 * A failure is thrown, never returned.
 */
public sealed interface FaultResult permits Reservation, FaultResult.Retry {

    /** The handler dropped the lock, or would block in a no-wait fault; mkwrite retries the fault. */
    FaultResult RETRY = Retry.RETRY;

    /**
     * The result that asks for a retry. The only instance is {@link #RETRY}.
     */
    enum Retry implements FaultResult {
        /** The single instance. */
        RETRY
    }
}
