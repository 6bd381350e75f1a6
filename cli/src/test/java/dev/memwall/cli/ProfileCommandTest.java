package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * {@code memwall profile} on a tiny GPT (L1 D32 H2 ctx16, batch 2): the {@code --json} contract, its arithmetic, the
 * GEMM FLOPs against the model formula bench uses, the optimizer's bytes, the chart, the recompute phase, bad arguments.
 */
class ProfileCommandTest {
    static final int L = 1, D = 32, H = 2, T = 16, B = 2, V = 256, N = B * T;
    static final String[] TINY = {"--layers", "1", "--dim", "32", "--heads", "2", "--ctx", "16", "--batch", "2", "--warmup", "1",
            "--steps", "2"};
    @TempDir
    static Path dir;
    static CliRunner.Result run;
    static JsonNode json;

    @BeforeAll
    static void profile() {
        run = CliRunner.run(CliRunner.args(new String[]{"profile", "--json", "--chart", dir.resolve("roofline.svg").toString()}, TINY));
        assertThat(run.exit()).as("%s", run).isZero();
        json = run.lastJson();
    }

    /** "op/phase" → the op's JSON entry. */
    private static Map<String, JsonNode> ops(JsonNode j) {
        Map<String, JsonNode> m = new HashMap<>();
        for (JsonNode o : j.get("ops")) m.put(o.get("op").asText() + "/" + o.get("phase").asText(), o);
        return m;
    }

    @Test
    void jsonIsOneObjectWithTheContractsFieldsAndConsistentArithmetic() {
        assertThat(run.outLines()).as("only the JSON line on stdout: %s", run).hasSize(1);
        assertThat(run.errLines().get(0)).startsWith("model: GPT L1 D32 H2 ctx16");
        assertThat(json.get("roofs").get("gflops").asDouble()).isPositive();
        assertThat(json.get("roofs").get("gbps").asDouble()).isPositive();
        double flops = 0, bytes = 0;
        for (JsonNode o : json.get("ops")) {
            for (String k : new String[]{"op", "phase", "calls", "ms", "flops", "bytes", "intensity", "gflops", "gbps"}) {
                assertThat(o.has(k)).as("%s in %s", k, o).isTrue();
            }
            double f = o.get("flops").asDouble(), b = o.get("bytes").asDouble(), ms = o.get("ms").asDouble();
            assertThat(o.get("phase").asText()).isIn("forward", "backward", "recompute", "optimizer");
            assertThat(o.get("calls").asDouble()).isPositive();
            if (b > 0) assertThat(o.get("intensity").asDouble()).as("%s", o).isCloseTo(f / b, within(1e-9 * (1 + f / b)));
            if (ms > 0) {
                assertThat(o.get("gflops").asDouble()).as("%s", o).isCloseTo(f / ms / 1e6, within(1e-9 * (1 + f / ms / 1e6)));
                assertThat(o.get("gbps").asDouble()).as("%s", o).isCloseTo(b / ms / 1e6, within(1e-9 * (1 + b / ms / 1e6)));
            }
            flops += f;
            bytes += b;
        }
        JsonNode step = json.get("step");
        assertThat(step.get("flops").asDouble()).isCloseTo(flops, within(1e-6 * flops));
        assertThat(step.get("bytes").asDouble()).isCloseTo(bytes, within(1e-6 * bytes));
        assertThat(step.get("ms").asDouble()).isPositive();
        assertThat(step.get("gemm_fraction").asDouble()).isBetween(0.0, 1.0);
        Map<String, JsonNode> ops = ops(json);
        assertThat(ops).containsKeys("linear/forward", "linear/backward", "causal_attention_probs/forward",
                "causal_attention/forward", "causal_attention/backward", "layer_norm/backward", "adamw/optimizer");
        assertThat(ops.keySet()).noneMatch(k -> k.endsWith("/recompute"));
    }

    @Test
    void gemmFlopsPerStepAreTheModelFormulaLessWhatIsNotAGemm() {
        long wBlock = D * 3L * D + (long) D * D + D * 4L * D + 4L * D * D, biasBlock = 3L * D + D + 4L * D + D;
        long head = (long) V * D;
        // forward x·Wᵀ and backward dx and dW: 6 FLOPs per weight and token; bias added (forward) and summed (backward)
        double linear = 6.0 * N * (L * wBlock + head) + 2.0 * N * L * biasBlock;
        // q·kᵀ and P·v over the full T×T (the GEMMs compute the masked half too), forward and twice in backward
        double attention = 12.0 * L * B * T * T * D;
        Map<String, JsonNode> ops = ops(json);
        double gemm = 0;
        for (String k : new String[]{"linear/forward", "linear/backward", "causal_attention_probs/forward",
                "causal_attention/forward", "causal_attention/backward"}) {
            gemm += ops.get(k).get("flops").asDouble();
        }
        // the fused attention ops also count their causal softmax: 5 FLOPs per visible score forward, 5 backward
        gemm -= 10.0 * L * B * H * T * (T + 1) / 2;
        assertThat(gemm).isEqualTo(linear + attention);
        // bench's model FLOPs, 6·params·tokens + 12·L·B·T²·D, also count 6 per token for the embeddings and layer norms
        // (which do no GEMM) and 6 rather than 2 for each bias
        long params = (long) V * D + (long) T * D + L * (wBlock + biasBlock + 4L * D) + 2L * D + head;
        double bench = 6.0 * params * N + 12.0 * L * B * (double) T * T * D;
        double notGemm = 6.0 * N * ((long) V * D + (long) T * D + L * 4L * D + 2L * D) + 4.0 * N * L * biasBlock;
        assertThat(gemm).isEqualTo(bench - notGemm);
        JsonNode adam = ops.get("adamw/optimizer");
        assertThat(adam.get("bytes").asDouble()).isEqualTo(28.0 * params); // p, g, m, v read; p, m, v written
        assertThat(adam.get("calls").isIntegralNumber()).isTrue();
        assertThat(adam.get("calls").asLong()).isEqualTo(1);
        assertThat(ops.get("linear/forward").get("calls").asLong()).isEqualTo(5); // qkv, proj, fc, out, head
    }

