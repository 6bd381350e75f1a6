package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.memwall.kernels.Gemm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class CompareMemoryCommandTest {
    private static final String[] TINY = {"compare-memory", "--layers", "3", "--dim", "32", "--heads", "2", "--ctx", "16",
            "--batch", "2", "--warmup", "1", "--steps", "1", "--rounds", "2"};

    private static JsonNode rows(CliRunner.Result r) throws Exception {
        List<String> lines = r.outLines();
        assertThat(lines).as(r.toString()).isNotEmpty();
        JsonNode j = CliRunner.MAPPER.readTree(lines.get(lines.size() - 1));
        assertThat(j.isArray()).as(r.toString()).isTrue();
        return j;
    }

    @Test
    void everyPolicyHasARowWithExactActivationPredictionsAndTheBudgetIsMet(@TempDir Path dir) throws Exception {
        Path chart = dir.resolve("cmp.svg");
        CliRunner.Result r = CliRunner.run(CliRunner.args(TINY, "--json", "--chart", chart.toString()));
        assertThat(r.exit()).as(r.toString()).isZero();
        JsonNode rows = rows(r);
        List<String> names = new ArrayList<>();
        rows.forEach(row -> names.add(row.get("policy").asText()));
        assertThat(names).hasSize(5).startsWith("NONE", "EVERY_LAYER", "SQRT", "SELECTIVE");
        assertThat(names.get(4)).startsWith("BUDGET(");
        for (JsonNode row : rows) {
            for (String k : new String[]{"policy", "peak_activation_bytes", "peak_total_bytes", "step_ms", "overhead", "predicted_peak_bytes"}) {
                assertThat(row.has(k)).as("%s in %s", k, row).isTrue();
            }
            // The activation prediction is exact; the total prediction is a bound.
            assertThat(row.get("peak_activation_bytes").asLong()).as(row.toString()).isEqualTo(row.get("predicted_activation_bytes").asLong());
            assertThat(row.get("peak_total_bytes").asLong()).as(row.toString()).isLessThanOrEqualTo(row.get("predicted_peak_bytes").asLong());
        }
        JsonNode none = rows.get(0), every = rows.get(1), selective = rows.get(3), budget = rows.get(4);
        assertThat(none.get("overhead").asDouble()).isZero();
        assertThat(every.get("peak_activation_bytes").asLong()).isLessThan(none.get("peak_activation_bytes").asLong());
        assertThat(selective.get("peak_activation_bytes").asLong()).isLessThan(none.get("peak_activation_bytes").asLong());
        long b = budget.get("budget_bytes").asLong();
        // Halfway between NONE and EVERY_LAYER, or the least budget the planner accepts if that is higher.
        assertThat(b).isGreaterThanOrEqualTo((none.get("peak_total_bytes").asLong() + every.get("peak_total_bytes").asLong()) / 2);
        assertThat(budget.get("peak_total_bytes").asLong()).isLessThanOrEqualTo(b);
        assertThat(budget.get("plan").asText()).contains("[0, ");
        assertThat(Files.readString(chart)).contains("<svg");
    }

    @Test
    void theDefaultBudgetOfAOneBlockModelIsOneThePlannerAccepts() throws Exception {
        // Halfway between NONE and EVERY_LAYER lies below the planner's bound here: the default must not be infeasible.
        CliRunner.Result r = CliRunner.run("compare-memory", "--layers", "1", "--dim", "16", "--heads", "2", "--ctx", "8",
                "--batch", "2", "--warmup", "1", "--steps", "1", "--rounds", "1", "--json");
        assertThat(r.exit()).as(r.toString()).isZero();
        JsonNode budget = rows(r).get(4);
        assertThat(budget.get("peak_total_bytes").asLong()).isLessThanOrEqualTo(budget.get("budget_bytes").asLong());
    }

    @Test
    void anExplicitBudgetIsMetAndAnInfeasibleOneNamesTheSmallestFeasible() throws Exception {
        CliRunner.Result ok = CliRunner.run(CliRunner.args(TINY, "--json", "--budget", "3MiB"));
        assertThat(ok.exit()).as(ok.toString()).isZero();
        JsonNode budget = rows(ok).get(4);
        assertThat(budget.get("budget_bytes").asLong()).isEqualTo(3L << 20);
        assertThat(budget.get("peak_total_bytes").asLong()).isLessThanOrEqualTo(3L << 20);

        CliRunner.Result tiny = CliRunner.run(CliRunner.args(TINY, "--budget", "1000"));
        assertThat(tiny.exit()).as(tiny.toString()).isEqualTo(2);
        assertThat(tiny.err()).contains("--budget: no checkpointing plan fits a budget of 1,000 bytes").contains("smallest feasible budget is");
        assertThat(tiny.err()).doesNotContain("round 1/"); // refused before anything was measured
    }

    @Test
    void badSizesAreArgumentErrors() {
        String[][] bad = {{"--budget", "lots"}, {"--budget", "0"}, {"--budget", "-5"}, {"--heap", "100MiB"}, {"--real-memory", "--heap", "x"}};
        String[] named = {"--budget", "--budget", "--budget", "--heap needs --real-memory", "--heap must be a positive size"};
        for (int k = 0; k < bad.length; k++) {
            CliRunner.Result r = CliRunner.run(CliRunner.args(TINY, bad[k]));
            assertThat(r.exit()).as(r.toString()).isEqualTo(2);
            assertThat(r.err()).as(r.toString()).contains(named[k]);
        }
    }

    /**
     * The real-memory demonstration: child JVMs under one heap limit chosen from the budget. Without checkpointing the
     * step does not fit and the child says which policies would; full recomputation and the budget plan train.
     */
    @Test
    void realMemoryNoneRunsOutOfHeapWhileEveryLayerAndBudgetTrain() throws Exception {
        CliRunner.Result r = CliRunner.run("compare-memory", "--layers", "6", "--dim", "128", "--heads", "4", "--ctx", "128",
                "--batch", "16", "--warmup", "0", "--steps", "1", "--rounds", "1", "--real-memory", "--json");
        assertThat(r.exit()).as(r.toString()).isZero();
        JsonNode rows = rows(r);
        JsonNode none = rows.get(0), every = rows.get(1), budget = rows.get(4);
        long limit = none.get("heap_limit_bytes").asLong();
        assertThat(limit).isEqualTo(every.get("heap_limit_bytes").asLong()).isEqualTo(budget.get("heap_limit_bytes").asLong());
        long offHeap = Gemm.workspaceOffHeap() ? none.get("peak_workspace_bytes").asLong() : 0; // staging buffers are native
        long wanted = CompareMemoryCommand.demoHeap(none.get("peak_total_bytes").asLong() - offHeap);
        assertThat(limit).isEqualTo((wanted + (1 << 20) - 1) >> 20 << 20) // whole MiB for -Xmx
                .isLessThanOrEqualTo(none.get("peak_total_bytes").asLong()); // NONE's tracked arrays alone fill it

        assertThat(none.get("child_trained").asBoolean()).as(none.toString()).isFalse();
        assertThat(none.get("child_exit_code").asInt()).isEqualTo(1);
        assertThat(none.get("child_message").asText()).startsWith("memwall: out of memory: the usable Java heap is").contains("-Xmx is ")
                .contains("--checkpoint NONE").contains("EVERY_LAYER").contains("BUDGET(").doesNotContain("Exception");

        for (JsonNode row : List.of(every, budget)) {
            assertThat(row.get("child_trained").asBoolean()).as(row.toString()).isTrue();
            assertThat(row.get("child_exit_code").asInt()).isZero();
            // The sum of each heap pool's own peak: the pools peak at different moments (eden just before a collection,
            // the old generation after promotions), so the sum can exceed -Xmx although the heap never did; that the
            // child trained under the limit is the evidence it fitted.
            assertThat(row.get("child_jvm_heap_peak_bytes").asLong()).isPositive();
        }
        assertThat(every.get("child_peak_total_bytes").asLong()).isEqualTo(every.get("peak_total_bytes").asLong());
        assertThat(budget.get("child_peak_total_bytes").asLong()).isLessThanOrEqualTo(budget.get("budget_bytes").asLong());
        assertThat(budget.get("child_plan").asText()).startsWith("BUDGET(");
    }
}
