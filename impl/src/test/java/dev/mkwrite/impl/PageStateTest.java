package dev.mkwrite.impl;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The page-state word's encodings that the fast path reads without masking. */
class PageStateTest {

    /**
     * The fast pin's test shifts a constant by the whole state word: whatever the pins and the generation,
     * it must say what {@link PageState#pinnable} says of the state alone.
     */
    @Test
    void unpinnableBitIgnoresPinsAndGeneration() {
        long[] generations = {0, 1, 5, PageState.GENERATION_LIMIT - 1};
        long[] pinCounts = {0, 1, 2, 3, 7, 8, 9, 63, 64, PageState.MAX_PINS};
        for (int state = 0; state <= PageState.STATE_MASK; state++) {
            long expected = PageState.pinnable(state) ? 0 : 1;
            for (long generation : generations) {
                for (long pins : pinCounts) {
                    long word = PageState.word(state, generation) + pins * PageState.PIN_ONE;
                    assertEquals(state, PageState.state(word));
                    assertEquals(pins, PageState.pins(word));
                    assertEquals(expected, PageState.unpinnableBit(word),
                            "state " + state + ", " + pins + " pins, generation " + generation);
                }
            }
        }
    }
}
