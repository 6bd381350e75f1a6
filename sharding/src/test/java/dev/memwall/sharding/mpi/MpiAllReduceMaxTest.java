package dev.memwall.sharding.mpi;

import dev.memwall.sharding.MaxScript;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The Open MPI all-reduce MAX under {@code mpirun} at N = 3 against the sequential reference, bit for bit: a NaN on
 * the last rank only wins (Open MPI's MAX on floats would answer by operand order; memwall reduces ordered integer
 * keys), +0 beats -0; a scratch of 16,384 floats; bytes counted as the shared-memory backend counts them. And the key
 * mapping itself, which must order like the floats.
 */
class MpiAllReduceMaxTest {
    private static final long SEED = 808;

    @Test
    void orderedKeysSortLikeTheFloatsAndComeBackExactly() {
        float[] ascending = {Float.NEGATIVE_INFINITY, -3e38f, -1f, -Float.MIN_VALUE, -0f, 0f, Float.MIN_VALUE, 1f, 3e38f,
                Float.POSITIVE_INFINITY, Float.NaN};
        for (int i = 0; i < ascending.length; i++) {
            assertThat(Float.floatToIntBits(MpiProcessGroup.fromOrderedKey(MpiProcessGroup.orderedKey(ascending[i]))))
                    .isEqualTo(Float.floatToIntBits(ascending[i]));
            if (i > 0) assertThat(MpiProcessGroup.orderedKey(ascending[i])).isGreaterThan(MpiProcessGroup.orderedKey(ascending[i - 1]));
        }
        assertThat(MpiProcessGroup.orderedKey(Float.intBitsToFloat(0xffc00001))).as("a negative NaN too wins")
                .isEqualTo(MpiProcessGroup.orderedKey(Float.NaN));
    }

    @Test
    void matchesTheSequentialMaximumBitForBit(@TempDir Path dir) throws Exception {
        MpiRun.assumeAvailable();
        int n = 3;
        MpiRun.Result r = MpiRun.run(n, List.of("-x", "MEMWALL_MPI_SLOT_MB=0.0625"), MpiWorker.class.getName(),
                List.of("scriptMax", dir.toString(), Long.toString(SEED)), 120);
        assertThat(r.exit()).as("mpirun: %s%s", r.stdout(), r.stderr()).isZero();
        for (int rank = 0; rank < n; rank++) {
            List<float[]> expected = MaxScript.run(rank, n, SEED, null);
            try (DataInputStream in = new DataInputStream(Files.newInputStream(dir.resolve("rank" + rank + ".bin")))) {
                assertThat(new long[] {in.readLong(), in.readLong(), in.readLong()}).as("rank %d: calls, bytes", rank)
                        .containsExactly(MaxScript.LENGTHS.length, MaxScript.volume(n), MaxScript.volume(n));
                for (int k = 0; k < expected.size(); k++) {
                    float[] e = expected.get(k), got = new float[e.length];
                    for (int i = 0; i < e.length; i++) got[i] = Float.intBitsToFloat(in.readInt());
                    assertThat(got).as("rank %d, length %d", rank, e.length).isEqualTo(e);
                }
                assertThat(in.read()).as("nothing more").isEqualTo(-1);
            }
        }
    }
}
