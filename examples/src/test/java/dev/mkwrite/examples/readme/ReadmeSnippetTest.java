package dev.mkwrite.examples.readme;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The README quotes source files between {@code <!-- snippet: PATH -->} and {@code <!-- /snippet -->}, in a
 * fenced block; each quote must be the file as it is, so the README's code is code the build compiles and the
 * tests run. Surefire passes the repository's root as {@code mkwrite.root}.
 */
class ReadmeSnippetTest {

    private static final Pattern BEGIN = Pattern.compile("<!-- snippet: (\\S+) .*-->");
    private static final String END = "<!-- /snippet -->";

    @Test
    void shouldQuoteEachSnippetExactlyAsItsSourceFile() throws IOException {
        Path root = Path.of(System.getProperty("mkwrite.root", ".."));
        List<String> readme = Files.readAllLines(root.resolve("README.md"), UTF_8);
        List<String> checked = new ArrayList<>();
        for (int i = 0; i < readme.size(); i++) {
            Matcher m = BEGIN.matcher(readme.get(i).trim());
            if (!m.matches()) {
                continue;
            }
            String path = m.group(1);
            int open = i + 1;
            assertTrue(open < readme.size() && readme.get(open).startsWith("```"),
                    "README.md line " + (open + 1) + ": a fenced block must follow the snippet marker for " + path);
            int close = open + 1;
            while (close < readme.size() && !readme.get(close).equals("```")) {
                close++;
            }
            assertTrue(close + 1 < readme.size() && readme.get(close + 1).trim().equals(END),
                    "README.md: the block quoting " + path + " must end with ``` then " + END);
            List<String> quoted = readme.subList(open + 1, close);
            List<String> source = Files.readAllLines(root.resolve(path), UTF_8);
            for (int k = 0; k < Math.min(quoted.size(), source.size()); k++) {
                if (!quoted.get(k).equals(source.get(k))) {
                    fail("README.md line " + (open + 2 + k) + " differs from " + path + " line " + (k + 1)
                            + ":\n  README: " + quoted.get(k) + "\n  source: " + source.get(k)
                            + "\nCopy the file into the README again.");
                }
            }
            assertEquals(source.size(), quoted.size(), "README.md quotes " + quoted.size() + " lines of " + path
                    + ", which has " + source.size() + ". Copy the file into the README again.");
            checked.add(path);
            i = close + 1;
        }
        assertFalse(checked.isEmpty(), "README.md quotes no snippet; expected the usage example");
        assertTrue(checked.contains("examples/src/main/java/dev/mkwrite/examples/readme/RecordStore.java"),
                "README.md must quote the usage example RecordStore.java; quoted: " + checked);
    }
}
