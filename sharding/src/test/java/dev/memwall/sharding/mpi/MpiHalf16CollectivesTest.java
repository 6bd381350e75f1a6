package dev.memwall.sharding.mpi;

import dev.memwall.sharding.Half16Script;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.DataInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The Open MPI backend's 16-bit collectives under {@code mpirun} against the sequential reference: bit for bit at N = 2
 * and 3 (the sums are memwall's, in FP32 and rank order, after an all-to-all of the 16-bit pieces, so Open MPI's choice
 * of reduction order does not enter), with a scratch of 16,384 floats so the large sizes take several rounds; bytes
 * counted at 2 per element, as the shared-memory backend counts them.
 */
class MpiHalf16CollectivesTest {
    private static final long SEED = 1611;

    @BeforeEach
    void requireMpi() {
        MpiRun.assumeAvailable();
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 3})
    void everyCollectiveMatchesTheReferenceBitForBit(int n, @org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        MpiRun.Result r = MpiRun.run(n, List.of("-x", "MEMWALL_MPI_SLOT_MB=0.0625"), MpiWorker.class.getName(),
                List.of("script16", dir.toString(), Long.toString(SEED)), 120);
        assertThat(r.exit()).as("mpirun: %s%s", r.stdout(), r.stderr()).isZero();
        long[] volume = Half16Script.volume(n);
        for (int rank = 0; rank < n; rank++) {
            List<short[]> expected = Half16Script.run(rank, n, SEED, null);
            try (DataInputStream in = new DataInputStream(Files.newInputStream(dir.resolve("rank" + rank + ".bin")))) {
                assertThat(new long[] {in.readLong(), in.readLong(), in.readLong()}).as("rank %d: calls, bytes", rank)
                        .containsExactly(Half16Script.calls(), volume[0], volume[1]);
                for (int k = 0; k < expected.size(); k++) {
                    short[] e = expected.get(k), got = new short[e.length];
                    for (int i = 0; i < e.length; i++) got[i] = in.readShort();
                    assertThat(got).as("rank %d of %d, result %d", rank, n, k).isEqualTo(e);
                }
                assertThat(in.read()).as("nothing more").isEqualTo(-1);
            }
        }
    }
}
