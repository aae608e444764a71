/**
 * mkwrite's examples, run from one executable jar: {@code java -jar mkwrite-examples.jar COMMAND}.
 *
 * <p>{@link dev.mkwrite.examples.Main} dispatches to one {@link dev.mkwrite.examples.Command} per
 * example and parses options with {@link dev.mkwrite.examples.Options}. Every storage handler the
 * examples use comes from {@link dev.mkwrite.examples.Handlers}. The examples use mkwrite's api
 * ({@code dev.mkwrite}) and the storage handlers' own classes ({@code dev.mkwrite.impl.storage}: the
 * handlers' options and statistics that {@code WriteFaultHandlers} does not show).
 */
package dev.mkwrite.examples;