    @Test
    void chartIsWrittenAsSvg() throws IOException {
        String svg = Files.readString(dir.resolve("roofline.svg"), StandardCharsets.UTF_8);
        assertThat(svg).contains("<svg");
        // XChart draws text as paths; each op with FLOPs, bytes and time is one circle marker on the chart and one in the
        // legend (the roofline has none)
        long points = 0;
        for (JsonNode o : json.get("ops")) {
            if (o.get("flops").asDouble() > 0 && o.get("bytes").asDouble() > 0 && o.get("ms").asDouble() > 0) points++;
        }
        assertThat(points).isGreaterThanOrEqualTo(8);
        assertThat(svg.split("<ellipse", -1).length - 1).isEqualTo(2 * points);
    }

    @Test
    void checkpointingAddsRecomputeRowsAndTheTableHasItsColumns() {
        CliRunner.Result r = CliRunner.run(CliRunner.args(new String[]{"profile", "--checkpoint", "EVERY_LAYER",
                "--chart", dir.resolve("roofline.png").toString()}, TINY));
        assertThat(r.exit()).as("%s", r).isZero();
        assertThat(r.out()).contains("GFLOP/s").contains("FLOP/B").contains("roofs: sgemm peak").contains("recompute");
        assertThat(r.outLines()).anyMatch(l -> l.startsWith("linear") && l.contains("recompute"));
    }

    @Test
    void pngChartStartsWithThePngSignature() throws IOException {
        Path png = dir.resolve("roofline.png");
        if (!Files.exists(png)) checkpointingAddsRecomputeRowsAndTheTableHasItsColumns();
        byte[] b = Files.readAllBytes(png);
        assertThat(b).startsWith(0x89, 'P', 'N', 'G');
    }

    @Test
    void weightsSetTheShapeAndLoad() throws IOException {
        Path file = dir.resolve("tiny.safetensors");
        dev.memwall.nn.GptConfig c = new dev.memwall.nn.GptConfig(32, 8, 8, 2, 1, 0f);
        TinyGptFiles.writeRandomGpt(file, c, 5);
        CliRunner.Result r = CliRunner.run("profile", "--weights", file.toString(), "--heads", "2", "--batch", "2", "--warmup", "0",
                "--steps", "1", "--json");
        assertThat(r.exit()).as("%s", r).isZero();
        assertThat(r.errLines().get(0)).startsWith("model: GPT L1 D8 H2 ctx8 vocab32").contains(" from " + file);
        int n = 2 * 8, d = 8;
        double weightsFlops = 2.0 * n * (12L * d * d + 32L * d), biasFlops = (double) n * 9 * d; // blocks' Linears and the head
        assertThat(ops(r.lastJson()).get("linear/forward").get("flops").asDouble()).isEqualTo(weightsFlops + biasFlops);

        CliRunner.Result bare = CliRunner.run("profile", "--weights", file.toString());
        assertThat(bare.exit()).as("%s", bare).isEqualTo(2);
        assertThat(bare.err()).contains("--heads");
        CliRunner.Result shape = CliRunner.run("profile", "--weights", file.toString(), "--heads", "2", "--dim", "16");
        assertThat(shape.exit()).as("%s", shape).isEqualTo(2);
        assertThat(shape.err()).contains("--dim cannot be given with --weights");
        CliRunner.Result heads = CliRunner.run("profile", "--weights", file.toString(), "--heads", "3");
        assertThat(heads.exit()).as("%s", heads).isEqualTo(2);
        assertThat(heads.err()).contains("--heads 3 does not divide the model width 8");
        CliRunner.Result missing = CliRunner.run("profile", "--weights", dir.resolve("none.safetensors").toString(), "--heads", "2");
        assertThat(missing.exit()).as("%s", missing).isEqualTo(1);
        assertThat(missing.err()).contains("none.safetensors");
    }

    @Test
    void badArgumentsExitTwoNamingTheOption() {
        String[][] bad = {{"--steps", "0"}, {"--warmup", "-1"}, {"--chart", dir.resolve("r.txt").toString()}, {"--dim", "30"},
                {"--checkpoint", "SOMETIMES"}, {"--layers", "0"}};
        String[] names = {"--steps", "--warmup", "--chart", "--dim", "--checkpoint", "--layers"};
        for (int i = 0; i < bad.length; i++) {
            CliRunner.Result r = CliRunner.run(CliRunner.args(new String[]{"profile"}, bad[i]));
            assertThat(r.exit()).as("%s", r).isEqualTo(2);
            assertThat(r.err()).as("%s", r).contains(names[i]);
        }
    }
}
