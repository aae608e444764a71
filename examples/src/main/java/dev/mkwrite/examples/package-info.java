/**
 * mkwrite's examples, run from one executable jar: {@code java -jar mkwrite-examples.jar COMMAND}.
 *
 * <p>{@link dev.mkwrite.examples.Main} dispatches to one {@link dev.mkwrite.examples.Command} per
 * example and parses options with {@link dev.mkwrite.examples.Options}. Every storage handler the
 * examples use comes from {@link dev.mkwrite.examples.Handlers}. The examples use only mkwrite's public
 * API ({@code dev.mkwrite}).
 */
package dev.mkwrite.examples;
