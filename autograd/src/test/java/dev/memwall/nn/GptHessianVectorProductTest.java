package dev.memwall.nn;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.rng.Rng;
import dev.memwall.testing.GptHvp;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * H·v through a whole {@link Gpt} (embedding, attention, layer norm, GELU, cross-entropy) in FP32 against central
 * differences of an independent double-precision GPT, each parameter block against its own norm; and the same
 * through {@code backward(createGraph)} on a flattened model, whose {@code .grad()} must stay in the flat buffer.
 */
class GptHessianVectorProductTest {
    private static final GptHvp.Problem PROBLEM = GptHvp.problem(GptHvp.TINY, 2, 11);
    private static Map<String, double[]> reference;

    private static synchronized Map<String, double[]> reference() {
        if (reference == null) reference = GptHvp.reference(PROBLEM);
        return reference;
    }

    private static Gpt model() {
        Gpt model = new Gpt(GptHvp.TINY, new Rng(1));
        GptHvp.load(model, PROBLEM);
        return model;
    }

    @Test
    void hvpThroughTheWholeModelMatchesDoublePrecisionFiniteDifferencesPerParameter() {
        assertThat(GptHvp.mismatches(GptHvp.memwall(model(), PROBLEM), reference(), GptHvp.TOL)).isEmpty();
    }

    /** The same through the composed attention ops, the fused ops' oracle (-Dmemwall.attention=composed). */
    @Test
    void hvpThroughTheComposedAttentionOpsMatchesToo() {
        Gpt model = model();
        var got = CausalSelfAttentionTest.with("composed", () -> GptHvp.memwall(model, PROBLEM));
        assertThat(GptHvp.mismatches(got, reference(), GptHvp.TOL)).isEmpty();
    }

    /**
     * The check is per block: a 1% error in the smallest block (lnf.bias, 3% of the whole vector's norm) leaves the
     * whole vector within 3e-4 of the reference, which a whole-vector check at the op tests' 2e-3 would pass.
     */
    @Test
    void oneSmallBlockGoneWrongIsCaught() {
        Map<String, float[]> good = GptHvp.memwall(model(), PROBLEM);
        String smallest = null;
        double smallestNorm = Double.MAX_VALUE, all = 0;
        for (var e : reference().entrySet()) {
            double n = 0;
            for (double x : e.getValue()) n += x * x;
            all += n;
            if (n < smallestNorm) {
                smallestNorm = n;
                smallest = e.getKey();
            }
        }
        for (float scale : new float[]{0f, 1.01f}) {
            Map<String, float[]> bad = new LinkedHashMap<>(good);
            float[] block = good.get(smallest).clone();
            for (int i = 0; i < block.length; i++) block[i] *= scale;
            bad.put(smallest, block);
            assertThat(GptHvp.mismatches(bad, reference(), GptHvp.TOL)).as("scale " + scale).singleElement()
                    .asString().startsWith(smallest + ":");
        }
        assertThat(0.01 * Math.sqrt(smallestNorm / all)).as("the 1% error, relative to the whole vector").isLessThan(2e-3);
    }

