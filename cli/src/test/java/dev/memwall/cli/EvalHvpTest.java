package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.memwall.nn.GptConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * {@code eval --hvp} against the independent double-precision GPT: g by central differences of the loss, then
 * Hg = (∇L(θ + εg) − ∇L(θ − εg)) / 2ε with those gradients, so ghg = gᵀHg and hg_norm = ‖Hg‖ come from loss values
 * alone. Two batches, so the product must be that of the mean over all windows.
 */
class EvalHvpTest {
    @TempDir
    Path dir;

    @Test
    void ghgAndHgNormMatchSecondDifferencesOfTheReference() throws IOException {
        int v = 16, t = 5, b = 2, n = 2, h = 2;
        Path weights = dir.resolve("m.safetensors"), data = dir.resolve("d.bin");
        TinyGptFiles.Weights w = TinyGptFiles.writeRandomGpt(weights, new GptConfig(v, 6, 8, h, 1, 0f), 17);
        byte[] bytes = TinyGptFiles.writeRandomBytes(data, b * n * t + 1, v, 5);
        CliRunner.Result r = CliRunner.run("eval", "--weights", weights.toString(), "--data", data.toString(), "--heads", "2",
                "--ctx", Integer.toString(t), "--batch", Integer.toString(b), "--batches", Integer.toString(n), "--hvp", "--json");
        assertThat(r.exit()).as("%s", r).isZero();
        JsonNode json = r.lastJson();

        ReferenceGpt ref = new ReferenceGpt(w.values(), h);
        double[] g = ref.gradient(bytes, t, b * n, 1e-5);
        double gNorm = 0;
        for (double x : g) gNorm += x * x;
        gNorm = Math.sqrt(gNorm);
        double eps = 1e-3 / gNorm;
        ref.move(g, eps);
        double[] up = ref.gradient(bytes, t, b * n, 1e-5);
        ref.move(g, -2 * eps);
        double[] down = ref.gradient(bytes, t, b * n, 1e-5);
        ref.move(g, eps);
        double ghg = 0, hgNorm = 0;
        for (int i = 0; i < g.length; i++) {
            double hg = (up[i] - down[i]) / (2 * eps);
            ghg += g[i] * hg;
            hgNorm += hg * hg;
        }
        hgNorm = Math.sqrt(hgNorm);
        assertThat(json.get("grad_norm").asDouble()).isCloseTo(gNorm, within(1e-3 * gNorm));
        assertThat(json.get("hg_norm").asDouble()).as("hg_norm; reference %.9g", hgNorm).isCloseTo(hgNorm, within(2e-3 * hgNorm));
        assertThat(json.get("ghg").asDouble()).as("ghg; reference %.9g", ghg).isCloseTo(ghg, within(2e-3 * Math.abs(ghg) + 1e-3 * gNorm * hgNorm));
        assertThat(Math.abs(ghg)).isGreaterThan(0.01 * gNorm * hgNorm); // a product that means something
    }
}
