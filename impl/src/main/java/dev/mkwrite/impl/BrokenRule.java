package dev.mkwrite.impl;

import org.slf4j.LoggerFactory;

/**
 * Deliberately broken variants of the protocol, for one purpose: to show that each concurrency test can
 * fail. A test that never fails against broken code proves nothing.
 *
 * <p>Selected only by the system property {@value #PROPERTY}, read once into a constant, so that the JIT
 * removes every check when it is unset. Never set it outside the test suites; a loud error is logged when
 * it is.
 */
enum BrokenRule {
    /** The real protocol. */
    NONE,
    /** G4/K6: a retry adopts a PREPARING page without comparing generations. */
    SKIP_GENERATION_CHECK,
    /** G1/K3: the page becomes WRITABLE before the handler runs. */
    PUBLISH_BEFORE_PREPARE,
    /** G5/K8: flush forces pages without waiting for their writers to leave. */
    FLUSH_WITHOUT_DRAIN,
    /** G3/K4: a retry may drop the lock again. */
    DROP_LOCK_ON_RETRY,
    /** G7/K4: dropLock() returns without releasing the region lock. */
    KEEP_LOCK_ON_DROP,
    /** G6/K2: grow, truncate and close swap the mapping without draining pinned writers. */
    REMAP_WITHOUT_DRAIN,
    /** G2/K5: a retry that finds its page prepared by another fault keeps its own reservation too. */
    LEAK_REDUNDANT_RESERVATION,
    /** G2/K5: a fault that read a CLEAN page prepares it even when its claim CAS lost to another fault. */
    CLAIM_WITHOUT_CAS,
    /** G5/G6: the fast path publishes its hazard with a release store, no fence before it reads the states. */
    PIN_WITHOUT_FENCE;

    static final String PROPERTY = "dev.mkwrite.impl.testing.brokenRule";

    static final BrokenRule ACTIVE = load();

    private static BrokenRule load() {
        String name = System.getProperty(PROPERTY);
        if (name == null || name.isBlank()) {
            return NONE;
        }
        BrokenRule rule = valueOf(name.trim());
        LoggerFactory.getLogger(BrokenRule.class).error(
                "mkwrite runs with the deliberately broken rule {} ({}={}); this is for tests only", rule, PROPERTY, name);
        return rule;
    }

    static boolean active(BrokenRule rule) {
        return ACTIVE == rule;
    }
}
