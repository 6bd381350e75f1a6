package dev.memwall.train;

import dev.memwall.precision.MixedPrecision;
import dev.memwall.precision.Precision;
import dev.memwall.sharding.HalfFormat;

/**
 * How a precision setting composes with a ZeRO stage: which formats the gathers use (every precision trains at every
 * stage), and which {@code --reduce-dtype} settings are refused. The gradient reductions' format is
 * {@link DataParallel#reduceFormat}.
 */
public final class ShardedPrecision {
    private ShardedPrecision() {
    }

    /**
     * Stage 3: BF16/FP16 autocast gathers every unit in its format ({@link WorkingUnits}); the per-tensor FP8 recipes
     * (delayed and current scaling), MXFP8 and 1×128/128×128 block scaling gather the Linear weights as FP8 codes,
     * their amax (MXFP8, block scaling: each block's) agreed over the ranks first ({@link Fp8Units}); FP32 gathers FP32.
     */
    static void configureStageThree(DataParallel dp, MixedPrecision mp) {
        Precision p = mp == null ? Precision.FP32 : mp.precision();
        if (p.isFp8()) {
            dp.units().fp8(mp.fp8());
            return;
        }
        dp.units().workingFormat(switch (p) {
            case BF16 -> HalfFormat.BF16;
            case FP16 -> HalfFormat.FP16;
            default -> null;
        });
    }

    /** Stages 1 and 2: the parameter all-gather moves the GEMM weights in the autocast format ({@link WorkingGather}). */
    static void configure(DataParallel dp, MixedPrecision mp) {
        Precision p = mp == null ? Precision.FP32 : mp.precision();
        dp.workingFormat(p == Precision.BF16 ? HalfFormat.BF16 : p == Precision.FP16 ? HalfFormat.FP16 : null);
    }

    /**
     * {@code --reduce-dtype}: null for fp32 (the default), BF16 for bf16. Refused: another value, and bf16 in a single
     * process, which reduces nothing.
     */
    public static HalfFormat reduceFormat(String reduceDtype, int worldSize) {
        HalfFormat f = GradientWire.parse(reduceDtype);
        if (f != null && worldSize < 2) {
            throw new IllegalArgumentException("--reduce-dtype " + reduceDtype + " sets the format gradients are summed over "
                    + "ranks in; a single process sums nothing (run it under memwall launch --nproc N or mpirun)");
        }
        return f;
    }
}
