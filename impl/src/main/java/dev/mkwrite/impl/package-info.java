/**
 * The mkwrite implementation. Everything here is package-private except the service provider.
 *
 * <h2>Naming and ordering</h2>
 * Shared state lives in page-state words ({@link dev.mkwrite.impl.PageState}) and in a few volatile
 * fields of {@link dev.mkwrite.impl.Region}. Accessors say their ordering in their names, as Agrona's do:
 * {@code stateAcquire}, {@code stateVolatile}, {@code casState} (volatile), {@code getAndAddState}
 * (volatile). Every write that publishes a state carries a one-line comment saying what it publishes.
 * A reservation slot is written plainly and published by the next CAS of the same page's word.
 *
 * <h2>Map of the code</h2>
 * <ul>
 *   <li>{@link dev.mkwrite.impl.Region}: the protocol: fast path, fault, writeback, exclusive ops.</li>
 *   <li>{@link dev.mkwrite.impl.PageTable} and {@link dev.mkwrite.impl.Chunk}: the lazily allocated
 *   page-state table.</li>
 *   <li>{@link dev.mkwrite.impl.Waiters}: the wait queue for state changes.</li>
 *   <li>{@link dev.mkwrite.impl.Mapping}: the two backings.</li>
 *   <li>{@link dev.mkwrite.impl.Fault}: the {@link dev.mkwrite.WriteFault} a handler sees.</li>
 *   <li>{@link dev.mkwrite.impl.BrokenRule}: deliberately broken variants, for the tests only.</li>
 * </ul>
 */
package dev.mkwrite.impl;
