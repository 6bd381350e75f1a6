package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.memwall.nn.GptConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * {@code memwall eval} against an independent double-precision reference of the eval spec ({@link ReferenceGpt}):
 * loss to 1e-4 relative, gradient norm (reference: central finite differences over every parameter) to 1e-3.
 */
class EvalCommandTest {
    @TempDir
    Path dir;

    private static String[] evalArgs(Path weights, Path data, int heads, int t, int b, int n) {
        return new String[]{"eval", "--weights", weights.toString(), "--data", data.toString(), "--heads", Integer.toString(heads),
                "--ctx", Integer.toString(t), "--batch", Integer.toString(b), "--batches", Integer.toString(n), "--json"};
    }

    @ParameterizedTest(name = "V={0} Tmax={1} D={2} H={3} L={4}; T={5} B={6} N={7}")
    @CsvSource({
            "32, 8, 8, 2, 2, 6, 2, 2",   // two blocks (block counting), T < pos rows
            "32, 8, 8, 4, 1, 8, 2, 2",   // four heads of width 2, T = pos rows
            "32, 6, 8, 2, 1, 5, 1, 3",   // B=1, N=3: windows run across batches in order
            "24, 8, 12, 3, 1, 7, 3, 1",  // D not a power of two, three heads
    })
    void lossAndGradNormMatchTheReference(int v, int tmax, int d, int h, int l, int t, int b, int n) throws IOException {
        Path weights = dir.resolve("m.safetensors"), data = dir.resolve("d.bin");
        TinyGptFiles.Weights w = TinyGptFiles.writeRandomGpt(weights, new GptConfig(v, tmax, d, h, l, 0f), 42 + v + h + l);
        // More bytes than the B·N windows need: eval must use the first B·N windows only.
        byte[] bytes = TinyGptFiles.writeRandomBytes(data, b * n * t + 1 + 3 * t + 2, v, 7 + t);
        assertThat(w.values().keySet()).as("parameter names the spec relies on")
                .contains("tok.weight", "pos.weight", "blocks.0.ln1.weight", "blocks.0.ln1.bias", "blocks.0.qkv.weight",
                        "blocks.0.qkv.bias", "blocks.0.proj.weight", "blocks.0.proj.bias", "blocks.0.ln2.weight",
                        "blocks.0.ln2.bias", "blocks.0.fc.weight", "blocks.0.fc.bias", "blocks.0.out.weight",
                        "blocks.0.out.bias", "lnf.weight", "lnf.bias", "head.weight")
                .doesNotContain("head.bias");
        assertThat(w.shapes().get("blocks.0.qkv.weight")).containsExactly(3 * d, d);
        assertThat(w.shapes().get("blocks.0.fc.weight")).containsExactly(4 * d, d);
        assertThat(w.shapes().get("head.weight")).containsExactly(v, d);

        CliRunner.Result r = CliRunner.run(evalArgs(weights, data, h, t, b, n));
        assertThat(r.exit()).as("%s", r).isZero();
        JsonNode json = r.lastJson();
        assertThat(json.has("loss") && json.has("tokens") && json.has("grad_norm")).as("%s", json).isTrue();

        ReferenceGpt ref = new ReferenceGpt(w.values(), h);
        assertThat(ref.layers).isEqualTo(l);
        double loss = ref.meanLoss(bytes, t, b * n);
        double gradNorm = ref.gradNorm(bytes, t, b * n, 1e-5);
        assertThat(json.get("tokens").asLong()).isEqualTo((long) b * n * t);
        assertThat(json.get("loss").asDouble()).as("loss; reference %.9f", loss).isCloseTo(loss, within(1e-4 * loss));
        assertThat(json.get("grad_norm").asDouble()).as("grad_norm; reference %.9f", gradNorm)
                .isCloseTo(gradNorm, within(1e-3 * gradNorm));
    }

    /** The reference itself: a zero head gives uniform predictions, loss ln V and zero gradient for every other tensor. */
    @Test
    void referenceSanity() {
        Map<String, float[]> values = new java.util.LinkedHashMap<>();
        int v = 16, d = 4;
        values.put("tok.weight", filled(v * d, 0.3f));
        values.put("pos.weight", filled(5 * d, -0.2f));
        values.put("lnf.weight", filled(d, 1f));
        values.put("lnf.bias", filled(d, 0f));
        values.put("head.weight", filled(v * d, 0f));
        ReferenceGpt ref = new ReferenceGpt(values, 2);
        byte[] bytes = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        assertThat(ref.meanLoss(bytes, 4, 2)).isCloseTo(Math.log(v), within(1e-12));
        assertThat(ReferenceGpt.geluTanh(1.0)).isCloseTo(0.8411919906082768, within(1e-12));
        assertThat(ReferenceGpt.geluTanh(-2.0)).isCloseTo(-0.04540230591222, within(1e-12));
    }

