package dev.memwall.autograd;

import dev.memwall.autograd.CompressedActivations.Format;
import dev.memwall.format.Fp8E4M3;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.ops.F;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * Saved activations kept in BF16 or FP8: the ACTIVATION bytes against the analytic count of what each op saves, which
 * tensors stay exact, the FP8 rounding against a double-precision reference, and gradients against FP32's.
 */
class CompressedActivationsTest {
    private static final int F32 = 4, I32 = 4;

    /** ACTIVATION bytes held at the end of the forward pass of {@code c} on a random batch, saved as {@code f}. */
    private static long forwardActivation(GptConfig c, int batch, Format f) {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            Gpt model = new Gpt(c, new Rng(3));
            int n = batch * c.context();
            int[] ids = new int[n], next = new int[n];
            Rng data = new Rng(11);
            for (int i = 0; i < n; i++) {
                ids[i] = data.nextInt(c.vocab());
                next[i] = data.nextInt(c.vocab());
            }
            try (Scope step = Scope.open(); var hooks = CompressedActivations.install(f)) {
                model.loss(Tensor.ints(ids, batch, c.context()), Tensor.ints(next, batch, c.context()));
                return tracker.current(Category.ACTIVATION);
            }
        }
    }

    /**
     * What a GPT saves, split into what these hooks compress (activations) and what stays exact: layer-norm
     * statistics (FP32) and token ids and targets (INT32). The count is MemoryAccountingTest's.
     */
    private static long expectedBytes(GptConfig c, int b, Format f) {
        long t = c.context(), d = c.dim(), h = c.heads(), v = c.vocab(), bt = b * t, btd = bt * d;
        long perBlock = 16 * btd + b * h * t * t;
        long compressed = c.layers() * perBlock + btd /* final layer norm input */ + btd /* LM head input */ + bt * v;
        long exactF32 = c.layers() * 4 * bt + 2 * bt; // mean and rstd of every layer norm
        return compressed * f.bytes + (long) F32 * exactF32 + (long) I32 * 2 * bt;
    }

    @Test
    void smallGptActivationBytesHalveAndQuarter() {
        GptConfig c = new GptConfig(40, 16, 32, 4, 2, 0f);
        for (Format f : Format.values()) {
            assertThat(forwardActivation(c, 2, f)).as(f.label()).isEqualTo(expectedBytes(c, 2, f));
        }
    }

    /** The GPT benchmark model's shape (L6 D256 H4 ctx128, vocab 256) at batch 1: activations scale with the batch. */
    @Test
    void benchModelShapeMeetsTheTargets() {
        GptConfig c = new GptConfig(256, 128, 256, 4, 6, 0f);
        long fp32 = forwardActivation(c, 1, Format.FP32);
        long bf16 = forwardActivation(c, 1, Format.BF16);
        long fp8 = forwardActivation(c, 1, Format.FP8);
        assertThat(fp32).isEqualTo(expectedBytes(c, 1, Format.FP32));
        assertThat(bf16).isEqualTo(expectedBytes(c, 1, Format.BF16));
        assertThat(fp8).isEqualTo(expectedBytes(c, 1, Format.FP8));
        assertThat((double) bf16 / fp32).isLessThanOrEqualTo(0.52);
        assertThat((double) fp8 / fp32).isLessThanOrEqualTo(0.27);
    }

    @Test
    void integerMaskParameterAndStatisticTensorsStayExact() {
        CompressedActivations hooks = CompressedActivations.of(Format.FP8);
        try (Scope s = Scope.open()) {
            Tensor ids = Tensor.ints(new int[]{1, 2, 3});
            Tensor mask = Tensor.empty(DType.BOOL, Category.TEMPORARY, "mask", 3);
            Tensor weight = Tensor.empty(DType.FP32, Category.PARAMETER, "weight", 3);
            Tensor half = Tensor.empty(DType.BF16, Category.TEMPORARY, "autocast", 3);
            Tensor x = Tensor.randn(new Rng(1), 1f, 4, 8);
            Tensor y = F.layerNorm(x.requiresGrad(true), null, null, 1e-5f);
            assertThat(hooks.pack(ids)).isSameAs(ids);
            assertThat(hooks.pack(mask)).isSameAs(mask);
            assertThat(hooks.pack(weight)).isSameAs(weight);
            assertThat(CompressedActivations.of(Format.BF16).pack(half)).as("BF16 keeps a BF16 activation").isSameAs(half);
            Object recompressed = hooks.pack(half); // FP8 recompresses autocast's BF16 activations
            assertThat(recompressed).isNotInstanceOf(Tensor.class);
            assertThat(hooks.unpack(recompressed).dtype()).isEqualTo(DType.FP32);
            hooks.release(recompressed);
            Tensor rstd = Tensor.empty("layer_norm.rstd", 4);
            assertThat(hooks.pack(rstd)).isSameAs(rstd);
            Object packed = hooks.pack(y);
            assertThat(packed).isNotInstanceOf(Tensor.class);
            hooks.release(packed);
            weight.release();
        }
    }

    @Test
    void fp8WithANonFiniteValueStaysFp32AndBf16KeepsInfinity() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[]{1f, Float.POSITIVE_INFINITY, -2f});
            assertThat(CompressedActivations.of(Format.FP8).pack(x)).isSameAs(x);
            CompressedActivations bf16 = CompressedActivations.of(Format.BF16);
            Object p = bf16.pack(x);
            assertThat(bf16.unpack(p).toFloatArray()).containsExactly(1f, Float.POSITIVE_INFINITY, -2f);
            bf16.release(p);
        }
    }

    /** Round trip through E4M3 with scale 448 / amax against the nearest E4M3 value of x·scale computed in double. */
    @Test
    void fp8RoundTripMatchesADoubleReference() {
        float[] v = new float[4096];
        Rng r = new Rng(5);
        r.fillNormal(v, 0, v.length, 3f);
        v[17] = -12.5f; // amax, negative
        for (int i = 0; i < v.length; i++) v[i] = Math.max(-12.5f, Math.min(12.5f, v[i]));
        double[] codes = new double[127]; // every finite non-negative E4M3 value
        for (int c = 0; c < 127; c++) codes[c] = Fp8E4M3.toFloat((byte) c);
        CompressedActivations hooks = CompressedActivations.of(Format.FP8);
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(v);
            Object p = hooks.pack(x);
            float[] back = hooks.unpack(p).toFloatArray();
            float scale = CompressedActivations.fp8Scale(12.5f);
            assertThat(scale).isEqualTo(448f / 12.5f);
            for (int i = 0; i < v.length; i++) {
                double target = Math.abs((double) v[i] * scale);
                double best = 0, err = Double.MAX_VALUE;
                int at = 0;
                for (int c = 0; c < codes.length; c++) {
                    if (Math.abs(codes[c] - target) < err) {
                        err = Math.abs(codes[c] - target);
                        best = codes[c];
                        at = c;
                    }
                }
                double expected = Math.copySign(best, v[i]) / scale;
                // float's own rounding of x·scale may pick the other code only at an exact tie of two codes
                double gap = Math.max(at > 0 ? best - codes[at - 1] : 0, at < 126 ? codes[at + 1] - best : 0); // E4M3 spacing
                assertThat((double) back[i]).as("element %d = %s", i, v[i]).isCloseTo(expected, within(gap / scale * 1.0001));
                assertThat(Math.abs(back[i] - v[i])).isLessThanOrEqualTo((float) (gap / 2 / scale * 1.0001));
            }
            assertThat(back[17]).isEqualTo(-12.5f);
            hooks.release(p);
        }
    }

    @Test
    void aStorageSavedTwiceIsCompressedOnceAndEverythingGoesAfterBackward() {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker); Scope s = Scope.open();
             var hooks = CompressedActivations.install(Format.BF16)) {
            Tensor x = Tensor.randn(new Rng(2), 1f, 64).requiresGrad(true);
            Tensor h = x.mul(2f); // saves nothing
            Tensor y = h.mul(h);  // saves h twice
            assertThat(tracker.current(Category.ACTIVATION)).isEqualTo(64 * 2);
            y.sum().backward();
            assertThat(tracker.current(Category.ACTIVATION)).isZero();
            float[] g = x.grad().toFloatArray(), xv = x.toFloatArray();
            for (int i = 0; i < 64; i++) assertThat(g[i]).isCloseTo(8 * xv[i], within(Math.abs(8 * xv[i]) * 0x1p-8f + 1e-6f));
        }
    }

    /** Loss and flat gradients of a 2-block GPT with saved activations in {@code f}. */
    private static float[] gptGradients(Format f, boolean dropout) {
        GptConfig c = new GptConfig(40, 16, 32, 4, 2, dropout ? 0.1f : 0f);
        Gpt model = new Gpt(c, new Rng(3));
        var flat = model.flatten();
        Rng.defaultRng().manualSeed(9);
        int n = 2 * c.context();
        int[] ids = new int[n], next = new int[n];
        Rng data = new Rng(11);
        for (int i = 0; i < n; i++) {
            ids[i] = data.nextInt(c.vocab());
            next[i] = data.nextInt(c.vocab());
        }
        try (Scope s = Scope.open(); var hooks = CompressedActivations.install(f)) {
            model.loss(Tensor.ints(ids, 2, c.context()), Tensor.ints(next, 2, c.context())).backward();
        }
        float[] g = flat.grads().whole().toFloatArray();
        flat.values().release();
        flat.grads().release();
        return g;
    }

    static double relativeError(float[] a, float[] ref) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            num += (double) (a[i] - ref[i]) * (a[i] - ref[i]);
            den += (double) ref[i] * ref[i];
        }
        return Math.sqrt(num / den);
    }

    @Test
    void gptGradientsAreCloseToFp32() {
        float[] ref = gptGradients(Format.FP32, true);
        assertThat(relativeError(gptGradients(Format.BF16, true), ref)).isLessThan(0.01).isGreaterThan(0);
        assertThat(relativeError(gptGradients(Format.FP8, true), ref)).isLessThan(0.1);
    }

    /** Hessian-vector product of tanh(x·W)·u summed: the decoded copies keep their history under createGraph. */
    @Test
    void secondOrderGradientsFlowThroughCompressedSavedTensors() {
        float[] ref = hvp(Format.FP32), bf16 = hvp(Format.BF16);
        assertThat(relativeError(bf16, ref)).isLessThan(0.02);
        assertThat(ref).isNotEqualTo(new float[ref.length]);
    }

    private static float[] hvp(Format f) {
        try (Scope s = Scope.open(); var hooks = CompressedActivations.install(f)) {
            Rng r = new Rng(4);
            Tensor x = Tensor.randn(r, 1f, 8, 6).requiresGrad(true);
            Tensor w = Tensor.randn(r, 0.5f, 6, 5).requiresGrad(true);
            Tensor u = Tensor.randn(r, 1f, 8, 5);
            Tensor loss = x.matmul(w).tanh().mul(u).sum();
            Tensor gx = Engine.grad(loss, x, true);
            Tensor vdot = gx.mul(Tensor.randn(new Rng(6), 1f, 8, 6)).sum();
            Tensor[] hv = Engine.grad(new Tensor[]{vdot}, new Tensor[]{x, w}, null, false);
            float[] a = hv[0].toFloatArray(), b = hv[1].toFloatArray();
            float[] out = new float[a.length + b.length];
            System.arraycopy(a, 0, out, 0, a.length);
            System.arraycopy(b, 0, out, a.length, b.length);
            return out;
        }
    }

    @Test
    void formatsParseAndRefuseUnknownNames() {
        assertThat(Format.parse("BF16")).isEqualTo(Format.BF16);
        assertThat(Format.parse("fp8").ratio()).isEqualTo(0.25);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> Format.parse("int4")).hasMessageContaining("fp32, bf16, fp8");
        assertThat(List.of(Format.values())).hasSize(3);
    }
}
