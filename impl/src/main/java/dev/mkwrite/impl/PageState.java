package dev.mkwrite.impl;

/**
 * The encoding of one page's state word, the region's page-state metadata (PROTOCOL.md §3).
 *
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-----+---------------------------------------+-----------------+
 *  |state|           pins (20 bits)              | generation ...  |
 *  +-----+---------------------------------------+-----------------+
 *  |                 ... generation (41 bits, bits 23..63)         |
 *  +---------------------------------------------------------------+
 * </pre>
 *
 * <ul>
 *   <li><b>state</b>: {@link #CLEAN}, {@link #PREPARING}, {@link #WRITABLE}, {@link #WRITEBACK},
 *   {@link #FROZEN}, {@link #REDIRTIED} or {@link #PREPARED}.</li>
 *   <li><b>pins</b>: writers inside a span over the page. Only a WRITABLE or REDIRTIED page gains pins
 *   (the lock-free fast path); WRITEBACK and FROZEN pages keep the pins they had and lose them as writers
 *   leave. CLEAN, PREPARING and PREPARED pages never have pins.</li>
 *   <li><b>generation</b>: the region epoch in which the page was last created or removed. A claim is
 *   {@code PREPARING} at a generation; a truncate that removes the page moves it to a newer epoch, so a
 *   retried fault always recognises that its claim is gone, even after the page was extended and
 *   claimed again.</li>
 * </ul>
 *
 * <p>All transitions are CASes on the whole word, so a change to any field is seen together with the
 * others.
 */
final class PageState {

    /** Not prepared since its last writeback; the next write faults. */
    static final int CLEAN = 0;
    /** Claimed by one fault whose handler runs (or ran with the lock dropped). */
    static final int PREPARING = 1;
    /** Prepared and dirty; writers pin it without a lock. */
    static final int WRITABLE = 2;
    /**
     * Taken by a flush. With stable pages no new writer may enter until its writeback ends; without them a
     * writer enters it by marking it {@link #REDIRTIED}.
     */
    static final int WRITEBACK = 3;
    /** WRITABLE, but held still by an exclusive operation (grow, truncate, close) that drains pins. */
    static final int FROZEN = 4;
    /**
     * Under writeback, and written again since it was taken (regions without stable pages only): writers
     * enter it as if WRITABLE, and the flush that writes it back leaves it WRITABLE, dirty, with its
     * reservation, for the next flush.
     */
    static final int REDIRTIED = 5;
    /**
     * Prepared by another page's fault (fault-around), or kept prepared by a writeback when overwrites need
     * no preparing, with its reservation in the slot, but not dirty: no writer has entered it, so flush and
     * the dirty ranges pass it by. Writers cannot pin it: a write within one page, without a dirty limit,
     * enters it by one CAS to WRITABLE, without the lock ({@code FaultPath.enter}); any other write's fault
     * claims it under the lock shared and makes it WRITABLE, neither calling the handler. An exclusive
     * operation that removes it, or changes its extent, takes it by CAS in its quiesce and releases its
     * reservation, and so does close.
     */
    static final int PREPARED = 6;

    static final long STATE_MASK = 0b111L;
    static final int PIN_SHIFT = 3;
    static final int PIN_BITS = 20;
    static final long PIN_ONE = 1L << PIN_SHIFT;
    static final long MAX_PINS = (1L << PIN_BITS) - 1;
    static final long PIN_MASK = MAX_PINS << PIN_SHIFT;
    static final int GENERATION_SHIFT = PIN_SHIFT + PIN_BITS;
    /** Generations wrap after 2^41 truncates; a page would need that many between a drop and its retry. */
    static final long GENERATION_LIMIT = 1L << (64 - GENERATION_SHIFT);

    private PageState() {
    }

    static int state(long word) {
        return (int) (word & STATE_MASK);
    }

    static long pins(long word) {
        return (word & PIN_MASK) >>> PIN_SHIFT;
    }

    static long generation(long word) {
        return word >>> GENERATION_SHIFT;
    }

    /** A word with no pins. */
    static long word(int state, long generation) {
        return (generation << GENERATION_SHIFT) | state;
    }

    /** The same word with another state; pins and generation are kept. */
    static long withState(long word, int state) {
        return (word & ~STATE_MASK) | state;
    }

    static String name(int state) {
        return switch (state) {
            case CLEAN -> "CLEAN";
            case PREPARING -> "PREPARING";
            case WRITABLE -> "WRITABLE";
            case WRITEBACK -> "WRITEBACK";
            case FROZEN -> "FROZEN";
            case REDIRTIED -> "REDIRTIED";
            case PREPARED -> "PREPARED";
            default -> "?" + state;
        };
    }

    /** Whether a writer may pin a page in {@code state}: WRITABLE, or REDIRTIED (under writeback, no stable pages). */
    static boolean pinnable(int state) {
        return (PINNABLE >>> state & 1) != 0;
    }

    /**
     * 0 if a writer may pin a page whose state word is {@code word} ({@link #pinnable}), else 1, computed
     * without a branch and without masking the state out of the word: a shift of a long uses the count's low
     * six bits, the state and the low three bits of the pin count, and {@link #UNPINNABLE} repeats the
     * states' bits every eight, so the pins do not matter. For the fast path to OR with its other tests.
     */
    static long unpinnableBit(long word) {
        return UNPINNABLE >>> word & 1;
    }

    /** The states {@link #pinnable} accepts, one bit each. */
    private static final int PINNABLE = 1 << WRITABLE | 1 << REDIRTIED;
    /** The states {@link #pinnable} refuses, one bit each, the byte repeated eight times (the shift's low bits). */
    private static final long UNPINNABLE = (~PINNABLE & 0xFFL) * 0x0101010101010101L;

    /**
     * Whether the page's memory was prepared by a write: a state past PREPARING, other than CLEAN and FROZEN.
     * On tmpfs, where a read fault on a hole allocates, such a page may be read through the mapping.
     */
    static boolean prepared(long word) {
        int s = state(word);
        return s != CLEAN && s != PREPARING && s != FROZEN;
    }

    /** Whether a page in {@code state} is under writeback: WRITEBACK or REDIRTIED. */
    static boolean underWriteback(int state) {
        return state == WRITEBACK || state == REDIRTIED;
    }

    static String describe(long word) {
        return name(state(word)) + "(pins=" + pins(word) + ", gen=" + generation(word) + ")";
    }
}
