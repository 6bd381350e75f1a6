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
 * {@code memwall profile --generate} on a small GPT (L2 D64 H2 ctx64; a 48-token prompt, 8 decoded tokens): its JSON,
 * and the paper's point in analytic figures: decode's Linears are matrix-vector products at about 2 FLOPs per 4-byte
 * weight (0.5 FLOP/B), below the measured ridge point, while prefill's are GEMMs with 48 rows; decode's attention reads
 * the KV cache.
 */
class ProfileGenerateTest {
    static final int L = 2, D = 64, H = 2, HD = D / H, CTX = 64, V = 256, P = 48, N = 8;
    static final String[] SMALL = {"profile", "--generate", "--layers", "2", "--dim", "64", "--heads", "2", "--ctx", "64",
            "--prompt-tokens", "48", "--tokens", "8", "--warmup", "1", "--steps", "2"};
    @TempDir
    static Path dir;
    static CliRunner.Result run;
    static JsonNode json;

    @BeforeAll
    static void profile() {
        run = CliRunner.run(CliRunner.args(SMALL, new String[]{"--json", "--chart", dir.resolve("generate.svg").toString()}));
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
    void jsonHasRoofsOpsPhasesAndTheGeneration() {
        assertThat(run.outLines()).as("only the JSON line on stdout: %s", run).hasSize(1);
        assertThat(run.errLines().get(0)).startsWith("model: GPT L2 D64 H2 ctx64").contains("a 48-token prompt, 8 decoded tokens");
        assertThat(json.fieldNames()).toIterable().containsExactly("roofs", "ops", "phases", "generation");
        Map<String, double[]> sums = new HashMap<>(); // phase → flops, bytes
        for (JsonNode o : json.get("ops")) {
            for (String k : new String[]{"op", "phase", "calls", "ms", "flops", "bytes", "intensity", "gflops", "gbps"}) {
                assertThat(o.has(k)).as("%s in %s", k, o).isTrue();
            }
            assertThat(o.get("phase").asText()).isIn("prefill", "decode");
            double[] s = sums.computeIfAbsent(o.get("phase").asText(), k -> new double[2]);
            s[0] += o.get("flops").asDouble();
            s[1] += o.get("bytes").asDouble();
        }
        JsonNode g = json.get("generation");
        assertThat(g.get("prompt_tokens").asInt()).isEqualTo(P);
        assertThat(g.get("tokens").asInt()).isEqualTo(N);
        assertThat(g.get("runs").asInt()).isEqualTo(2);
        for (String phase : new String[]{"prefill", "decode"}) {
            JsonNode p = json.get("phases").get(phase);
            double ms = p.get("ms").asDouble(), tokens = p.get("tokens").asDouble();
            assertThat(tokens).isEqualTo(phase.equals("prefill") ? P : N);
            assertThat(ms).isPositive();
            assertThat(p.get("ms_per_token").asDouble()).isCloseTo(ms / tokens, within(1e-9 * ms));
            assertThat(p.get("tokens_per_s").asDouble()).isCloseTo(tokens / ms * 1e3, within(1e-9 * tokens / ms * 1e3));
            assertThat(p.get("flops").asDouble()).isCloseTo(sums.get(phase)[0], within(1e-6 * sums.get(phase)[0]));
            assertThat(p.get("bytes").asDouble()).isCloseTo(sums.get(phase)[1], within(1e-6 * sums.get(phase)[1]));
            assertThat(p.get("intensity").asDouble()).isCloseTo(sums.get(phase)[0] / sums.get(phase)[1], within(1e-9));
        }
        Map<String, JsonNode> ops = ops(json);
        assertThat(ops).containsKeys("linear/prefill", "linear/decode", "matmul/prefill", "matmul/decode", "causal_softmax/decode",
                "layer_norm/decode", "gelu/decode", "embedding/decode", "split_heads/decode", "merge_heads/decode");
        assertThat(ops.get("linear/decode").get("calls").asLong()).isEqualTo(N * (4L * L + 1)); // qkv, proj, fc, out; head
        assertThat(ops.get("linear/prefill").get("calls").asLong()).isEqualTo(4L * L + 1);
    }

    @Test
    void decodesLinearsAreMatrixVectorProductsAtHalfAFlopPerByteBelowTheRidgeAndPrefillsAreGemms() {
        // weights, biases, input and output elements of one token through every Linear
        double w = L * (D * 3.0 * D + D * D + D * 4.0 * D + 4.0 * D * D) + (double) D * V;
        double b = L * (3.0 * D + D + 4 * D + D), in = L * (D + D + D + 4.0 * D) + D, out = b + V;
        Map<String, JsonNode> ops = ops(json);
        JsonNode dec = ops.get("linear/decode"), pre = ops.get("linear/prefill");
        // decode: every weight read once per token for 2 FLOPs
        assertThat(dec.get("flops").asDouble()).isEqualTo(N * (2 * w + b));
        assertThat(dec.get("bytes").asDouble()).isEqualTo(N * 4 * (w + b + in + out));
        double decI = dec.get("intensity").asDouble();
        assertThat(decI).isBetween(0.45, 0.5);
        double ridge = json.get("roofs").get("gflops").asDouble() / json.get("roofs").get("gbps").asDouble();
        assertThat(decI).as("below the measured ridge point of %.1f FLOP/B", ridge).isLessThan(ridge);
        // prefill: one GEMM of P rows per Linear, each weight read once for 2·P FLOPs
        assertThat(pre.get("flops").asDouble()).isEqualTo(P * (2 * w + b));
        assertThat(pre.get("bytes").asDouble()).isEqualTo(4 * (w + b + P * in + P * out));
        assertThat(pre.get("intensity").asDouble()).isGreaterThan(20 * decI);
    }

    @Test
    void decodesAttentionReadsTheWholeCacheOncePerToken() {
        double flops = 0, bytes = 0;
        for (int s = P; s < P + N; s++) { // the token at position s attends over s + 1 keys: q·Kᵀ and P·V in each layer
            int n = s + 1;
            flops += 2 * L * 2.0 * H * n * HD;
            bytes += 2 * L * 4.0 * H * (HD + (double) n * HD + n);
        }
        JsonNode m = ops(json).get("matmul/decode");
        assertThat(m.get("calls").asLong()).isEqualTo(2L * L * N);
        assertThat(m.get("flops").asDouble()).isEqualTo(flops);
        assertThat(m.get("bytes").asDouble()).isEqualTo(bytes);
        assertThat(m.get("intensity").asDouble()).isBetween(0.45, 0.5);
    }

    @Test
    void chartDrawsPrefillAsCirclesAndDecodeAsDiamonds() throws IOException {
        String svg = Files.readString(dir.resolve("generate.svg"), StandardCharsets.UTF_8);
        long prefill = 0, decode = 0;
        for (JsonNode o : json.get("ops")) {
            if (o.get("flops").asDouble() <= 0 || o.get("bytes").asDouble() <= 0 || o.get("ms").asDouble() <= 0) continue;
            if (o.get("phase").asText().equals("prefill")) prefill++;
            else decode++;
        }
        assertThat(prefill).isGreaterThanOrEqualTo(5);
        assertThat(decode).isGreaterThanOrEqualTo(5);
        // each prefill point is a circle on the chart and one in the legend; decode's diamonds are polygons
        assertThat(svg.split("<ellipse", -1).length - 1).isEqualTo(2 * prefill);
    }

    @Test
    void aTextPromptAndTheTableWithBothPhases() {
        CliRunner.Result r = CliRunner.run("profile", "--generate", "--layers", "1", "--dim", "32", "--heads", "2", "--ctx", "16",
                "--prompt", "Hello", "--warmup", "0", "--steps", "1");
        assertThat(r.exit()).as("%s", r).isZero();
        assertThat(r.errLines().get(0)).contains("a 5-token prompt, 11 decoded tokens"); // the rest of the context by default
        assertThat(r.out()).contains("prefill: 5 tokens in").contains("decode: 11 tokens in").contains("tokens/s")
                .contains("roofs: sgemm peak");
        assertThat(r.outLines()).anyMatch(l -> l.startsWith("linear") && l.contains("decode"));
    }

    @Test
    void badArgumentsExitTwoNamingTheProblem() {
        String[] tiny = {"profile", "--layers", "1", "--dim", "32", "--heads", "2", "--ctx", "16"};
        String[][] cases = {
                {"--generate", "--prompt", "hi", "--prompt-tokens", "3", "give --prompt or --prompt-tokens, not both"},
                {"--generate", "--prompt-tokens", "16", "--prompt-tokens 16: give 1 to 15"},
                {"--generate", "--prompt-tokens", "10", "--tokens", "7", "--tokens 7 after a 10-token prompt does not fit"},
                {"--generate", "--tokens", "0", "--tokens 0 after"},
                {"--generate", "--prompt", "", "--prompt is 0 bytes"},
                {"--generate", "--batch", "4", "--batch does not apply to --generate"},
                {"--generate", "--checkpoint", "EVERY_LAYER", "--checkpoint does not apply to --generate"},
                {"--tokens", "4", "--tokens belongs to --generate"},
                {"--prompt", "hi", "--prompt belongs to --generate"},
        };
        for (String[] c : cases) {
            String[] args = java.util.Arrays.copyOf(c, c.length - 1);
            CliRunner.Result r = CliRunner.run(CliRunner.args(tiny, args));
            assertThat(r.exit()).as("%s", r).isEqualTo(2);
            assertThat(r.err()).as("%s", r).contains(c[c.length - 1]);
        }
    }
}
