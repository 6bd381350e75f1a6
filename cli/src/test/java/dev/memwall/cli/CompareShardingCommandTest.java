package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.memwall.train.ZeroStage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * compare-sharding on a tiny model at N = 1 and 2 (real worker JVMs through the launcher): the JSON contract, measured
 * bytes against the ZeRO formulas, the chart, argument errors, and the real-memory advice's choice.
 */
@Timeout(600)
class CompareShardingCommandTest {
    /** The tiny model without --nproc (a repeated list option adds to the list instead of replacing it). */
    private static final String[] SHAPE = {"compare-sharding", "--layers", "1", "--dim", "32", "--heads", "2", "--ctx", "16",
            "--batch", "4", "--steps", "2"};
    private static final String[] TINY = CliRunner.args(SHAPE, "--nproc", "1,2");
    private static final String[] ROW_FIELDS = {"zero_stage", "world_size", "params", "model_state_bytes", "model_state_bytes_formula",
            "peak_total_bytes", "step_ms", "comm_bytes_sent_per_step", "comm_bytes_received_per_step", "comm_bytes_per_step_formula",
            "comm_hidden_fraction"};

    @Test
    void everyStageAndWorkerCountHasARowThatMatchesTheFormulasAndTheChartIsWritten(@TempDir Path dir) throws Exception {
        Path chart = dir.resolve("sharding.png");
        CliRunner.Result r = CliRunner.run(CliRunner.args(TINY, "--json", "--chart", chart.toString()));
        assertThat(r.exit()).as("%s", r).isZero();
        assertThat(r.outLines()).as("stdout is one JSON object: %s", r).hasSize(1);
        JsonNode j = r.lastJson();
        List<Integer> all = Arrays.stream(ZeroStage.values()).map(ZeroStage::number).toList();
        assertThat(numbers(j.get("available_stages"))).isEqualTo(all);
        assertThat(numbers(j.get("stages"))).as("every stage by default").isEqualTo(all);
        assertThat(numbers(j.get("nproc"))).containsExactly(1, 2);
        long psi = j.get("config").get("params").asLong();
        assertThat(psi).isPositive();
        JsonNode rows = j.get("rows");
        assertThat(rows).hasSize(2 * all.size());
        int i = 0;
        for (ZeroStage stage : ZeroStage.values()) {
            for (int n : new int[]{1, 2}) {
                JsonNode row = rows.get(i++);
                assertThat(fieldNames(row)).as("%s", row).containsExactly(ROW_FIELDS);
                assertThat(row.get("zero_stage").asInt()).isEqualTo(stage.number());
                assertThat(row.get("world_size").asInt()).isEqualTo(n);
                assertThat(row.get("params").asLong()).isEqualTo(psi);
                // Formulas computed here, independently of the command, and the measured figures within 1% of them.
                double state = stage.modelStateBytes(psi, n), comm = stage.commBytesPerStep(psi, n);
                assertThat(row.get("model_state_bytes_formula").asLong()).isEqualTo(Math.round(state));
                assertThat(row.get("comm_bytes_per_step_formula").asLong()).isEqualTo(Math.round(comm));
                assertThat(row.get("model_state_bytes").asDouble()).as("%s", row).isCloseTo(state, within(0.01 * state));
                assertThat(row.get("comm_bytes_sent_per_step").asDouble()).as("%s", row).isCloseTo(comm, within(0.01 * comm));
                assertThat(row.get("comm_bytes_received_per_step").asDouble()).as("%s", row).isCloseTo(comm, within(0.01 * comm));
                assertThat(row.get("peak_total_bytes").asLong()).as("%s", row).isGreaterThan(row.get("model_state_bytes").asLong());
                assertThat(row.get("step_ms").asDouble()).as("%s", row).isPositive();
                JsonNode hidden = row.get("comm_hidden_fraction");
                assertThat(hidden.isNull() || (hidden.asDouble() >= 0 && hidden.asDouble() <= 1)).as("%s", row).isTrue();
            }
        }
        // Written through AtomicFiles: the PNG is there and no temporary file is left beside it.
        byte[] png = Files.readAllBytes(chart);
        assertThat(Arrays.copyOf(png, 4)).containsExactly(0x89, 'P', 'N', 'G');
        try (Stream<Path> files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString()).toList()).containsExactly("sharding.png");
        }
    }

    @Test
    void badArgumentsExitWithStatus2AndSayWhatIsWrong() {
        assertThat(usageError("--nproc", "3").err()).contains("--nproc 3 does not divide --batch 4");
        assertThat(usageError("--nproc", "0,2").err()).contains("--nproc: every worker count must be at least 1, got 0");
        assertThat(usageError("--stages", "0,9").err()).contains("--stages: ZeRO stage 9 is not available; choose 0 to "
                + (ZeroStage.values().length - 1));
        assertThat(usageError("--heap", "64m").err()).contains("--heap needs --real-memory");
        assertThat(usageError("--real-memory", "--nproc", "2").err()).contains("--nproc must include 1 and at least one larger count");
        assertThat(usageError("--real-memory", "--heap", "lots").err()).contains("--heap: heap size 'lots'");
        assertThat(usageError("--chart", "x.gif").err()).contains("--chart x.gif: the file name must end in .png or .svg");
    }

    @Test
    void theAdviceIsTheFewestWorkersThenTheLowestStagePredictedToFit() {
        long psi = 1_000_000, rest = 2_000_000;
        List<ShardedTrainingRun.Measured> rows = new ArrayList<>();
        for (ZeroStage s : ZeroStage.values()) {
            for (int n : new int[]{1, 2, 4}) {
                long state = Math.round(s.modelStateBytes(psi, n));
                rows.add(new ShardedTrainingRun.Measured(s, n, psi, state, state + rest, 1, 0, 0, null));
            }
        }
        ShardedTrainingRun.Measured stage1On2 = rows.stream().filter(m -> m.stage() == ZeroStage.STAGE_1 && m.n() == 2).findFirst().orElseThrow();
        long need = ShardingMemoryDemo.predicted(stage1On2);
        assertThat(need).isEqualTo(18 * psi + rest + WorkerHeap.JVM_BASE); // 1.5 · 12Ψ of model state
        // Just enough for stage 1 on two workers: nothing with fewer workers or a lower stage at N = 2 fits.
        long limit = need;
        assertThat(ShardingMemoryDemo.advise(rows, limit)).isSameAs(stage1On2);
        // One byte less and two workers no longer suffice at stage 1; the advice moves on (a higher stage, or N = 4).
        ShardedTrainingRun.Measured next = ShardingMemoryDemo.advise(rows, limit - 1);
        assertThat(next).isNotNull().isNotSameAs(stage1On2);
        assertThat(ShardingMemoryDemo.predicted(next)).isLessThanOrEqualTo(limit - 1);
        // The single process is never the advice, and below every sharded job's need there is none.
        assertThat(ShardingMemoryDemo.advise(rows, Long.MAX_VALUE).n()).isEqualTo(2);
        assertThat(ShardingMemoryDemo.advise(rows, rest)).isNull();
    }

    /**
     * With workers 1 and 4 and a heap between ZeRO-3's need on 4 workers (4Ψ + rest) and stage 2's (7Ψ + rest), the
     * advice is stage 3 on 4 workers: the shape of the run in BENCHMARKS.md (its rest measured there, a block's
     * gathered parameters and gradients included).
     */
    @Test
    void underAHeapOnlyStageThreeFitsTheAdviceIsStageThreeOnFourWorkers() {
        long psi = 6_000_000, rest = 4_000_000;
        List<ShardedTrainingRun.Measured> rows = new ArrayList<>();
        for (ZeroStage s : ZeroStage.values()) {
            for (int n : new int[]{1, 4}) {
                long state = Math.round(s.modelStateBytes(psi, n));
                rows.add(new ShardedTrainingRun.Measured(s, n, psi, state, state + rest, 1, 0, 0, null));
            }
        }
        long stage3 = WorkerHeap.required(4 * psi, rest), stage2 = WorkerHeap.required(7 * psi, rest);
        for (long limit : new long[] {stage3, (stage3 + stage2) / 2, stage2 - 1}) {
            ShardedTrainingRun.Measured advice = ShardingMemoryDemo.advise(rows, limit);
            assertThat(advice.stage()).as("limit %d", limit).isEqualTo(ZeroStage.STAGE_3);
            assertThat(advice.n()).isEqualTo(4);
        }
        assertThat(ShardingMemoryDemo.advise(rows, stage2).stage()).isEqualTo(ZeroStage.STAGE_2);
        assertThat(ShardingMemoryDemo.advise(rows, stage3 - 1)).isNull();
    }

    @Test
    void theRealMemoryResultNamesTheOutOfMemoryTheAdviceAndTheJobThatTrained() {
        long psi = 1_000_000;
        ShardedTrainingRun.Measured advice = new ShardedTrainingRun.Measured(ZeroStage.STAGE_1, 4, psi,
                Math.round(ZeroStage.STAGE_1.modelStateBytes(psi, 4)), 12_000_000, 1, 0, 0, null);
        ShardedTrainingRun.Outcome single = new ShardedTrainingRun.Outcome(1, null,
                "memwall launch: 1 worker\n[rank 0] memwall: out of memory: the usable Java heap is 68 MiB\nmemwall launch: rank 0 exited with status 1\n");
        ShardedTrainingRun.Outcome advised = new ShardedTrainingRun.Outcome(0, advice, "");
        ShardingMemoryDemo.Result r = new ShardingMemoryDemo.Result(69L << 20, advice, ShardingMemoryDemo.predicted(advice), single,
                advised, null, "--layers 4 --dim 256 --heads 4 --ctx 64 --batch 4", null, null);
        assertThat(r.toJson()).containsExactly(
                java.util.Map.entry("heap_limit_bytes", 69L << 20), java.util.Map.entry("single_exit_code", 1),
                java.util.Map.entry("single_trained", false),
                java.util.Map.entry("single_message", "[rank 0] memwall: out of memory: the usable Java heap is 68 MiB"),
                java.util.Map.entry("advised_zero_stage", 1), java.util.Map.entry("advised_world_size", 4),
                java.util.Map.entry("advised_predicted_bytes", WorkerHeap.required(advice)), java.util.Map.entry("advised_exit_code", 0),
                java.util.Map.entry("advised_trained", true), java.util.Map.entry("advised_peak_total_bytes", 12_000_000L),
                new java.util.AbstractMap.SimpleEntry<>("zero3_world_size", null),
                new java.util.AbstractMap.SimpleEntry<>("zero3_predicted_bytes", null),
                java.util.Map.entry("zero3_trained", false));
        assertThat(String.join("\n", r.lines())).contains("-Xmx69m per worker")
                .contains("stage 0, N=1: exit 1, [rank 0] memwall: out of memory")
                .contains("advice: --zero 1 on 4 workers")
                .contains("./memwall launch --nproc 4 --heap 69m train --zero 1 --layers 4 --dim 256 --heads 4 --ctx 64 --batch 4 --data FILE")
                .contains("stage 1, N=4: trained");
    }

    private static CliRunner.Result usageError(String... args) {
        CliRunner.Result r = CliRunner.run(CliRunner.args(SHAPE, args));
        assertThat(r.exit()).as("%s", r).isEqualTo(2);
        assertThat(r.err()).as("%s", r).contains("Usage: memwall compare-sharding").doesNotContain("memwall launch: ");
        return r;
    }

    private static List<Integer> numbers(JsonNode array) {
        List<Integer> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asInt()));
        return out;
    }

    private static List<String> fieldNames(JsonNode row) {
        List<String> out = new ArrayList<>();
        row.fieldNames().forEachRemaining(out::add);
        return out;
    }
}
