package dev.memwall.precision;

/**
 * What a training loop needs to train in mixed precision: the precision its forward and backward run in (an
 * {@link Autocast} region per step) and the loss scaler. The master weights, the optimizer state and the parameters'
 * gradients stay FP32 (the model's flat buffers); the region's BF16/FP16 weight copies are the working weights.
 */
public final class MixedPrecision {
    private final Precision precision;
    private final GradScaler scaler;

    public MixedPrecision(Precision precision, GradScaler scaler) {
        if (precision == null || scaler == null) throw new IllegalArgumentException("mixed precision needs a precision and a scaler");
        this.precision = precision;
        this.scaler = scaler;
    }

    /** {@code precision} with its default loss scaling (dynamic for FP16, none otherwise). */
    public static MixedPrecision of(Precision precision) {
        return new MixedPrecision(precision, LossScale.defaultFor(precision).newScaler());
    }

    /** A region for one step's forwards and backwards, or null for FP32. */
    public Autocast begin() {
        return precision.autocast();
    }

    public Precision precision() {
        return precision;
    }

    public GradScaler scaler() {
        return scaler;
    }
}
