package dev.memwall.cli;

import dev.memwall.autograd.Guard;
import dev.memwall.precision.fp8.BlockScaling;
import dev.memwall.precision.fp8.CurrentScaling;
import dev.memwall.precision.fp8.DelayedScaling;
import dev.memwall.precision.fp8.Fp8Autocast;
import dev.memwall.precision.fp8.Fp8Recipe;
import dev.memwall.precision.fp8.Fp8State;
import dev.memwall.precision.fp8.Mxfp8BlockScaling;

import java.util.Locale;

/**
 * {@code --precision}: fp32, or an FP8 recipe for every Linear layer's GEMMs (HYBRID: E4M3 forward, E5M2 gradients).
 * fp8 is delayed scaling with Transformer Engine's defaults; fp8-current, fp8-blockwise (DeepSeek-V3's 1×128 /
 * 128×128) and mxfp8 the other recipes.
 */
final class PrecisionOption {
    static final String DESCRIPTION = "fp32, fp8 (delayed scaling), fp8-current, fp8-blockwise or mxfp8: the GEMMs of every "
            + "Linear layer in FP8 (E4M3 forward, E5M2 gradients) with FP32 accumulation; FP32 master weights";

    private PrecisionOption() {
    }

    /** The FP8 state for {@code precision}, or null for fp32; an unknown value is an IllegalArgumentException. */
    static Fp8State fp8State(String precision) {
        Fp8Recipe recipe = switch (precision.toLowerCase(Locale.ROOT)) {
            case "fp32" -> null;
            case "fp8", "fp8-delayed" -> new DelayedScaling();
            case "fp8-current" -> new CurrentScaling();
            case "fp8-blockwise" -> new BlockScaling();
            case "mxfp8" -> new Mxfp8BlockScaling();
            case "bf16", "fp16" -> throw new IllegalArgumentException(precision + " autocast is not in this build yet (fp32, fp8, "
                    + "fp8-current, fp8-blockwise, mxfp8)");
            default -> throw new IllegalArgumentException("unknown precision '" + precision + "' (fp32, fp8, fp8-current, fp8-blockwise, mxfp8)");
        };
        return recipe == null ? null : new Fp8State(recipe);
    }

    /** FP8 autocast on this thread for {@code state}, or a guard that does nothing for fp32. */
    static Guard enable(Fp8State state) {
        return state == null ? () -> { } : Fp8Autocast.enable(state);
    }
}
