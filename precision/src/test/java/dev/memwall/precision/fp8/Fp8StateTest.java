package dev.memwall.precision.fp8;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.io.SafeTensors;
import dev.memwall.io.SafeTensorsFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Recipe configuration, and the delayed-scaling state saved and resumed bit for bit. */
class Fp8StateTest {

    @Test
    void recipesCarryTransformerEngineDefaultsAndRefuseBadValues() {
        DelayedScaling d = new DelayedScaling();
        assertThat(d.format()).isEqualTo(Format.HYBRID);
        assertThat(d.amaxHistoryLen()).isEqualTo(1024);
        assertThat(d.amaxComputeAlgo()).isEqualTo(AmaxAlgo.MAX);
        assertThat(d.margin()).isZero();
        assertThat(Format.HYBRID.forward()).isEqualTo(Fp8Format.E4M3);
        assertThat(Format.HYBRID.backward()).isEqualTo(Fp8Format.E5M2);
        assertThat(Fp8Format.E4M3.max).isEqualTo(448f);
        assertThat(Fp8Format.E5M2.max).isEqualTo(57344f);
        assertThat(new BlockScaling().weight()).isEqualTo(new Tiling(128, 128));
        assertThat(new BlockScaling().activationRowwise()).isEqualTo(new Tiling(1, 128));
        assertThat(Mxfp8BlockScaling.rowwise()).isEqualTo(new Tiling(1, 32));
        assertThat(Fp8Recipe.named("mxfp8")).isInstanceOf(Mxfp8BlockScaling.class);
        assertThat(Fp8Recipe.named("fp8")).isEqualTo(new DelayedScaling());
        assertThatThrownBy(() -> new DelayedScaling(Format.HYBRID, 0, AmaxAlgo.MAX, 0)).hasMessageContaining("history length");
        assertThatThrownBy(() -> new DelayedScaling(Format.HYBRID, 16, AmaxAlgo.MAX, -1)).hasMessageContaining("margin");
        assertThatThrownBy(() -> Fp8Recipe.named("fp4")).hasMessageContaining("unknown FP8 recipe 'fp4'");
    }

    @Test
    void theWindowRollsOverAndForgetsItsOldestAmax() {
        AmaxHistory h = new AmaxHistory(new DelayedScaling(Format.HYBRID, 4, AmaxAlgo.MAX, 0), Fp8Format.E4M3);
        float[] amaxes = {8f, 1f, 2f, 3f, 4f, 0.5f};
        for (float a : amaxes) h.record(a);
        assertThat(h.history()).containsExactly(2f, 3f, 4f, 0.5f); // 8 and 1 rolled out
        assertThat(h.reducedAmax()).isEqualTo(4f);
        assertThat(h.scale()).isEqualTo(448f / 4f);
    }

    @Test
    void stateSavedThroughSafetensorsResumesBitIdentically(@TempDir Path dir) throws Exception {
        DelayedScaling recipe = new DelayedScaling(Format.HYBRID, 5, AmaxAlgo.MAX, 1);
        Tensor w = Tensor.of(Fp8Reference.data(1, 64, 1f), 8, 8);
        Fp8State a = new Fp8State(recipe);
        Map<String, Tensor> saved = new LinkedHashMap<>();
        try (Scope s = Scope.open()) {
            for (int step = 0; step < 7; step++) {
                Tensor x = Tensor.of(Fp8Reference.data(10 + step, 32, 1 + step), 4, 8);
                Fp8Linear.linear(x, w, null, a);
            }
            a.history(a.layer(w), TensorRole.GRAD_OUTPUT).record(Float.NaN);
            a.toArrays().forEach((k, v) -> saved.put(k, Tensor.of(v, v.length)));
            SafeTensors.write(dir.resolve("fp8.safetensors"), saved, Map.of());
        }
        Fp8State b = new Fp8State(recipe);
        try (SafeTensorsFile f = SafeTensors.read(dir.resolve("fp8.safetensors"))) {
            Map<String, float[]> loaded = new LinkedHashMap<>();
            f.tensors().forEach((k, t) -> loaded.put(k, t.toFloatArray()));
            b.load(loaded);
        }
        assertSameBits(a.toArrays(), b.toArrays());
        assertThat(b.toArrays().keySet()).containsExactly("gemm0.input", "gemm0.weight", "gemm0.grad_output");
        // Both continue alike: same scales, same codes.
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(Fp8Reference.data(99, 32, 20f), 4, 8);
            Fp8Tensor qa = Fp8Linear.delayed(x, Fp8Format.E4M3, a.history(a.layer(w), TensorRole.INPUT));
            Fp8Tensor qb = Fp8Linear.delayed(x, Fp8Format.E4M3, b.history(b.layer(w), TensorRole.INPUT));
            assertThat(qb.codes().byteData()).isEqualTo(qa.codes().byteData());
            assertThat(Double.doubleToRawLongBits(qb.scale())).isEqualTo(Double.doubleToRawLongBits(qa.scale()));
        }
        assertSameBits(a.toArrays(), b.toArrays());
        assertThat(b.history("gemm0", TensorRole.GRAD_OUTPUT).nonFinite()).isEqualTo(1);
    }

    @Test
    void loadRefusesAWindowOfAnotherLength() {
        Fp8State s = new Fp8State(new DelayedScaling(Format.HYBRID, 5, AmaxAlgo.MAX, 0));
        assertThatThrownBy(() -> s.load(Map.of("gemm0.input", new float[1024 + 4]))).hasMessageContaining("window of 1024");
        assertThatThrownBy(() -> new Fp8State(new CurrentScaling()).load(Map.of("gemm0.input", new float[8])))
                .hasMessageContaining("recipe is current");
    }

    private static void assertSameBits(Map<String, float[]> a, Map<String, float[]> b) {
        assertThat(b.keySet()).containsExactlyElementsOf(a.keySet());
        a.forEach((k, v) -> {
            float[] w = b.get(k);
            assertThat(w).hasSameSizeAs(v);
            for (int i = 0; i < v.length; i++) {
                assertThat(Float.floatToRawIntBits(w[i])).as("%s[%d]", k, i).isEqualTo(Float.floatToRawIntBits(v[i]));
            }
        });
    }
}
