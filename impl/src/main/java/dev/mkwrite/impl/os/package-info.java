/**
 * The C library calls of mkwrite, bound through the Foreign Function API only when native access is
 * enabled. Not exported: an implementation detail shared by the core and the storage handlers.
 */
package dev.mkwrite.impl.os;
