package dev.memwall.precision;

import dev.memwall.autograd.Guard;
import dev.memwall.precision.fp8.Fp8Autocast;
import dev.memwall.precision.fp8.Fp8State;

/**
 * What a training loop needs to train in mixed precision: the precision its forward and backward run in (an
 * {@link Autocast} region per step for BF16/FP16, or an FP8 recipe's Linear-layer hook) and the loss scaler. The
 * master weights, the optimizer state and the parameters' gradients stay FP32 (the model's flat buffers); the
 * region's BF16/FP16 weight copies (or FP8 quantized operands) are the working weights.
 *
 * <p>The two mechanisms sit side by side: BF16/FP16 go through {@link dev.memwall.autograd.CastPolicy} (every GEMM
 * op casts its operands), FP8 through {@link dev.memwall.ops.LinearAutocast} (Linear layers only, with per-tensor or
 * per-block scales and E5M2 gradients, which a per-operand cast cannot express).
 */
public final class MixedPrecision {
    private final Precision precision;
    private final GradScaler scaler;
    private final Fp8State fp8;
    private final GradDtype gradDtype;

    public MixedPrecision(Precision precision, GradScaler scaler) {
        this(precision, scaler, GradDtype.FP32);
    }

    /** With the parameters' gradients held in {@code gradDtype} between backward and the update ({@code --grad-dtype}). */
    public MixedPrecision(Precision precision, GradScaler scaler, GradDtype gradDtype) {
        if (precision == null || scaler == null || gradDtype == null) {
            throw new IllegalArgumentException("mixed precision needs a precision, a scaler and a gradient format");
        }
        this.precision = precision;
        this.scaler = scaler;
        this.gradDtype = gradDtype;
        this.fp8 = precision.newFp8State(); // one per run: delayed scaling's histories carry over from step to step
    }

    /** The format the parameters' gradients are held in between backward and the update (FP32 by default). */
    public GradDtype gradDtype() {
        return gradDtype;
    }

    /** {@code precision} with its default loss scaling (dynamic for FP16, none otherwise). */
    public static MixedPrecision of(Precision precision) {
        return new MixedPrecision(precision, LossScale.defaultFor(precision).newScaler());
    }

    /** A BF16/FP16 region for one step's forwards and backwards, or null (FP32 and FP8). */
    public Autocast begin() {
        return precision.autocast();
    }

    /** FP8 Linear layers on this thread until the guard closes; a guard that does nothing unless the precision is FP8. */
    public Guard fp8Region() {
        return fp8 == null ? () -> { } : Fp8Autocast.enable(fp8);
    }

    /** The FP8 recipe's state, or null when the precision is not FP8. */
    public Fp8State fp8() {
        return fp8;
    }

    public Precision precision() {
        return precision;
    }

    public GradScaler scaler() {
        return scaler;
    }
}
