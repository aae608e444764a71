package dev.mkwrite.impl.storage;

import dev.mkwrite.WriteFaultHandler;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** The storage handlers the disk-full tests run with, each built fresh for one test. */
enum HandlerKind {
    FALLOCATE,
    POPULATE,
    ZERO_FILL,
    QUOTA_THEN_FALLOCATE,
    PREPARE_AHEAD;

    static final int GRANULE = 64 << 10;
    /** Granules {@link #PREPARE_AHEAD} keeps allocated ahead of a writer. */
    static final int AHEAD = 4;

    /** Something to close, in order. */
    interface Closer {
        void close() throws IOException;
    }

    /** The handler to give regions, and what to close after them. */
    static final class Setup implements AutoCloseable {
        final WriteFaultHandler handler;
        final StorageHandler storage;
        final SpaceQuota quota;
        final PrepareAhead ahead;
        private final List<Closer> closeAfterRegions;

        Setup(WriteFaultHandler handler, StorageHandler storage, SpaceQuota quota, PrepareAhead ahead,
              List<Closer> closeAfterRegions) {
            this.handler = handler;
            this.storage = storage;
            this.quota = quota;
            this.ahead = ahead;
            this.closeAfterRegions = closeAfterRegions;
        }

        @Override
        public void close() throws IOException {
            List<Closer> order = new ArrayList<>(closeAfterRegions);
            Collections.reverse(order);
            for (Closer c : order) {
                c.close();
            }
        }
    }

    Setup open() {
        return open(GRANULE);
    }

    /** The handler with {@code granule}-sized granules (populate allocates pages: it has none). */
    Setup open(int granule) {
        return switch (this) {
            case FALLOCATE -> {
                StorageHandler s = StorageHandlers.fallocate(granule);
                yield new Setup(s, s, null, null, List.of(s::close));
            }
            case POPULATE -> {
                StorageHandler s = StorageHandlers.populate();
                yield new Setup(s, s, null, null, List.of(s::close));
            }
            case ZERO_FILL -> {
                StorageHandler s = StorageHandlers.zeroFill(granule);
                yield new Setup(s, s, null, null, List.of(s::close));
            }
            case QUOTA_THEN_FALLOCATE -> {
                StorageHandler s = StorageHandlers.fallocate(granule);
                SpaceQuota q = StorageHandlers.quota(Long.MAX_VALUE / 2);
                yield new Setup(StorageHandlers.chain(q, s), s, q, null, List.of(s::close));
            }
            case PREPARE_AHEAD -> {
                StorageHandler s = StorageHandlers.fallocate(granule);
                PrepareAhead a = StorageHandlers.prepareAhead(s, AHEAD);
                yield new Setup(a, s, null, a, List.of(s::close, a::close));
            }
        };
    }
}
