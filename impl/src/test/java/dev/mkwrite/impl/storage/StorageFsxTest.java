package dev.mkwrite.impl.storage;

import dev.mkwrite.Backing;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * {@link StorageFsx} on a small tmpfs: every storage handler on both backings, a fixed seed each, 3,000
 * operations. {@code -Dfsx.storage.seed=N} and {@code -Dfsx.storage.ops=N} run another seed, or more.
 * Ext4, which keeps the blocks a failed {@code fallocate} got, runs it in {@link Ext4DiskFullTest}.
 */
class StorageFsxTest {

    static final int OPS = Integer.getInteger("fsx.storage.ops", 3_000);
    static final long SEED = Long.getLong("fsx.storage.seed", 0x5EED_0002L);

    @RegisterExtension
    static final SmallFilesystem fs = new SmallFilesystem();

    static Stream<Arguments> kindsAndBackings() {
        List<Arguments> all = new ArrayList<>();
        long seed = SEED;
        for (HandlerKind kind : HandlerKind.values()) {
            for (Backing backing : Backing.values()) {
                all.add(Arguments.of(kind, backing, seed++));
            }
        }
        return all.stream();
    }

    @ParameterizedTest(name = "{0} on {1}, seed {2}")
    @MethodSource("kindsAndBackings")
    void shouldKeepEveryAcknowledgedByteThroughRandomOperationsOnANearlyFullDisk(HandlerKind kind, Backing backing,
            long seed) throws Exception {
        System.out.println(new StorageFsx(fs, kind, backing, seed, 2L << 20).run(OPS));
    }
}
