package dev.memwall.rop;

import dev.memwall.autograd.DType;
import dev.memwall.format.Bf16;
import dev.memwall.format.Overflow;
import dev.memwall.kernels.Parallel;

/**
 * Under autocast, the activations an autocast step keeps as BF16 copies for backward (precision's
 * {@code AutocastOps.keepsSavedLow}: GELU's input, the logits, the layer norms' input; under BF16 and FP16 regions
 * alike) are read rounded to BF16 by the pass's backward too, so its gradient is the autocast step's up to the order of
 * sums. Only the primal values are rounded: the tape's tangents stay FP32. The tape's bytes stay FP32 (the values are
 * rounded where they are held, not stored in two bytes).
 */
final class SavedLow {
    private SavedLow() {
    }

    /** Rounds a kept value, once nothing but its op's backward reads it (GELU's input, the logits), when {@code ops} is autocast. */
    static void round(GemmOperands ops, Dual kept) {
        if (ops.formats().values() == DType.FP32) return;
        GemmOperands.roundInPlace(DType.BF16, kept.va(), kept.vo(), kept.v().numel());
    }

    /**
     * A layer norm's backward as autocast's reads it: x̂ = (bf16(x) − μ)·r with the FP32 statistics, that is the kept
     * x̂ + (bf16(x) − x)·r, for the input {@code x} the norm was computed from.
     */
    static void layerNormInput(GemmOperands ops, Dual x, LayerNormRop.Saved saved) {
        if (ops.formats().values() == DType.FP32) return;
        int rows = saved.rows(), n = saved.n();
        float[] xv = x.va(), hv = saved.xhat().va(), st = saved.stats().data();
        int xo = x.vo(), ho = saved.xhat().vo(), so = saved.stats().offset();
        Parallel.range(rows, 4L * n, (from, to) -> {
            for (int r = from; r < to; r++) {
                float rstd = st[so + r];
                for (int j = 0; j < n; j++) {
                    float v = xv[xo + r * n + j];
                    hv[ho + r * n + j] += (Bf16.toFloat(Bf16.fromFloat(v, Overflow.NON_SATURATE)) - v) * rstd;
                }
            }
        });
    }
}
