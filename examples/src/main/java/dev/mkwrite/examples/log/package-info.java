/**
 * A segmented write-ahead log with group commit on {@link dev.mkwrite.MappedRegion}:
 * {@link dev.mkwrite.examples.log.LogWriter} writes it, {@link dev.mkwrite.examples.log.LogVerifier}
 * checks it after a clean close or a crash, {@link dev.mkwrite.examples.log.LogFormat} is its layout, and
 * {@link dev.mkwrite.examples.log.LogCommand} is the {@code log} command.
 */
package dev.mkwrite.examples.log;
