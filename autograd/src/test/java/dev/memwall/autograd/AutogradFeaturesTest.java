package dev.memwall.autograd;

import dev.memwall.format.Overflow;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.ops.F;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Saved-tensor hooks, no-grad, scopes, flat buffers, RNG replay and dtype conversion on tensors. */
class AutogradFeaturesTest {

    @Test
    void savedTensorHooksSeeEverySavedTensorAndCanReplaceIt() {
        Tensor x = Tensor.of(new float[]{0.5f, -1f, 2f}, 3).requiresGrad(true);
        List<int[]> packedShapes = new ArrayList<>();
        int[] unpacks = {0};
        SavedTensorHooks roundTripThroughBf16 = new SavedTensorHooks() {
            @Override
            public Object pack(Tensor t) {
                packedShapes.add(t.shape());
                return t.to(DType.BF16); // a compressed copy, owned by the node
            }

            @Override
            public Tensor unpack(Object packed) {
                unpacks[0]++;
                return ((Tensor) packed).to(DType.FP32);
            }
        };
        Tensor y;
        try (var hooks = SavedTensorHooks.push(roundTripThroughBf16)) {
            y = x.mul(x).sum(); // mul saves x twice (once per operand)
        }
        y.backward();
        assertThat(packedShapes).hasSize(2);
        assertThat(unpacks[0]).isEqualTo(2);
        // 0.5, -1 and 2 are exact in BF16, so the gradient 2x is exact too.
        assertThat(x.grad().toFloatArray()).containsExactly(1f, -2f, 4f);
    }

