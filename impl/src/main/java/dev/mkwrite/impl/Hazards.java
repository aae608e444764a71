package dev.mkwrite.impl;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The fast path's pins: one slot per thread (by hash) in which a writer publishes the range of pages it
 * writes into, in the manner of hazard pointers.
 *
 * <p>A pin through a page's state word costs two locked read-modify-writes on a word every writer of
 * the page shares: a CAS to pin and an atomic add to unpin. A hazard pin costs one CAS on a slot no
 * other thread writes, and an unpin is a plain release store. The price is paid by the rare side: a
 * flush or an exclusive operation that must drain writers scans the slots as well as the pin counts.
 *
 * <p>The protocol is Dekker's. A writer publishes its range, <i>then</i> reads the state of each page and
 * keeps the pin only if all are WRITABLE. A drainer moves pages out of WRITABLE (volatile CAS), <i>then</i>
 * reads the slots and waits for every published range over those pages to change. Either the writer sees
 * the new state and backs off, or the drainer sees the range and waits for it. The StoreLoad fence each
 * side needs is, for the writer, either its own CAS on the slot or, with {@link AsymmetricFence#ON}, the
 * drainer's {@code membarrier}: then a pin costs an opaque store and a release store, no locked
 * instruction, and the drainer pays some microseconds once per drain.
 *
 * <p>A slot holds {@code first << 20 | pages}, or {@link #EMPTY}. A thread whose slot is taken (by a
 * span it still holds, or by another thread with the same hash), or whose range exceeds
 * {@link #MAX_PAGES}, pins through the state words instead; both kinds of pin are drained together.
 *
 * <p>Each slot is its own object ({@link Slot}), padded on both sides so no two threads' slots share a
 * cache line: the writer reaches its range and its owner through one array element, with no index
 * arithmetic and one bounds check, and the slot object is the pin the writer holds, so its unpin is one
 * release store with no lookup. The fast path, {@link #publishHome}, tries the thread's home slot inline
 * and leaves everything else (the second probe, claiming a slot, the fallback) to a method of its own, so
 * the JIT keeps the write it inlines into small.
 *
 * <p>A {@link Writer} has a slot of its own besides: not in the home table, never claimed, owned by the
 * writer's thread from its making to its close, and scanned by every drainer with the home table's
 * ({@link #scanned()}), revocation and all. Its writes publish there with no lookup.
 *
 * <p>An unpin is a release store followed by a read of the waiter count without a fence, so a drainer
 * that starts waiting at that very moment can miss the wake-up; drainers of hazards therefore wait with
 * a timeout ({@link #POLL_MILLIS}), and re-check.
 */
final class Hazards {

    static final long EMPTY = 0L;
    /** How long a drainer waits on a hazard before it re-checks without a wake-up. */
    static final long POLL_MILLIS = 1;

    private static final int COUNT_BITS = 20;
    /** The longest range a slot holds; longer spans pin through the state words. */
    static final long MAX_PAGES = (1L << COUNT_BITS) - 1;
    private static final int PROBES = 2;
    /** Tests only: every pin takes the fallback, so the suites can run over it too. */
    static final boolean STATE_WORD_PINS_ONLY = Boolean.getBoolean("dev.mkwrite.impl.testing.stateWordPins");

    /** Padding before a slot's fields: 56 bytes, so with the header no other object's data shares their line. */
    @SuppressWarnings("unused")
    abstract static class SlotPadBefore {
        private long p01, p02, p03, p04, p05, p06, p07;
    }

    /** A slot's fields; the JVM lays a superclass's fields out first, so they sit between the pads. */
    abstract static class SlotFields extends SlotPadBefore {
        /** The published range, or {@link #EMPTY}: accessed only through {@link #RANGE}. */
        long range;
        /** The owner with {@link AsymmetricFence#ON}: the only thread that writes {@link #range}. */
        Thread owner;
        /**
         * The owner's {@link Thread#threadId()}, written by the owner after its claiming CAS, -1 before:
         * what the fast path compares, arithmetic that joins the range's test in one branch. Ids are never
         * reused, so only the owner finds its own here.
         */
        long ownerId = -1;
        /**
         * With {@link AsymmetricFence#ON}: whether the owner's pins need a drainer's {@code membarrier} (see
         * {@link #beginRevoking}), {@link #BIASED}, {@link #REVOKING} or {@link #FENCED} in the low two bits,
         * above them an epoch that each revocation and each re-bias advances; only through {@link #MODE}.
         */
        long mode;
        /** The owner's pins kept in its revoked slot since it was last biased: written and read by the owner alone. */
        int fencedPins;
    }

    /**
     * One slot, padded after its fields as well. Not final only for {@link Pins.StatePins}, the token of a
     * pin through the state words, which no slot table holds.
     */
    @SuppressWarnings("unused")
    static class Slot extends SlotFields {
        private long p11, p12, p13, p14, p15, p16, p17;
    }

    /** A slot's mode: its owner publishes without a fence, a drainer's {@code membarrier} orders its pins. */
    static final int BIASED = 0;
    /** The mode's low bits, its state; the bits above are its epoch. */
    private static final long MODE_STATE = 0b11;
    /** A slot's mode: a drainer is revoking it, its {@code membarrier} has not returned yet. */
    static final int REVOKING = 1;
    /** A slot's mode: its owner fences each pin itself, and drainers go without the system call on its account. */
    static final int FENCED = 2;
    /**
     * Fenced pins after which an owner makes its slot {@link #BIASED} again: a fenced pin costs a full fence
     * (some nanoseconds), a revocation one {@code membarrier} (a microsecond, 4-5 in a slow hour), so an owner
     * revoked by every flush pays at most about as much in fences as the barriers it spares.
     */
    static final int REBIAS_AFTER = 256;

    private static final VarHandle RANGE;
    private static final VarHandle OWNER;
    private static final VarHandle MODE;

    static {
        try {
            MethodHandles.Lookup lookup = MethodHandles.lookup();
            RANGE = lookup.findVarHandle(SlotFields.class, "range", long.class);
            OWNER = lookup.findVarHandle(SlotFields.class, "owner", Thread.class);
            MODE = lookup.findVarHandle(SlotFields.class, "mode", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final Slot[] slots;
    private final int mask;
    /**
     * Every slot a drainer scans: the home table's, then the {@link Writer}s' own, each owned by its writer's
     * thread for the writer's life. Replaced whole (copy on write, under this object's monitor) when a writer
     * is made or closed, so a scan reads one array; volatile, so a writer's slot is seen by every drainer
     * that reads the array after the writer's registration (see {@link #addWriter}).
     */
    private volatile Slot[] scanned;

    /** {@code count} slots, a power of two. */
    Hazards(int count) {
        if (Integer.bitCount(count) != 1) {
            throw new IllegalArgumentException("slot count must be a power of two: " + count);
        }
        slots = new Slot[count];
        for (int i = 0; i < count; i++) {
            slots[i] = new Slot();
        }
        mask = count - 1;
        scanned = slots;
    }

    /** Four slots per processor, at least 16 and at most 1024. */
    static Hazards forThisMachine() {
        int wanted = Math.clamp(4L * Runtime.getRuntime().availableProcessors(), 16, 1024);
        return new Hazards(Integer.highestOneBit(wanted - 1) << 1);
    }

    /** The slots themselves, for {@link #publishHome}. */
    Slot[] slots() {
        return slots;
    }

    int slotCount() {
        return mask + 1;
    }

    /**
     * A new slot of {@code owner}'s own, for a {@link Writer}, which drainers scan from now on. Its owner is
     * set before the volatile store of the array that holds it: a drainer that finds the slot finds its owner
     * ({@link #beginRevoking}). A drainer that read the array before this store cannot miss a pin in the
     * slot: the owner publishes only after the store, and reads the pages' states, the size and the mapping
     * after its publish, so in the order of volatile accesses after the drainer's own CAS or store, which came
     * before the drainer's read of the array.
     */
    Slot addWriter(Thread owner) {
        Slot s = new Slot();
        s.ownerId = owner.threadId();
        OWNER.setRelease(s, owner); // before the array's volatile store below
        if (!BrokenRule.scansWriterSlots()) {
            return s; // broken: no drainer will see its pins
        }
        synchronized (this) {
            Slot[] now = scanned;
            Slot[] more = java.util.Arrays.copyOf(now, now.length + 1);
            int n = slots.length;
            for (int i = slots.length; i < now.length; i++) {
                if (!abandoned(now[i])) {
                    more[n++] = now[i];
                }
            }
            more[n++] = s;
            scanned = n == more.length ? more : java.util.Arrays.copyOf(more, n);
        }
        return s;
    }

    /**
     * Whether a writer's slot may go unscanned though its writer was never closed: its owner ended, leaving
     * it EMPTY, so no pin can ever be published there again. A writer made on a short-lived thread (a virtual
     * thread per request, say) and dropped unclosed would otherwise be scanned by every drain, revocation and
     * retirement for the region's life; each new writer drops those. A slot its owner ended holding a pin
     * stays: its drainers end that pin ({@link #endPinOfEndedOwner}), and the next new writer drops it.
     */
    private static boolean abandoned(Slot s) {
        Thread owner = (Thread) OWNER.getAcquire(s);
        return owner != null && !owner.isAlive() && (long) RANGE.getVolatile(s) == EMPTY;
    }

    /** Stops scanning a writer's slot, which its owner left EMPTY; a drainer still holding the old array reads EMPTY there. */
    void removeWriter(Slot s) {
        synchronized (this) {
            Slot[] now = scanned;
            int at = java.util.Arrays.asList(now).lastIndexOf(s);
            if (at >= slots.length) {
                Slot[] fewer = new Slot[now.length - 1];
                System.arraycopy(now, 0, fewer, 0, at);
                System.arraycopy(now, at + 1, fewer, at, now.length - at - 1);
                scanned = fewer;
            }
        }
    }

    /** The writers' slots scanned now: for tests. */
    int writerSlots() {
        return scanned.length - slots.length;
    }

    /**
     * Publishes {@code value} in {@code s}, a {@link Writer}'s own slot, which only its owner writes; the
     * caller then reads the page's state, the slot's mode and the size, as after {@link #publishHome}. With
     * {@link AsymmetricFence#ON} an opaque store and a compiler barrier (the drainer's {@code membarrier}
     * orders it); otherwise a volatile store, the writer's own StoreLoad.
     */
    static void publishOwn(Slot s, long value) {
        if (AsymmetricFence.ON) {
            RANGE.setOpaque(s, value); // no fence: the drainer's membarrier orders it (AsymmetricFence)
            AsymmetricFence.light(); // the compiler keeps the store before the caller's state reads
        } else if (BrokenRule.fencesPin()) {
            RANGE.setVolatile(s, value); // StoreLoad before the state reads
        } else {
            RANGE.setRelease(s, value); // the broken variant: no StoreLoad before the state reads
        }
    }

    /** This thread's first slot: Fibonacci hashing of its id. */
    private int home(Thread me) {
        return hash(me) & mask;
    }

    private static int hash(Thread me) {
        return (int) ((me.threadId() * 0x9E3779B97F4A7C15L) >>> 40);
    }

    static long value(long first, long last) {
        return (first << COUNT_BITS) | (last - first + 1);
    }

    static long first(long value) {
        return value >>> COUNT_BITS;
    }

    static long last(long value) {
        return first(value) + (value & MAX_PAGES) - 1;
    }

    /**
     * Publishes {@code [first, last]} in a slot of this thread's; the caller then reads the pages' states.
     * Returns the slot, or null if none is free or the range is too long.
     *
     * <p>With {@link AsymmetricFence#ON}, a thread owns its slots: it claims one once with a CAS and keeps
     * it while it lives, so it publishes with an opaque store no other thread races, and only a compiler
     * barrier before its state reads; the drainer's {@link AsymmetricFence#heavy()} supplies the StoreLoad.
     * Otherwise a slot is taken with a CAS on every pin, the writer's StoreLoad.
     */
    Slot publish(long first, long last) {
        if (STATE_WORD_PINS_ONLY || last - first >= MAX_PAGES) {
            return null;
        }
        long value = value(first, last);
        Slot s = publishHome(slots, value);
        return s != null ? s : publishSlowly(value);
    }

    /**
     * {@link #publish}'s common case, small enough to inline into every write: publishes {@code value} in
     * this thread's home slot of {@code slots} (a table's {@link #slots()}, which a caller may keep, one load
     * nearer) and returns the slot, or returns null, with nothing published, when anything more is needed
     * (a claim, the second probe, the fallback, a broken variant).
     */
    static Slot publishHome(Slot[] slots, long value) {
        if (STATE_WORD_PINS_ONLY) {
            return null;
        }
        Thread me = Thread.currentThread();
        Slot s = slots[hash(me) & (slots.length - 1)]; // home(me), masked by the array's own length
        if (AsymmetricFence.ON) {
            // Plain read of the owner: only this thread makes it this thread; the slot's only writer is its owner.
            // Owned by this thread and EMPTY, in one test. Plain read of the id: only the owner writes its own.
            if ((s.ownerId ^ me.threadId() | (long) RANGE.getOpaque(s)) == EMPTY) {
                RANGE.setOpaque(s, value); // no fence: the drainer's membarrier orders it (AsymmetricFence)
                AsymmetricFence.light(); // the compiler keeps the store before the caller's state reads
                return s;
            }
        } else if (BrokenRule.fencesPin() && (long) RANGE.getOpaque(s) == EMPTY // opaque: a hint; the CAS decides
                && RANGE.compareAndSet(s, EMPTY, value)) { // volatile: StoreLoad before the state reads
            return s;
        }
        return null;
    }

    /** {@link #publish} past the home slot's common case: claims, the second probe, the broken variant. */
    private Slot publishSlowly(long value) {
        Thread me = Thread.currentThread();
        int home = home(me);
        for (int probe = 0; probe < PROBES; probe++) {
            int slot = (home + probe) & mask;
            Slot s = slots[slot];
            if (AsymmetricFence.ON) {
                if ((s.owner == me || claim(slot, me)) && (long) RANGE.getOpaque(s) == EMPTY) {
                    RANGE.setOpaque(s, value); // no fence: the drainer's membarrier orders it (AsymmetricFence)
                    AsymmetricFence.light(); // the compiler keeps the store before the caller's state reads
                    return s;
                }
            } else if ((long) RANGE.getOpaque(s) == EMPTY) { // opaque: a hint; the CAS decides
                if (!BrokenRule.fencesPin()) {
                    RANGE.setRelease(s, value); // the broken variant: no StoreLoad before the state reads
                    return s;
                }
                if (RANGE.compareAndSet(s, EMPTY, value)) { // volatile: StoreLoad before the state reads
                    return s;
                }
            }
        }
        return null;
    }

    /**
     * Makes {@code me} the owner of {@code slot} if it has none, or its owner has ended with the slot
     * EMPTY (a thread that ended holding a pin keeps it: its drainers wait, as for any pin not ended).
     * A slot once owned stays owned by a live thread, so a pool's threads claim once.
     */
    boolean claim(int slot, Thread me) {
        Slot s = slots[slot];
        Thread owner = (Thread) OWNER.getAcquire(s); // acquire: pairs with the claiming CAS
        if (owner == me) {
            return true;
        }
        if (owner != null && (owner.isAlive() || (long) RANGE.getVolatile(s) != EMPTY)) {
            return false; // isAlive() false happens-after the owner's last store: the slot read sees its last clear
        }
        if (OWNER.compareAndSet(s, owner, me)) { // volatile: one claimer wins
            s.ownerId = me.threadId(); // read only by this thread, on its fast path
            return true;
        }
        return false;
    }

    /**
     * The drainer's half of the revocation, after its volatile CAS that took its pages (or its volatile store
     * of a new mapping) and before its first slot read. Returns null if no thread other than {@code me} can
     * have published a range without a fence, so that the drainer needs no {@link AsymmetricFence#heavy()};
     * otherwise the slots that need it, with the exact REVOKING mode each had here, which the drainer passes
     * to {@link #finishRevoking} once the barrier has returned: its own revocations and others' it read (a
     * barrier that starts after the revoking CAS was read serves as well as the revoker's own, and a revoker
     * that failed before its barrier returned leaves no slot REVOKING for good).
     *
     * <p>A slot needs the barrier when it has a live owner other than {@code me} and is not {@link #FENCED}.
     * Each such {@link #BIASED} slot is made {@link #REVOKING} here (volatile CAS, a new epoch), and
     * {@link #FENCED} only after the barrier, by a CAS from that very mode; from then on its owner fences its
     * own pins ({@link #revoked}, read after the pin's state reads), and the next drainers go without the
     * system call on its account, until the owner makes the slot BIASED again, in a new epoch, after
     * {@link #REBIAS_AFTER} fenced pins. So a thread that wrote once and now only lives on (a main thread that
     * wrote a header, a pool's thread) costs one barrier, not one per flush.
     *
     * <p>Why a drainer may skip a FENCED slot. An owner that read BIASED after its pin's state reads read it
     * before the revoking CAS; the barrier that follows that CAS has a point in the owner's program, after
     * that read (else the read would see the CAS), so the owner's slot store, which came before the read,
     * is visible by the barrier's return, and so before the slot became FENCED and before any drainer that
     * reads FENCED reads the slots. An owner that reads REVOKING or FENCED fences and reads its pages' states
     * again, the writer's side of Dekker's pair. An owner that makes its slot BIASED again does it with a
     * volatile store before its next pin, so a drainer that read FENCED before that store did its CAS before
     * the owner's state reads. A REVOKING slot whose barrier has not returned needs the caller's own barrier:
     * it is in the answer, though another drainer may finish it. Owners are read volatile, as before the
     * modes: a thread that claims a slot after this read orders its state reads after its claiming CAS.
     *
     * <p>Why the epoch. A FENCED slot stands for "a barrier returned after this revocation began". Without
     * the epoch a drainer whose barrier returned long ago could finish a later revocation of the same slot:
     * drainer A revokes, its barrier runs, A is preempted; the owner pins 256 times fenced and makes the
     * slot BIASED, pins unfenced; drainer B revokes again and enters its barrier; A resumes and its CAS from
     * REVOKING to FENCED succeeds on B's revocation; a drainer C then skips the barrier while the owner's
     * last slot store may still be in its store buffer (a helper's review found it). Each revocation and
     * re-bias makes a new epoch, so A's CAS, from the mode it saw, fails on B's (HazardsTest).
     */
    Revocation beginRevoking(Thread me) {
        Slot[] all = scanned; // volatile: after the drainer's CAS, as the owners below
        if (BrokenRule.skipsFenceWhenSlotsLookEmpty()) {
            for (Slot s : all) {
                if ((long) RANGE.getVolatile(s) != EMPTY) {
                    return NONE_BEGUN;
                }
            }
            return null; // broken: a range stored but not yet visible looks EMPTY here
        }
        Slot[] begun = null;
        long[] modes = null;
        int count = 0;
        for (Slot s : all) {
            Thread owner = (Thread) OWNER.getVolatile(s); // volatile: after the drainer's CAS (see above)
            if (owner == null || owner == me || !owner.isAlive()) {
                continue;
            }
            long mode = (long) MODE.getVolatile(s);
            if (state(mode) == BIASED) {
                long revoking = next(mode, REVOKING);
                long witness = (long) MODE.compareAndExchange(s, mode, revoking);
                // This drainer's revocation; else the value that beat it: the owner does not change a BIASED
                // mode, so another drainer's REVOKING, or FENCED since.
                mode = witness == mode ? revoking : witness;
            }
            if (state(mode) == FENCED) {
                continue;
            }
            // REVOKING: this drainer's revocation or one read here, begun before its barrier
            if (begun == null) {
                begun = new Slot[Math.min(8, all.length)];
                modes = new long[begun.length];
            } else if (count == begun.length) {
                begun = java.util.Arrays.copyOf(begun, 2 * count);
                modes = java.util.Arrays.copyOf(modes, 2 * count);
            }
            begun[count] = s;
            modes[count++] = mode;
        }
        return begun == null ? null
                : new Revocation(java.util.Arrays.copyOf(begun, count), java.util.Arrays.copyOf(modes, count));
    }

    /**
     * {@link #beginRevoking}'s answer: the slots whose revocation the drainer's barrier stands for, each with
     * the exact REVOKING mode it had then.
     */
    record Revocation(Slot[] slots, long[] modes) {
    }

    /** The broken variant's answer when it fences: no slot to finish. */
    private static final Revocation NONE_BEGUN = new Revocation(new Slot[0], new long[0]);

    /**
     * After the drainer's {@link AsymmetricFence#heavy()}: each slot {@link #beginRevoking} gave becomes
     * {@link #FENCED}, in the same epoch, if its mode is still the REVOKING it gave; else its owner made it
     * BIASED again, or a later revocation began, which this barrier does not stand for.
     */
    void finishRevoking(Revocation begun) {
        for (int k = 0; k < begun.slots.length; k++) {
            long revoking = begun.modes[k];
            MODE.compareAndSet(begun.slots[k], revoking, revoking & ~MODE_STATE | FENCED);
        }
    }

    private static int state(long mode) {
        return (int) (mode & MODE_STATE);
    }

    /** {@code mode}'s next epoch, in {@code state}. */
    private static long next(long mode, int state) {
        return (mode & ~MODE_STATE) + (MODE_STATE + 1) | state;
    }

    /**
     * The writer's check after its pin's state reads (volatile, so this read stays after them): whether its
     * slot is revoked, so that the pin needs the writer's own fence and a second read of the states
     * ({@link #beginRevoking}). Opaque: a real read of the slot's line, which the pin's store just wrote.
     */
    static boolean revoked(Slot slot) {
        return revokedBits(slot) != 0;
    }

    /**
     * {@link #revoked} without a branch: 0 if the slot is BIASED (mode state 0), else its mode's state bits,
     * for the fast path to OR with its other tests.
     */
    static long revokedBits(Slot slot) {
        if (!AsymmetricFence.ON || !BrokenRule.fencesRevokedPin()) { // constants: the JIT folds the test away
            return 0;
        }
        return state((long) MODE.getOpaque(slot));
    }

    /** A pin in a revoked slot, published and its states read once: the StoreLoad before they are read again. */
    static void fenceRevokedPin() {
        VarHandle.fullFence();
    }

    /**
     * A pin kept in a revoked slot, after {@link #fenceRevokedPin} and the states read again: counts it, and
     * after {@link #REBIAS_AFTER} of them makes the slot BIASED again, in a new epoch, with a volatile store
     * before the owner's next pin's slot store. The owner's alone to call.
     */
    static void fencedPinKept(Slot slot) {
        if (++slot.fencedPins >= REBIAS_AFTER) {
            slot.fencedPins = 0;
            // Only the owner makes a mode BIASED, and drainers change only BIASED modes' epochs: the read and
            // the store do not race another epoch's change.
            MODE.setVolatile(slot, next((long) MODE.getVolatile(slot), BIASED));
        }
    }

    /** Makes a slot {@link #FENCED}, as a drainer's finished revocation does: for tests. */
    void fenceForTests(int slot) {
        Slot s = slots[slot];
        MODE.setVolatile(s, next((long) MODE.getVolatile(s), FENCED));
    }

    /** A slot's mode's state, read volatile: for tests. */
    int modeVolatile(int slot) {
        return state((long) MODE.getVolatile(slots[slot]));
    }

    /** Ends a pin: a release store, so the writer's stores happen-before a drainer that reads EMPTY. */
    static void clearRelease(Slot slot) {
        RANGE.setRelease(slot, EMPTY); // StoreStore: the writer's stores before EMPTY
    }

    /**
     * The slot's value, read volatile: a drainer reads it after its volatile CAS on the page's state, the
     * other half of the Dekker pair with {@link #publish}; an acquire read could move before it. With
     * {@link AsymmetricFence#ON} the drainer calls {@link AsymmetricFence#heavy()} before its first read.
     */
    long slotVolatile(int slot) {
        return (long) RANGE.getVolatile(slots[slot]);
    }

    /** The index of {@code slot} in this table, or -1 if it is not one of its slots: for tests. */
    int indexOf(Slot slot) {
        return java.util.Arrays.asList(slots).indexOf(slot);
    }

    static boolean overlaps(long value, long first, long last) {
        return value != EMPTY && first(value) <= last && last(value) >= first;
    }

    /**
     * The range this thread has published in a slot of its own that overlaps {@code [first, last]}, or
     * {@link #EMPTY}. Only owned slots (with {@link AsymmetricFence#ON}, and writers') say whose they are.
     */
    long ownRangeOverlapping(long first, long last) {
        Thread me = Thread.currentThread();
        for (Slot s : scanned) {
            if ((Thread) OWNER.getAcquire(s) == me) {
                long v = (long) RANGE.getOpaque(s); // its owner's own store
                if (overlaps(v, first, last)) {
                    return v;
                }
            }
        }
        return EMPTY;
    }

    /** Whether any published range covers {@code page}, every slot read volatile. */
    boolean coversVolatile(long page) {
        for (Slot s : scanned) {
            if (overlaps(rangeVolatile(s), page, page)) {
                return true;
            }
        }
        return false;
    }

    /** Every slot a drainer scans now, the writers' included: read the array once per scan. */
    Slot[] scanned() {
        return scanned;
    }

    /** A slot's range, read volatile: as {@link #slotVolatile}. */
    static long rangeVolatile(Slot s) {
        return (long) RANGE.getVolatile(s);
    }

    /**
     * Ends the pin {@code seen} in slot {@code s} if the thread that owns the slot has ended: it ended
     * holding a span it never closed, can store nothing more (its termination happens-before
     * {@code isAlive()} returns false, so its last stores are visible), and its pin would keep every
     * drainer of those pages waiting forever. Returns the thread whose pin it ended, or null: the slot has
     * no owner (without the fence), a live one, or another range now. The slot stays owned by the ended
     * thread until a live thread claims it ({@link #claim}: an ended owner's EMPTY slot).
     */
    static Thread endPinOfEndedOwner(Slot s, long seen) {
        // The range first, then the owner: a slot is claimed only EMPTY, so an owner read after the pin was
        // seen still there is the pin's own, unless another drainer ended it meanwhile and a new owner claimed
        // the slot and pinned the same range before the CAS below. Ending that pin is harmless: the drainer
        // holds a page of it out of WRITABLE (frozen, or under writeback), so the new owner's pin fails its
        // state test and is taken back without a store.
        if (seen == EMPTY || (long) RANGE.getVolatile(s) != seen) {
            return null;
        }
        Thread owner = (Thread) OWNER.getVolatile(s);
        if (owner == null || owner.isAlive()) {
            return null;
        }
        return RANGE.compareAndSet(s, seen, EMPTY) ? owner : null; // volatile
    }

    /**
     * Whether the slot's owner, read after its range, has ended: the pin just read is that thread's (a slot is
     * claimed only EMPTY, and a claimer owns it before it pins), or a later ended owner's, so no live thread
     * stores through it. Changes nothing: unlike {@link #endPinOfEndedOwner} the caller holds no page out of
     * WRITABLE, so it must not clear a range that a new owner could have pinned again meanwhile. Without the
     * fence slots have no owner, and their pins count as live.
     */
    private static boolean ownerEnded(Slot s) {
        Thread owner = (Thread) OWNER.getVolatile(s);
        return owner != null && !owner.isAlive();
    }

    /** Every scanned slot's value, read volatile: what {@link #allChangedSince} compares with. */
    Snapshot snapshotVolatile() {
        Slot[] all = scanned;
        long[] values = new long[all.length];
        for (int s = 0; s < all.length; s++) {
            values[s] = rangeVolatile(all[s]);
        }
        return new Snapshot(all, values);
    }

    /** The slots scanned at a snapshot and the value each held. */
    record Snapshot(Slot[] slots, long[] values) {
    }

    /**
     * Whether every range published in {@code snapshot} has since been cleared or replaced, or is held by
     * an owner that has ended, so every pin held at the snapshot has ended or can store nothing more. A slot
     * that went back to the same range counts as unchanged (the answer errs towards waiting). A writer's
     * slot made after the snapshot holds no pin from before it.
     */
    boolean allChangedSince(Snapshot snapshot) {
        for (int s = 0; s < snapshot.slots.length; s++) {
            long then = snapshot.values[s];
            if (then != EMPTY && rangeVolatile(snapshot.slots[s]) == then && !ownerEnded(snapshot.slots[s])) {
                return false;
            }
        }
        return true;
    }

    /** The number of pages pinned through slots: a racy snapshot for statistics. */
    long pinnedPages() {
        long sum = 0;
        for (Slot s : scanned) {
            long v = rangeVolatile(s);
            if (v != EMPTY) {
                sum += v & MAX_PAGES;
            }
        }
        return sum;
    }
}
