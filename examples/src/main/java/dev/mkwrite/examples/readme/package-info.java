/**
 * The README's usage example, {@link dev.mkwrite.examples.readme.RecordStore}, compiled and tested with the
 * other examples; a test checks that the README quotes it as it is.
 */
package dev.mkwrite.examples.readme;
