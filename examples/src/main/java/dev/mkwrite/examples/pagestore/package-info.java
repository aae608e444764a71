/**
 * A checksummed page store: checksums computed at writeback, made valid by stable pages. The
 * {@code page-store} command.
 */
package dev.mkwrite.examples.pagestore;
