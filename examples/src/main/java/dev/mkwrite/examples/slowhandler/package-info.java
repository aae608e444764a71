/**
 * The {@code slow-handler} command: a blocking handler that holds the region lock, against one that
 * drops it (rule K4).
 */
package dev.mkwrite.examples.slowhandler;
