/**
 * The {@code disk-full} command: a raw {@link java.nio.MappedByteBuffer} and mkwrite on a full
 * filesystem, side by side.
 */
package dev.mkwrite.examples.diskfull;
