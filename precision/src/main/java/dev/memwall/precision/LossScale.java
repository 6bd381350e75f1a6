package dev.memwall.precision;

/**
 * The {@code --loss-scale} setting: {@code dynamic} (PyTorch's {@link GradScaler#dynamic()}), {@code static:S} (a
 * fixed scale S) or {@code none}. Left out, it follows the precision: FP16 needs scaling (its smallest subnormal is
 * 2^-24, and gradients are often smaller), BF16 does not (FP32's exponent range), FP32 does not.
 */
public record LossScale(String spec) {
    public LossScale {
        parse(spec); // validates
    }

    /** The default for {@code precision}: dynamic for FP16, none otherwise. */
    public static LossScale defaultFor(Precision precision) {
        return new LossScale(precision == Precision.FP16 ? "dynamic" : "none");
    }

    /** A fresh scaler for this setting. */
    public GradScaler newScaler() {
        return parse(spec);
    }

    private static GradScaler parse(String spec) {
        if (spec == null) throw new IllegalArgumentException("--loss-scale must be dynamic, static:S or none");
        String s = spec.trim().toLowerCase();
        if (s.equals("dynamic")) return GradScaler.dynamic();
        if (s.equals("none")) return GradScaler.disabled();
        if (s.startsWith("static:")) {
            float v;
            try {
                v = Float.parseFloat(s.substring("static:".length()));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--loss-scale static:S needs a number S, got '" + spec + "'");
            }
            if (!(v > 0) || Float.isInfinite(v)) throw new IllegalArgumentException("--loss-scale static:S needs S > 0 and finite, got '" + spec + "'");
            return GradScaler.constant(v);
        }
        throw new IllegalArgumentException("--loss-scale must be dynamic, static:S or none, got '" + spec + "'");
    }

    @Override
    public String toString() {
        return spec;
    }
}