    /**
     * {@code loss.backward(createGraph)} on a flattened model: {@code .grad()} stays a view of the flat GRADIENT buffer,
     * which holds the gradient (what the optimizer reads), GRADIENT bytes stay those of the one buffer through this and
     * later backwards, and H·v taken from {@code .grad()} is right.
     */
    @Test
    void backwardWithCreateGraphKeepsGradientsInTheFlatBuffer() {
        Map<String, float[]> plain = new LinkedHashMap<>();
        Gpt twin = model();
        try (Scope s = Scope.open()) {
            GptHvp.loss(twin, PROBLEM).backward();
        }
        twin.namedParameters().forEach((name, t) -> plain.put(name, t.grad().toFloatArray()));

        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            Gpt model = model();
            FlatParameters flat = model.flatten();
            long gradientBytes = 4L * flat.length();
            Map<String, Tensor> named = model.namedParameters();
            Map<String, float[]> hv;
            try (Scope s = Scope.open()) {
                GptHvp.loss(model, PROBLEM).backward(null, false, true);
                Tensor[] g = new Tensor[named.size()];
                int k = 0;
                for (FlatParameters.Entry e : flat.entries()) {
                    Tensor grad = named.get(e.name()).grad();
                    assertThat(grad.storage()).as(e.name()).isSameAs(flat.grads().whole().storage());
                    assertThat(grad.offset()).as(e.name()).isEqualTo(e.offset());
                    assertThat(grad.requiresGrad()).as(e.name() + " carries the gradient's graph").isTrue();
                    g[k++] = grad;
                }
                assertThat(tracker.current(Category.GRADIENT)).isEqualTo(gradientBytes);
                hv = GptHvp.secondBackward(named, g, PROBLEM);
            }
            assertThat(GptHvp.mismatches(hv, reference(), GptHvp.TOL)).isEmpty();
            float[] buffer = flat.grads().whole().toFloatArray();
            for (FlatParameters.Entry e : flat.entries()) {
                assertClose(e.name(), java.util.Arrays.copyOfRange(buffer, e.offset(), e.offset() + e.numel()), plain.get(e.name()), 1);
            }

            // a plain backward on top accumulates into the same buffer and drops the graph, as PyTorch's no-grad sum
            try (Scope s = Scope.open()) {
                GptHvp.loss(model, PROBLEM).backward();
            }
            for (FlatParameters.Entry e : flat.entries()) {
                Tensor grad = named.get(e.name()).grad();
                assertThat(grad.storage()).isSameAs(flat.grads().whole().storage());
                assertThat(grad.requiresGrad()).isFalse();
                assertClose(e.name(), grad.toFloatArray(), plain.get(e.name()), 2);
            }
            model.zeroGrad();
            try (Scope s = Scope.open()) {
                GptHvp.loss(model, PROBLEM).backward();
            }
            for (FlatParameters.Entry e : flat.entries()) {
                assertThat(named.get(e.name()).grad().toFloatArray()).as(e.name()).containsExactly(plain.get(e.name()));
            }
            assertThat(tracker.current(Category.GRADIENT)).isEqualTo(gradientBytes);
            assertThat(tracker.peak(Category.GRADIENT)).isEqualTo(gradientBytes);
        }
    }

    /**
     * Two createGraph backwards in a row sum their graphs, as PyTorch's {@code grad = grad + new}: H·v from
     * {@code .grad()} is then twice the reference. After {@code zeroGrad()} only the next backward's graph counts.
     */
    @Test
    void consecutiveCreateGraphBackwardsSumTheirGraphs() {
        Gpt model = model();
        FlatParameters flat = model.flatten();
        Map<String, Tensor> named = model.namedParameters();
        for (int times : new int[]{2, 1}) {
            try (Scope s = Scope.open()) {
                for (int k = 0; k < times; k++) GptHvp.loss(model, PROBLEM).backward(null, false, true);
                Tensor[] g = named.values().stream().map(Tensor::grad).toArray(Tensor[]::new);
                Map<String, float[]> hv = GptHvp.secondBackward(named, g, PROBLEM);
                Map<String, double[]> want = new LinkedHashMap<>();
                int t = times;
                reference().forEach((name, r) -> want.put(name, java.util.Arrays.stream(r).map(x -> t * x).toArray()));
                assertThat(GptHvp.mismatches(hv, want, GptHvp.TOL)).as("%d backwards", times).isEmpty();
            }
            model.zeroGrad();
            assertThat(named.get("head.weight").grad().requiresGrad()).isFalse();
            assertThat(named.get("head.weight").grad().storage()).isSameAs(flat.grads().whole().storage());
        }
    }

    /** {@code got} ≈ times · {@code want}, relative to the block's norm (createGraph runs the unfused backward rules). */
    private static void assertClose(String what, float[] got, float[] want, int times) {
        double diff = 0, norm = 0;
        for (int i = 0; i < want.length; i++) {
            diff += (got[i] - times * want[i]) * (got[i] - times * (double) want[i]);
            norm += (double) want[i] * want[i] * times * times;
        }
        assertThat(Math.sqrt(diff / norm)).as(what).isLessThan(1e-5);
    }
}
