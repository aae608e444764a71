/**
 * The mkwrite implementation. Everything here is package-private except the service provider.
 *
 * <h2>Map of the code</h2>
 * One class per concern of the protocol, each owning its state; they share {@link
 * dev.mkwrite.impl.RegionState} and never call back into the facade.
 * <ul>
 *   <li>{@link dev.mkwrite.impl.RegionRegistry}, {@link dev.mkwrite.impl.RegionHandle} and
 *   {@link dev.mkwrite.impl.RegionSettings}: one region per file per JVM; every open gets a counted handle
 *   on it, and the last handle's close closes it.</li>
 *   <li>{@link dev.mkwrite.impl.Region}: the facade that implements {@link dev.mkwrite.MappedRegion},
 *   checks arguments, reads without a lock, and wires the parts below.</li>
 *   <li>{@link dev.mkwrite.impl.Writes} and {@link dev.mkwrite.impl.Reads}: the write path (pins joined
 *   with faults; prepare) and the lock-free read path (reads, views, dirty ranges).</li>
 *   <li>{@link dev.mkwrite.impl.RegionState}: what every part reads: path, page geometry, the region
 *   lock, the page-state table, the wait queue, statistics, and the mapping, size, page count and closed
 *   flag that the exclusive operations change.</li>
 *   <li>{@link dev.mkwrite.impl.RegionFile}: the file: open, lock, its one descriptor (a
 *   {@code SharedFile}, which the handler reaches through {@link dev.mkwrite.WriteFault#file()}), truncate,
 *   map.</li>
 *   <li>{@link dev.mkwrite.impl.Pins}: the lock-free fast path's pins (hazard slots, state-word pins)
 *   and the drains that wait for them to leave.</li>
 *   <li>{@link dev.mkwrite.impl.FaultPath}: the write fault: claim, the handler call, one lock drop,
 *   the retry that reads the page-state table, the dirty-limit throttle. {@link dev.mkwrite.impl.Fault}
 *   is the {@link dev.mkwrite.WriteFault} a handler sees; {@link dev.mkwrite.impl.HandlerScope} knows
 *   which handler runs on a thread; {@link dev.mkwrite.impl.Claims} holds the pages a write over several
 *   pages prepared until it publishes them together, or gives them all back.</li>
 *   <li>{@link dev.mkwrite.impl.Around}: write fault-around: the pages after a faulting one that its
 *   handler's preparation covers, taken in the same fault and left PREPARED (ready, not dirty) until a
 *   write enters them.</li>
 *   <li>{@link dev.mkwrite.impl.Writeback}: flush: WRITABLE to WRITEBACK, drain (with stable pages; without,
 *   a page still pinned is forced as it is and stays dirty, REDIRTIED), force, CLEAN (or PREPARED when
 *   overwrites need no preparing).</li>
 *   <li>{@link dev.mkwrite.impl.Resizing}: grow, truncate, punchHole, generations, quiesce and thaw.</li>
 *   <li>{@link dev.mkwrite.impl.Retirement}: mappings a grow replaced, unmapped by the
 *   {@link dev.mkwrite.impl.Unmapper} thread once their writers and flushes have left.</li>
 *   <li>{@link dev.mkwrite.impl.Ledger}: the reservations mkwrite owns: accepted, consumed, released.</li>
 *   <li>{@link dev.mkwrite.impl.Ahead}: prepare-ahead, which faults in and populates the pages ahead of
 *   sequential writers on a thread of its own.</li>
 *   <li>{@link dev.mkwrite.impl.FaultEvents} and {@link dev.mkwrite.impl.Recording}: Flight Recorder
 *   events, loaded only once a recording is on.</li>
 *   <li>{@link dev.mkwrite.impl.StorageAdapter}: the built-in storage handlers as the api's
 *   {@link dev.mkwrite.WriteFaultHandlers} hands them out.</li>
 *   <li>{@link dev.mkwrite.impl.PageTable}, {@link dev.mkwrite.impl.Chunk} and
 *   {@link dev.mkwrite.impl.PageState}: the lazily allocated page-state table and its words.</li>
 *   <li>{@link dev.mkwrite.impl.Hazards}: the hazard slots; {@link dev.mkwrite.impl.AsymmetricFence}: the
 *   pin's StoreLoad moved to the drainer ({@code membarrier}), so a writer pins without a locked
 *   instruction; {@link dev.mkwrite.impl.Waiters}: the wait
 *   queue; {@link dev.mkwrite.impl.Mapping}: the two backings and the native mapping.</li>
 *   <li>{@link dev.mkwrite.impl.BrokenRule}: deliberately broken variants, for the tests only, and the
 *   protocol's checks named positively, so the protocol code reads straight.</li>
 * </ul>
 * The dependencies run one way: the registry knows the facade; the facade knows the parts; {@code Resizing} knows {@code Writeback},
 * {@code Retirement}, {@code Pins} and {@code RegionFile}; {@code FaultPath} knows {@code Writeback} (for
 * the throttle); every part knows {@code RegionState} and {@code Ledger}, and none knows the facade.
 *
 * <h2>Ordering</h2>
 * Every access to shared state says its ordering, in the accessor's name or in a comment at the access,
 * with these words (those of {@link java.lang.invoke.VarHandle}):
 * <ul>
 *   <li><b>Plain</b>: no ordering. Used for a field only one thread writes, published by a later
 *   release or volatile write of the same thread (a reservation slot, published by the CAS of its
 *   page's state word) or guarded by the region lock ({@code RegionState.epoch}).</li>
 *   <li><b>Opaque</b>: coherent, but orders nothing else; a hint that a later CAS validates.</li>
 *   <li><b>Acquire</b> (a read): later reads and writes stay after it. Pairs with a release or volatile
 *   write whose value it reads: it then sees everything written before that write. The default for
 *   reading a state word.</li>
 *   <li><b>Release</b> (a write): earlier reads and writes stay before it. An unpin ends with one, so the
 *   writer's stores happen-before the drainer that sees the pin gone.</li>
 *   <li><b>Volatile</b>: sequentially consistent. CAS ({@code casState}, compare-and-exchange) and
 *   getAndAdd are volatile. Needed only for a <i>Dekker pair</i>, where each side writes one location
 *   and then reads the other's: a writer publishes its pin and then reads the page's state; a drainer
 *   moves the state and then reads the pins; a waiter counts itself and then reads its condition, while
 *   a signaller changes the condition and then reads the count. An acquire read there could be ordered
 *   before the write that precedes it, and both sides could miss each other. Every volatile read in
 *   the protocol code is one side of such a pair, and says which.</li>
 *   <li><b>Asymmetric</b>: the one pair whose writer side has no fence in hardware, the hazard pin
 *   with {@link dev.mkwrite.impl.AsymmetricFence#ON}: an opaque store, a compiler barrier, then the state
 *   reads; the drainer's {@code membarrier} puts the missing StoreLoad into the writer's thread. Its
 *   class comment gives the argument.</li>
 * </ul>
 * The fields of {@code RegionState} that the fast path reads (mapping, size, page count, closed) are
 * volatile fields: written only with the region lock held exclusive, read anywhere.
 */
package dev.mkwrite.impl;
