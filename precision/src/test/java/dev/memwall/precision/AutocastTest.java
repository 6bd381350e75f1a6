package dev.memwall.precision;

import dev.memwall.autograd.CastPolicy;
import dev.memwall.autograd.DType;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.format.Bf16;
import dev.memwall.format.Overflow;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.Linear;
import dev.memwall.ops.F;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Autocast regions: the op table, what a GEMM computes and saves in a region, and the weight cache's bytes. */
class AutocastTest {
    private static final int ROWS = 6, IN = 10, OUT = 7;

    @Test
    void opTableFollowsPyTorchsCpuListsWhereMemwallHasTheOp() {
        for (String op : new String[]{"linear", "matmul", "causal_attention_probs", "causal_attention"}) {
            assertThat(AutocastOps.classOf(op)).as(op).isEqualTo(OpClass.LOWER);
        }
        for (String op : new String[]{"cross_entropy", "softmax", "log_softmax", "causal_softmax", "layer_norm", "sum", "mean"}) {
            assertThat(AutocastOps.classOf(op)).as(op).isEqualTo(OpClass.FP32);
        }
        assertThat(AutocastOps.classOf("concat")).isEqualTo(OpClass.PROMOTE);
        for (String op : new String[]{"gelu", "add", "mul", "embedding", "dropout", "reshape"}) {
            assertThat(AutocastOps.classOf(op)).as(op).isEqualTo(OpClass.UNLISTED);
        }
    }

    @Test
    void linearComputesLowPrecisionProductsAccumulatedInFp32() {
        try (Scope s = Scope.open()) {
            Linear layer = new Linear(IN, OUT, true, new Rng(3));
            Tensor x = Tensor.randn(new Rng(4), 1f, ROWS, IN);
            float[] y;
            try (Autocast ac = Autocast.bf16()) {
                y = layer.forward(x).toFloatArray();
            }
            float[] xr = round(x.toFloatArray()), wr = round(layer.weight().toFloatArray()), b = layer.namedParameters().get("bias").toFloatArray();
            for (int r = 0; r < ROWS; r++) {
                for (int o = 0; o < OUT; o++) {
                    double acc = b[o];
                    for (int k = 0; k < IN; k++) acc += (double) xr[r * IN + k] * wr[o * IN + k];
                    assertThat((double) y[r * OUT + o]).isCloseTo(acc, org.assertj.core.data.Offset.offset(1e-5 * (1 + Math.abs(acc))));
                }
            }
            float[] plain = layer.forward(x).toFloatArray();
            assertThat(plain).as("outside the region the layer is FP32 again").isNotEqualTo(y);
            assertThat(CastPolicy.current()).isNull();
        }
    }

    private static float[] round(float[] v) {
        float[] r = new float[v.length];
        for (int i = 0; i < v.length; i++) r[i] = Bf16.toFloat(Bf16.fromFloat(v[i], Overflow.NON_SATURATE));
        return r;
    }

    /**
     * Two calls in one region: one BF16 copy of the weight (2·IN·OUT bytes of PARAMETER, not two), each call's input
     * cast and saved in BF16 (2·ROWS·IN bytes of ACTIVATION each). Closing the region and the graph returns both to
     * where they were.
     */
    @Test
    void weightCopiesAreMadeOncePerRegionCountedAsParameterAndReleased() {
        MemoryTracker t = new MemoryTracker();
        try (var installed = MemoryTracker.install(t)) {
            Linear layer = new Linear(IN, OUT, false, new Rng(5));
            long params = t.current(Category.PARAMETER);
            assertThat(params).isEqualTo(4L * IN * OUT);
            try (Scope s = Scope.open()) {
                // not a leaf: PyTorch's cache rule (an FP32 leaf that requires a gradient) would treat a leaf as a weight
                Tensor x = Tensor.randn(new Rng(6), 1f, ROWS, IN).requiresGrad(true).mul(1f);
                Autocast ac = Autocast.bf16();
                Tensor y1, y2;
                try {
                    y1 = layer.forward(x);
                    y2 = layer.forward(x);
                } catch (RuntimeException e) {
                    ac.close();
                    throw e;
                }
                assertThat(t.current(Category.PARAMETER)).as("one BF16 copy for both calls").isEqualTo(params + 2L * IN * OUT);
                assertThat(ac.cachedBytes()).isEqualTo(2L * IN * OUT);
                assertThat(t.current(Category.ACTIVATION)).as("each call saves its BF16 input").isEqualTo(2 * 2L * ROWS * IN);
                y1.add(y2).sum().backward();
                assertThat(t.current(Category.ACTIVATION)).isZero();
                ac.close();
                assertThat(t.current(Category.PARAMETER)).as("the copy goes with the region").isEqualTo(params);
                assertThat(layer.weight().grad().dtype()).isEqualTo(DType.FP32);
            }
            assertThat(t.current(Category.TEMPORARY)).isZero();
        }
    }

