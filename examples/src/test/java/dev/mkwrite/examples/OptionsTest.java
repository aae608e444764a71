package dev.mkwrite.examples;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OptionsTest {

    private static Options options() {
        return new Options("demo")
                .path("dir", "DIR", "a directory")
                .flag("verify", "a flag")
                .count("records", "N", 10L, 1, 1000, "a count")
                .size("size", "B", "4k", 1, 1L << 30, "a size");
    }

    @Test
    void shouldApplyDefaultsAndParseBothSpellings() throws UsageException {
        Options.Values v = options().parse(new String[] {"x", "--dir", "/tmp/a", "--size=64m", "--verify"}, 1);
        assertEquals(Path.of("/tmp/a"), v.path("dir"));
        assertEquals(10, v.number("records"));
        assertEquals(64L << 20, v.number("size"));
        assertTrue(v.flag("verify"));
    }

    @Test
    void shouldAcceptUnderscoresInNumbers() throws UsageException {
        assertEquals(1000, options().parse(new String[] {"--records", "1_000"}, 0).number("records"));
    }

    @Test
    void shouldRejectWithOneLineNamingTheOption() {
        for (String[] bad : new String[][] {
                {"--records", "abc"}, {"--records", "0"}, {"--records", "1001"}, {"--size", "12q"},
                {"--bogus"}, {"--records"}, {"stray"}, {"--verify=yes"}, {"--size", "99999999999g"}}) {
            UsageException e = assertThrows(UsageException.class, () -> options().parse(bad, 0), String.join(" ", bad));
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
            assertTrue(e.getMessage().startsWith("demo: "), e.getMessage());
        }
    }

    @Test
    void shouldRequireAMissingOptionOnlyWhenAsked() throws UsageException {
        Options.Values v = options().parse(new String[0], 0);
        assertFalse(v.has("dir"));
        assertThrows(UsageException.class, () -> v.path("dir"));
    }
}