    @Test
    void hooksThatPackAPlaceholderCanRecomputeOnUnpack() {
        Tensor x = Tensor.of(new float[]{1f, 2f}, 2).requiresGrad(true);
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            SavedTensorHooks recompute = new SavedTensorHooks() {
                @Override
                public Object pack(Tensor t) {
                    return t.toFloatArray(); // not a tensor: nothing counted as ACTIVATION
                }

                @Override
                public Tensor unpack(Object packed) {
                    float[] v = (float[]) packed;
                    return Tensor.of(v, v.length);
                }
            };
            Tensor y;
            try (var hooks = SavedTensorHooks.push(recompute)) {
                y = F.exp(x).sum();
            }
            assertThat(tracker.peak(Category.ACTIVATION)).isZero();
            y.backward();
        }
        assertThat(x.grad().toFloatArray()[1]).isEqualTo((float) Math.exp(2), org.assertj.core.data.Offset.offset(1e-5f));
    }

    @Test
    void noGradRecordsNothingAndSavesNothing() {
        Tensor x = Tensor.of(new float[]{1f, 2f}, 2).requiresGrad(true);
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker); var off = GradMode.noGrad()) {
            Tensor y = x.mul(x).exp();
            assertThat(y.requiresGrad()).isFalse();
            assertThat(y.gradFn()).isNull();
            assertThat(tracker.peak(Category.ACTIVATION)).isZero();
        }
        assertThat(GradMode.isEnabled()).isTrue();
    }

    @Test
    void scopeReleasesTemporariesButKeepsWhatIsKept() {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            Tensor kept;
            try (Scope s = Scope.open()) {
                Tensor a = Tensor.zeros(10);
                Tensor b = a.add(1f);
                kept = s.keep(b.mul(2f));
                assertThat(tracker.current(Category.TEMPORARY)).isEqualTo(3 * 40);
            }
            assertThat(tracker.current(Category.TEMPORARY)).isEqualTo(40);
            assertThat(kept.toFloatArray()[0]).isEqualTo(2f);
            kept.release();
            assertThat(tracker.current(Category.TEMPORARY)).isZero();
        }
    }

    @Test
    void flatParametersAreViewsAndGradientsLandInTheFlatBuffer() {
        GptConfig config = new GptConfig(20, 4, 8, 2, 1, 0f);
        int[] ids = {1, 2, 3, 4, 5, 6, 7, 8};
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            Gpt model = new Gpt(config, new Rng(5));
            Map<String, float[]> before = new java.util.LinkedHashMap<>();
            model.namedParameters().forEach((n, t) -> before.put(n, t.toFloatArray()));
            long paramBytes = tracker.current(Category.PARAMETER);
            FlatParameters flat = model.flatten();
            assertThat(tracker.current(Category.PARAMETER)).isEqualTo(paramBytes); // moved, not duplicated
            assertThat(tracker.current(Category.GRADIENT)).isEqualTo(paramBytes);
            model.namedParameters().forEach((n, t) -> {
                assertThat(t.storage()).isSameAs(flat.values().whole().storage());
                assertThat(t.toFloatArray()).containsExactly(before.get(n));
            });
            assertThat(flat.entries()).extracting(FlatParameters.Entry::name).containsExactlyElementsOf(before.keySet());
            try (Scope s = Scope.open()) {
                model.loss(Tensor.ints(ids, 2, 4), Tensor.ints(ids, 2, 4)).backward();
            }
            assertThat(tracker.current(Category.GRADIENT)).isEqualTo(paramBytes); // accumulated in place

            // An independent reference: the same model, not flattened, each gradient in its own array.
            Gpt twin = new Gpt(config, new Rng(5));
            try (Scope s = Scope.open()) {
                twin.loss(Tensor.ints(ids, 2, 4), Tensor.ints(ids, 2, 4)).backward();
            }
            float[] grads = flat.grads().whole().toFloatArray();
            for (FlatParameters.Entry e : flat.entries()) {
                float[] expected = twin.namedParameters().get(e.name()).grad().toFloatArray();
                assertThat(twin.namedParameters().get(e.name()).grad().storage())
                        .isNotSameAs(flat.grads().whole().storage());
                assertThat(java.util.Arrays.copyOfRange(grads, e.offset(), e.offset() + e.numel()))
                        .as("flat gradient of %s", e.name()).containsExactly(expected);
            }
            // ... and the reference itself is a gradient: one entry of the LM head against a central difference.
            FlatParameters.Entry head = flat.entries().get(flat.entries().size() - 1);
            assertThat(head.name()).isEqualTo("head.weight");
            int k = largestMagnitude(grads, head.offset(), head.numel());
            assertThat(Math.abs(grads[k])).isGreaterThan(1e-3f);
            Tensor w = twin.namedParameters().get("head.weight");
            double numeric = centralDifference(twin, w, k - head.offset(), ids, 1e-2f);
            assertThat((double) grads[k]).isCloseTo(numeric, org.assertj.core.data.Offset.offset(1e-3 + 1e-2 * Math.abs(numeric)));

            model.zeroGrad();
            assertThat(flat.grads().whole().toFloatArray()).containsOnly(0f);
        }
    }

    private static int largestMagnitude(float[] a, int from, int n) {
        int best = from;
        for (int i = from; i < from + n; i++) if (Math.abs(a[i]) > Math.abs(a[best])) best = i;
        return best;
    }

    /** (L(w_i + h) - L(w_i - h)) / 2h for element {@code i} of {@code w}, losses evaluated without a graph (double). */
    private static double centralDifference(Gpt model, Tensor w, int i, int[] ids, float h) {
        float[] data = w.data();
        int at = w.offset() + i;
        float saved = data[at];
        double[] losses = new double[2];
        float up = saved + h, down = saved - h; // the step actually taken, after rounding to float
        try (var off = GradMode.noGrad()) {
            for (int side = 0; side < 2; side++) {
                data[at] = side == 0 ? up : down;
                try (Scope s = Scope.open()) {
                    losses[side] = model.loss(Tensor.ints(ids, 2, 4), Tensor.ints(ids, 2, 4)).item();
                }
            }
        } finally {
            data[at] = saved;
        }
        return (losses[0] - losses[1]) / ((double) up - down);
    }

    @Test
    void rngStateCaptureReplaysDropoutMasks() {
        Rng rng = new Rng(42);
        Tensor x = Tensor.full(1f, 1000);
        Rng.State s = rng.state();
        float[] first = F.dropout(x, 0.5f, true, rng).toFloatArray();
        float[] second = F.dropout(x, 0.5f, true, rng).toFloatArray();
        rng.restore(s);
        float[] replay = F.dropout(x, 0.5f, true, rng).toFloatArray();
        assertThat(replay).containsExactly(first);
        assertThat(second).isNotEqualTo(first);
        int kept = 0;
        for (float v : first) if (v != 0f) kept++;
        assertThat(kept).isBetween(430, 570);
    }

    @Test
    void conversionsUseCompactStorage() {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            Tensor x = Tensor.of(new float[]{1f, 500f, -0.1f, 70000f}, 4);
            Tensor h = x.to(DType.FP16, Overflow.NON_SATURATE);
            Tensor e4 = x.to(DType.FP8_E4M3, Overflow.SATURATE);
            assertThat(h.bytes()).isEqualTo(8);
            assertThat(e4.bytes()).isEqualTo(4);
            assertThat(tracker.current(Category.TEMPORARY)).isEqualTo(16 + 8 + 4);
            assertThat(h.toFloatArray()[3]).isInfinite();
            assertThat(e4.toFloatArray()[1]).isEqualTo(448f);
            assertThat(e4.to(DType.FP32).toFloatArray()[0]).isEqualTo(1f);
        }
    }

    @Test
    void secondBackwardWithoutRetainSaysSo() {
        Tensor x = Tensor.of(new float[]{1f, 2f}, 2).requiresGrad(true);
        Tensor y = x.mul(x).sum();
        y.backward();
        assertThatThrownBy(y::backward).hasMessageContaining("retainGraph");
    }

    @Test
    void releasedTensorsFailLoudly() {
        Tensor x = Tensor.zeros(3);
        x.release();
        assertThatThrownBy(() -> x.add(1f)).hasMessageContaining("released");
        assertThatThrownBy(x::release).hasMessageContaining("released twice");
    }
}
