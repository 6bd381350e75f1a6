package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code train --zero 2 --bucket-mb MIB}: bad values are argument errors naming the option; the bucket is the size
 * asked for (in FP32 elements, rounded down to a multiple of N), and each rank's COMMUNICATION peak, as its own
 * memory tracker measures it, stays within the analytic bound of {@code GradientBuckets}: two buckets in flight, three
 * being filled, and the transport's two scratch arrays of a bucket's piece.
 */
@Timeout(600)
class BucketSizeOptionTest {
    static final String[] STAGE_2 = CliRunner.args(ShardedTrainCommandTest.RUN, "--zero", "2");

    @Test
    void badBucketSizesAreArgumentErrors() {
        String[][] cases = {
                {"0", "--bucket-mb: the gradient bucket must be a positive number of MiB, got 0.0"},
                {"-1", "--bucket-mb: the gradient bucket must be a positive number of MiB, got -1.0"},
                {"NaN", "--bucket-mb: the gradient bucket must be a positive number of MiB, got NaN"},
                {"Infinity", "--bucket-mb: the gradient bucket must be a positive number of MiB, got Infinity"},
                {"5000", "--bucket-mb: the gradient bucket of 5000.0 MiB is more than 4096.0 MiB"},
                {"1e-7", "--bucket-mb: the gradient bucket of 1.0E-7 MiB holds no FP32 element"},
                {"four", "'four' is not a double"},
        };
        for (String[] c : cases) {
            CliRunner.Result r = CliRunner.run(CliRunner.args(STAGE_2, "--bucket-mb", c[0]));
            assertThat(r.exit()).as("%s", r).isEqualTo(2);
            assertThat(r.err()).as("%s", r).contains(c[1]);
        }
        CliRunner.Result r = CliRunner.run(CliRunner.args(ShardedTrainCommandTest.RUN, "--zero", "1", "--bucket-mb", "1"));
        assertThat(r.exit()).as("%s", r).isEqualTo(2);
        assertThat(r.err()).contains("--bucket-mb sizes the gradient buckets of --zero 2; --zero 1 has none");
    }

    /** Per rank: (MAX_IN_FLIGHT + 3)·B bucket bytes and 2·B/N of the reduce-scatter's scratch. */
    static long bound(long bucketBytes, int n) {
        return 5 * bucketBytes + 2 * bucketBytes / n;
    }

    static void assertBounded(JsonNode j, double mib, int n, String what) {
        long asked = (long) Math.floor(mib * (1 << 20) / 4) / n * n * 4;
        long bucket = j.get("comm_bucket_bytes").asLong(), psi = j.get("params").asLong();
        long peak = j.get("peak_bytes").get("communication").asLong();
        assertThat(bucket).as("%s: the bucket asked for", what).isEqualTo(asked);
        assertThat(bound(bucket, n)).as("%s: a bound below the whole gradient", what).isLessThan(4 * psi);
        assertThat(peak).as("%s: COMMUNICATION peak", what).isBetween(bucket, bound(bucket, n));
    }

    @Test
    void theCommunicationPeakIsBoundedByTheBucket() throws Exception {
        for (double mib : new double[]{0.002, 0.01}) {
            CliRunner.Result one = CliRunner.run(CliRunner.args(STAGE_2, "--bucket-mb", Double.toString(mib)));
            assertThat(one.exit()).as("%s", one).isZero();
            assertBounded(one.lastJson(), mib, 1, "one process, " + mib + " MiB");
        }
        List<JsonNode> ranks = ShardedTrainCommandTest.workers(2, CliRunner.args(STAGE_2, "--bucket-mb", "0.004"));
        for (int r = 0; r < 2; r++) assertBounded(ranks.get(r), 0.004, 2, "rank " + r + " of 2, 0.004 MiB");
        assertThat(ranks.get(1).get("final_loss")).isEqualTo(ranks.get(0).get("final_loss"));
    }
}
