/**
 * What mkwrite needs from the operating system, below both the core and the storage handlers: the C
 * library calls, bound through the Foreign Function API only when native access is enabled
 * ({@link dev.mkwrite.impl.os.PosixNative}), and blocking file I/O run where no caller's interrupt can close
 * a shared channel ({@link dev.mkwrite.impl.os.BlockingIo}). Not exported.
 */
package dev.mkwrite.impl.os;
