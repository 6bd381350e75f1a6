package dev.memwall.sharding.mpi;

import dev.memwall.sharding.RingVolumes;
import dev.memwall.sharding.shm.ShmWorker;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The Open MPI backend in separate JVMs started by {@code mpirun}: the shared-memory tests' collectives give the
 * sequential reference's results (bit for bit at N = 2, where any summation order gives a + b; within float rounding
 * of the sum's magnitude at N = 3, where Open MPI picks the order) and count the same ring-equivalent bytes, over its
 * shared-memory transport and once over TCP only ({@code --mca btl tcp,self}); an async all-reduce runs while the caller
 * computes. Runs only where the binding is built and mpirun exists.
 */
class MpiProcessesTest {
    private static final long SEED = 20261130;

    @BeforeEach
    void requireMpi() {
        MpiRun.assumeAvailable();
    }

    @Test
    void twoRanksMatchTheSequentialReferenceBitForBit(@TempDir Path dir) throws Exception {
        check(2, List.of(), dir, 0);
    }

    @Test
    void threeRanksOverTcpOnlyMatchTheReferenceWithinRounding(@TempDir Path dir) throws Exception {
        check(3, List.of("--mca", "btl", "tcp,self"), dir, 1e-6);
    }

    private static void check(int n, List<String> transport, Path dir, double tolerance) throws Exception {
        List<String> options = new java.util.ArrayList<>(transport);
        // A scratch slot of 16384 floats: the 70001-float all-reduce and the 20003-float shards take several rounds.
        options.addAll(List.of("-x", "MEMWALL_MPI_SLOT_MB=0.0625"));
        MpiRun.Result r = MpiRun.run(n, options, MpiWorker.class.getName(), List.of("script", dir.toString(),
                Long.toString(SEED)), 120);
        assertThat(r.exit()).as("mpirun: %s%s", r.stdout(), r.stderr()).isZero();
        for (int rank = 0; rank < n; rank++) {
            List<float[]> expected = ShmWorker.script(rank, n, SEED, null);
            try (DataInputStream in = new DataInputStream(Files.newInputStream(dir.resolve("rank" + rank + ".bin")))) {
                long[] counted = {in.readLong(), in.readLong(), in.readLong()};
                long[] volume = expectedVolume(n, rank);
                assertThat(counted).as("rank %d of %d: calls, bytes sent, received", rank, n)
                        .containsExactly(8, volume[0], volume[1]);
                for (int k = 0; k < expected.size(); k++) {
                    float[] e = expected.get(k);
                    float[] magnitude = magnitude(rank, n, k, e.length);
                    for (int i = 0; i < e.length; i++) {
                        float got = Float.intBitsToFloat(in.readInt());
                        if (tolerance == 0) {
                            assertThat(got).as("rank %d of %d, result %d, element %d", rank, n, k, i).isEqualTo(e[i]);
                        } else {
                            assertThat((double) got).as("rank %d of %d, result %d, element %d", rank, n, k, i)
                                    .isCloseTo(e[i], org.assertj.core.data.Offset.offset(tolerance * magnitude[i] + 1e-30));
                        }
                    }
                }
                float total = n * (n + 1) / 2f;
                assertThat(new float[] {Float.intBitsToFloat(in.readInt()), Float.intBitsToFloat(in.readInt()),
                        Float.intBitsToFloat(in.readInt())}).as("async all-reduce, first and last element, caller computed")
                        .containsExactly(total, total, 1f);
                assertThat(in.read()).as("nothing more").isEqualTo(-1);
            }
        }
    }

    /** Σ over ranks of |x| for result k of the script (the scale of its rounding), or the value itself where no sum. */
    private static float[] magnitude(int rank, int n, int k, int len) {
        int[] lens = {0, 1, 7, 1000, 70_001};
        float[][] in;
        if (k < lens.length) {
            in = dev.memwall.sharding.shm.Reference.inputs(SEED + lens[k], n, lens[k]);
        } else if (k == lens.length) {
            int shard = 20_003;
            float[][] flat = dev.memwall.sharding.shm.Reference.inputs(SEED + 1, n, n * shard);
            in = new float[n][];
            for (int r = 0; r < n; r++) in[r] = java.util.Arrays.copyOfRange(flat[r], rank * shard, (rank + 1) * shard);
        } else {
            return new float[len]; // gather and broadcast copy: exact
        }
        float[] m = new float[len];
        for (float[] x : in) for (int i = 0; i < len; i++) m[i] += Math.abs(x[i]);
        return m;
    }

    /** The ring-equivalent bytes the script's eight collectives (five all-reduces, one each of the others) count. */
    private static long[] expectedVolume(int n, int rank) {
        long sent = 0, received = 0;
        for (int len : new int[] {0, 1, 7, 1000, 70_001}) {
            sent += RingVolumes.allReduce(len, n).sent();
            received += RingVolumes.allReduce(len, n).received();
        }
        RingVolumes.Volume rs = RingVolumes.reduceScatter(20_003, n), ag = RingVolumes.allGather(20_003, n),
                bc = RingVolumes.broadcast(999, n, rank, n - 1);
        return new long[] {sent + rs.sent() + ag.sent() + bc.sent(), received + rs.received() + ag.received() + bc.received()};
    }
}