    /** Window layout: eval over data whose tail changes gives the same answer; a change inside the windows does not. */
    @Test
    void onlyTheFirstBTimesNWindowsCount() throws IOException {
        Path weights = dir.resolve("m.safetensors"), data = dir.resolve("d.bin");
        TinyGptFiles.writeRandomGpt(weights, new GptConfig(32, 8, 8, 2, 1, 0f), 5);
        byte[] bytes = TinyGptFiles.writeRandomBytes(data, 60, 32, 9);
        JsonNode base = CliRunner.run(evalArgs(weights, data, 2, 6, 2, 2)).lastJson();
        bytes[25] = (byte) ((bytes[25] + 1) % 32); // after the last target byte 24
        java.nio.file.Files.write(data, bytes);
        assertThat(CliRunner.run(evalArgs(weights, data, 2, 6, 2, 2)).lastJson()).isEqualTo(base);
        bytes[24] = (byte) ((bytes[24] + 1) % 32); // the last target
        java.nio.file.Files.write(data, bytes);
        assertThat(CliRunner.run(evalArgs(weights, data, 2, 6, 2, 2)).lastJson().get("loss").asDouble())
                .isNotEqualTo(base.get("loss").asDouble());
    }

    @Test
    void ctxLongerThanThePositionTableIsRefused() throws IOException {
        Path weights = dir.resolve("m.safetensors"), data = dir.resolve("d.bin");
        TinyGptFiles.writeRandomGpt(weights, new GptConfig(32, 8, 8, 2, 1, 0f), 5);
        TinyGptFiles.writeRandomBytes(data, 200, 32, 9);
        CliRunner.Result r = CliRunner.run(evalArgs(weights, data, 2, 9, 2, 2));
        assertThat(r.exit()).as("%s", r).isIn(1, 2);
        assertThat(r.err()).as("%s", r).contains("--ctx 9").contains("context 8").doesNotContain("at dev.memwall");
        assertThat(r.out()).isEmpty();
    }

    @Test
    void weightsMissingATensorAreNamed() throws IOException {
        Path weights = dir.resolve("m.safetensors"), data = dir.resolve("d.bin");
        TinyGptFiles.writeRandomGpt(weights, new GptConfig(32, 8, 8, 2, 2, 0f), 5, Set.of("blocks.1.fc.bias"));
        TinyGptFiles.writeRandomBytes(data, 200, 32, 9);
        CliRunner.Result r = CliRunner.run(evalArgs(weights, data, 2, 6, 2, 2));
        assertThat(r.exit()).as("%s", r).isEqualTo(1);
        assertThat(r.errLines()).as("%s", r).hasSize(1);
        assertThat(r.err()).contains("blocks.1.fc.bias").contains("m.safetensors").doesNotContain("at dev.memwall");

        TinyGptFiles.writeRandomGpt(weights, new GptConfig(32, 8, 8, 2, 1, 0f), 5, Set.of("tok.weight"));
        r = CliRunner.run(evalArgs(weights, data, 2, 6, 2, 2));
        assertThat(r.exit()).as("%s", r).isEqualTo(1);
        assertThat(r.errLines()).as("%s", r).hasSize(1);
        assertThat(r.err()).contains("tok.weight");
    }

    @Test
    void bytesOutsideTheVocabularyFailCleanly() throws IOException {
        Path weights = dir.resolve("m.safetensors"), data = dir.resolve("d.bin");
        TinyGptFiles.writeRandomGpt(weights, new GptConfig(32, 8, 8, 2, 1, 0f), 5);
        byte[] bytes = TinyGptFiles.writeRandomBytes(data, 60, 32, 9);
        bytes[3] = (byte) 200;
        java.nio.file.Files.write(data, bytes);
        CliRunner.Result r = CliRunner.run(evalArgs(weights, data, 2, 6, 2, 2));
        assertThat(r.exit()).as("%s", r).isEqualTo(1);
        assertThat(r.errLines()).as("%s", r).hasSize(1);
        assertThat(r.err()).as("%s", r).contains("200").doesNotContain("at dev.memwall");
    }

    @Test
    void plainOutputIsOneReadableLine() throws IOException {
        Path weights = dir.resolve("m.safetensors"), data = dir.resolve("d.bin");
        TinyGptFiles.writeRandomGpt(weights, new GptConfig(32, 8, 8, 2, 1, 0f), 5);
        TinyGptFiles.writeRandomBytes(data, 60, 32, 9);
        String[] args = evalArgs(weights, data, 2, 6, 2, 2);
        CliRunner.Result r = CliRunner.run(Arrays.copyOf(args, args.length - 1)); // without --json
        assertThat(r.exit()).as("%s", r).isZero();
        assertThat(r.outLines()).hasSize(1);
        assertThat(r.out()).contains("loss").contains("24 tokens").contains("gradient norm");
    }

    private static float[] filled(int n, float v) {
        float[] a = new float[n];
        Arrays.fill(a, v);
        return a;
    }
}
