package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code --checkpoint} on train and bench: named policies, BUDGET plans, and bad values. */
class CheckpointOptionTest {
    private static final String[] BENCH = {"bench", "--layers", "3", "--dim", "32", "--heads", "2", "--batch", "2", "--ctx", "16",
            "--warmup", "0", "--steps", "2", "--no-sgemm-peak", "--json"};
    private static final String[] TRAIN = {"train", "--steps", "4", "--dim", "16", "--layers", "2", "--heads", "2", "--batch", "4",
            "--eval-examples", "8", "--eval-every", "0", "--no-progress", "--json", "--seed", "5"};

    private static JsonNode bench(String checkpoint) {
        CliRunner.Result r = CliRunner.run(CliRunner.args(BENCH, "--checkpoint", checkpoint));
        assertThat(r.exit()).as(r.toString()).isZero();
        return r.lastJson();
    }

    @Test
    void benchRunsEveryPolicyAndBudgetFitsItsPlan() {
        long none = bench("NONE").get("peak_bytes").get("activation").asLong();
        JsonNode selective = bench("SELECTIVE");
        assertThat(selective.get("config").get("checkpoint").asText()).isEqualTo("SELECTIVE: selective [0, 3)");
        assertThat(selective.get("peak_bytes").get("activation").asLong()).isLessThan(none);
        assertThat(selective.get("mfu").isNull()).isTrue(); // --no-sgemm-peak

        long noneTotal = bench("NONE").get("peak_bytes").get("total").asLong();
        long everyTotal = bench("EVERY_LAYER").get("peak_bytes").get("total").asLong();
        long budget = (noneTotal + everyTotal) / 2;
        CliRunner.Result r = CliRunner.run(CliRunner.args(BENCH, "--checkpoint", "BUDGET(" + budget + ")"));
        assertThat(r.exit()).as(r.toString()).isZero();
        assertThat(r.err()).contains(CheckpointOption.PLAN_PREFIX + "BUDGET(" + budget + ")");
        assertThat(r.lastJson().get("peak_bytes").get("total").asLong()).isLessThanOrEqualTo(budget);
    }

    @Test
    void trainingWithAPolicyFollowsTheSameTrajectory() {
        CliRunner.Result plain = CliRunner.run(TRAIN), selective = CliRunner.run(CliRunner.args(TRAIN, "--checkpoint", "SELECTIVE")),
                budget = CliRunner.run(CliRunner.args(TRAIN, "--checkpoint", "BUDGET(100MiB)"));
        for (CliRunner.Result r : new CliRunner.Result[]{plain, selective, budget}) assertThat(r.exit()).as(r.toString()).isZero();
        // Recomputation gives bitwise the same gradients, and planning does not disturb the data or dropout streams.
        double loss = plain.lastJson().get("final_loss").asDouble();
        assertThat(selective.lastJson().get("final_loss").asDouble()).isEqualTo(loss);
        assertThat(budget.lastJson().get("final_loss").asDouble()).isEqualTo(loss);
        assertThat(plain.lastJson().get("checkpoint").asText()).isEqualTo("NONE: keep [0, 2)");
        assertThat(selective.lastJson().get("checkpoint").asText()).isEqualTo("SELECTIVE: selective [0, 2)");
        assertThat(budget.lastJson().get("checkpoint").asText()).startsWith("BUDGET(104857600): ");
        assertThat(budget.lastJson().get("peak_bytes").get("total").asLong()).isLessThanOrEqualTo(100L << 20);
    }

    @Test
    void badValuesAreArgumentErrorsAndAnInfeasibleBudgetNamesTheSmallestFeasible() {
        for (String bad : new String[]{"HALF", "EVERY_K(0)", "BUDGET(lots)", "BUDGET(0)"}) {
            CliRunner.Result r = CliRunner.run(CliRunner.args(BENCH, "--checkpoint", bad));
            assertThat(r.exit()).as(r.toString()).isEqualTo(2);
            assertThat(r.err()).contains("--checkpoint");
        }
        for (String[] base : new String[][]{TRAIN, BENCH}) {
            CliRunner.Result r = CliRunner.run(CliRunner.args(base, "--checkpoint", "BUDGET(1000)"));
            assertThat(r.exit()).as(r.toString()).isEqualTo(2);
            assertThat(r.err()).contains("--checkpoint: no checkpointing plan fits a budget of 1,000 bytes").contains("smallest feasible budget is");
        }
    }
}