    /** A copy held by a live graph stays counted (under PARAMETER) until the graph goes, then nothing is left. */
    @Test
    void aGraphOutlivingTheRegionKeepsItsCopyUntilFreed() {
        MemoryTracker t = new MemoryTracker();
        try (var installed = MemoryTracker.install(t)) {
            Linear layer = new Linear(IN, OUT, false, new Rng(5));
            long params = t.current(Category.PARAMETER);
            try (Scope s = Scope.open()) {
                Tensor x = Tensor.randn(new Rng(6), 1f, ROWS, IN).requiresGrad(true).mul(1f); // its gradient needs W
                Tensor y;
                try (Autocast ac = Autocast.fp16()) {
                    y = layer.forward(x);
                }
                assertThat(t.current(Category.PARAMETER)).isEqualTo(params + 2L * IN * OUT);
                y.sum().backward(); // outside the region: the saved FP16 operands are decoded, nothing is cast
                assertThat(t.current(Category.PARAMETER)).isEqualTo(params);
            }
            assertThat(t.current(Category.PARAMETER)).isEqualTo(params);
        }
    }

    @Test
    void gradientsUnderAutocastAreCloseToFp32s() {
        float[] ref = gradient(null), bf = gradient("bf16"), half = gradient("fp16");
        assertThat(relError(bf, ref)).as("BF16 (8 significand bits)").isLessThan(2e-2).isGreaterThan(0);
        assertThat(relError(half, ref)).as("FP16 (11 significand bits)").isLessThan(3e-3).isGreaterThan(0);
    }

    /** The gradient of a small GPT's loss with respect to all its parameters. */
    private static float[] gradient(String format) {
        var config = new dev.memwall.nn.GptConfig(32, 8, 16, 2, 2, 0f);
        var model = new dev.memwall.nn.Gpt(config, new Rng(9));
        var flat = model.flatten();
        int[] ids = new int[16], targets = new int[16];
        Rng r = new Rng(10);
        for (int i = 0; i < 16; i++) {
            ids[i] = r.nextInt(32);
            targets[i] = r.nextInt(32);
        }
        try (Scope s = Scope.open()) {
            Autocast ac = format == null ? null : format.equals("bf16") ? Autocast.bf16() : Autocast.fp16();
            try {
                model.loss(Tensor.ints(ids, 2, 8), Tensor.ints(targets, 2, 8)).backward();
            } finally {
                if (ac != null) ac.close();
            }
        }
        float[] g = flat.grads().whole().toFloatArray();
        flat.values().release();
        flat.grads().release();
        return g;
    }

    private static double relError(float[] a, float[] ref) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            num += (double) (a[i] - ref[i]) * (a[i] - ref[i]);
            den += (double) ref[i] * ref[i];
        }
        return Math.sqrt(num / den);
    }

    @Test
    void regionsNestAndAreRemovedInnermostFirst() {
        Autocast outer = Autocast.bf16();
        Autocast inner = Autocast.fp16();
        try {
            assertThat(CastPolicy.current()).isSameAs(inner);
            assertThatThrownBy(outer::close).isInstanceOf(IllegalStateException.class);
        } finally {
            inner.close();
            outer.close();
        }
        assertThat(CastPolicy.current()).isNull();
    }

    @Test
    void aFormatCastIsBf16OrFp16() {
        assertThatThrownBy(() -> new FormatCast(DType.FP8_E4M3)).hasMessageContaining("FP8");
        try (Scope s = Scope.open(); Autocast ac = Autocast.bf16()) {
            Tensor a = Tensor.randn(new Rng(1), 1f, 3, 4), b = Tensor.randn(new Rng(2), 1f, 4, 5);
            assertThat(F.matmul(a, b, false, false).dtype()).as("GEMM outputs are the FP32 accumulators").isEqualTo(DType.FP32);
        }
    }
}
