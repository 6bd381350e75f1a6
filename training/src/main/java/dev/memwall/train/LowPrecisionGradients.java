package dev.memwall.train;

import dev.memwall.autograd.Tensor;
import dev.memwall.format.Bf16;
import dev.memwall.format.Fp16;
import dev.memwall.kernels.Bf16Arrays;
import dev.memwall.format.Overflow;
import dev.memwall.kernels.Parallel;
import dev.memwall.memory.Category;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.optim.Optimizer;
import dev.memwall.optim.SecondOrder;
import dev.memwall.precision.GradDtype;

import java.util.Map;

/**
 * {@code --grad-dtype bf16|fp16}: the parameters' gradients held in 2 bytes per element from backward to the update.
 *
 * <p>Layout: one low-format GRADIENT buffer with the flat parameter layout (padding included), the model's slot for
 * its gradients while the FP32 flat gradient buffer is released. Every parameter gets a gradient-ready hook instead of
 * a {@code .grad()} view (as at ZeRO stage 2): the engine sums a parameter's contributions within one backward in FP32
 * and hands the sum over once; it is added into the low buffer, element by element decoded, added in FP32 and rounded
 * to nearest even. So a step with one micro-batch stores each gradient rounded once; with several, the running sum is
 * rounded after each micro-batch — accumulation in the low format, as PyTorch does with gradients in the parameters'
 * dtype. An overflow is stored as infinity (never saturated), so the loss scaler sees it.
 *
 * <p>At the update ({@link #materialize}) the flat FP32 gradient buffer is made again, as a TEMPORARY of phase
 * OPTIMIZER, and filled with the decoded gradients; unscaling, the inf/NaN check, all-reduce or reduce-scatter,
 * clipping and the optimizer then run on it unchanged, and {@link #endStep} zeroes the low buffer and releases the FP32
 * one. GRADIENT is therefore 2 bytes per element at every moment; the FP32 copy is a step-time temporary.
 */
final class LowPrecisionGradients {
    private final GradDtype format;
    private final FlatParameters params;
    private final Tensor low;

    private LowPrecisionGradients(Gpt model, FlatParameters params, GradDtype format) {
        this.format = format;
        this.params = params;
        this.low = Tensor.empty(format.dtype(), Category.GRADIENT, "grad_" + format.label(), params.length());
        Map<String, Tensor> named = model.namedParameters();
        for (FlatParameters.Entry e : params.entries()) {
            Tensor p = named.get(e.name());
            if (p == null) throw new IllegalStateException("flat entry " + e.name() + " is no parameter of the model");
            p.grad(null); // the flat FP32 view; gradients now arrive through the hook
            int offset = e.offset();
            p.onGradientReady(g -> accumulate(offset, g));
        }
        params.grads().release();
    }

    /**
     * Gradients in {@code format} for {@code model}'s training, or null for FP32. Refused where they do not compose:
     * ZeRO stage 2 and 3 (their gradients go to FP32 reduce-scatter buffers during backward; reducing in another
     * format is {@code --reduce-dtype}'s business) and a second-order optimizer (it differentiates the gradients again,
     * which needs the FP32 flat buffer carrying their graph).
     */
    static LowPrecisionGradients attach(Gpt model, DataParallel dp, Optimizer optimizer, GradDtype format) {
        if (format == GradDtype.FP32) return null;
        String option = "--grad-dtype " + format.label();
        if (dp.stage() == ZeroStage.STAGE_2 || dp.stage() == ZeroStage.STAGE_3) {
            throw new IllegalArgumentException(option + " is not available with ZeRO " + dp.stage() + ": its gradients are "
                    + "reduce-scattered from FP32 buckets during backward; use ZeRO stage 0 or 1, or --grad-dtype fp32");
        }
        if (optimizer instanceof SecondOrder) {
            throw new IllegalArgumentException(option + " does not compose with " + optimizer.getClass().getSimpleName()
                    + ": its Hessian-vector products differentiate the FP32 gradients in the flat buffer again; use --grad-dtype fp32");
        }
        return new LowPrecisionGradients(model, dp.params(), format);
    }

    private void accumulate(int offset, Tensor g) {
        if (g == null) return;
        float[] src = g.data();
        int from = g.offset(), n = g.numel();
        short[] dst = low.shortData();
        boolean bf16 = format == GradDtype.BF16;
        Parallel.range(n, 4, (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                int at = offset + i;
                float sum = (bf16 ? Bf16.toFloat(dst[at]) : Fp16.toFloat(dst[at])) + src[from + i];
                dst[at] = bf16 ? Bf16.fromFloat(sum, Overflow.NON_SATURATE) : Fp16.fromFloat(sum, Overflow.NON_SATURATE);
            }
        });
    }

    /** The flat FP32 gradient buffer again (TEMPORARY), holding the decoded gradients: what the update reads. */
    void materialize() {
        params.grads().reallocate(Category.TEMPORARY);
        float[] dst = params.grads().whole().data();
        short[] src = low.shortData();
        int n = params.length();
        if (format == GradDtype.BF16) Bf16Arrays.decode(src, 0, dst, 0, n);
        else Parallel.range(n, 1, (lo, hi) -> Fp16.decode(src, lo, dst, lo, hi - lo));
    }

    /** After the update (or the skipped update): the low buffer zeroed for the next step, the FP32 copy released. */
    void endStep() {
        java.util.Arrays.fill(low.shortData(), (short) 0);
        params.grads().release();
    }

    GradDtype format() {
        return format;
    }

    /** The gradients as held between backward and the update (2 bytes per element), for tests. */
    Tensor held() {
        return low;
    }
}
