package dev.memwall.train;

import dev.memwall.precision.MixedPrecision;
import dev.memwall.precision.Precision;
import dev.memwall.sharding.HalfFormat;

/**
 * How a precision setting composes with a ZeRO stage: which formats the gathers use, and which settings are refused
 * (with why). The gradient reductions' format ({@code --reduce-dtype}) is {@link DataParallel#reduceFormat}.
 */
public final class ShardedPrecision {
    private ShardedPrecision() {
    }

    /**
     * Stage 3: BF16/FP16 autocast gathers every unit in its format ({@link WorkingUnits}); FP32 gathers FP32. The FP8
     * recipes are refused: they quantize each Linear weight from the whole tensor's amax (or its blocks') at every
     * forward, and a rank holds 1/N of each unit, so a working-format gather in FP8 needs the amax agreed over ranks
     * first (Transformer Engine's reduce_amax), which memwall does not do yet.
     */
    static void configureStageThree(DataParallel dp, MixedPrecision mp) {
        Precision p = mp == null ? Precision.FP32 : mp.precision();
        check(ZeroStage.STAGE_3, p);
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

    /** Refuses a precision the stage cannot train in, naming why: the FP8 recipes at stage 3 (see above). */
    public static void check(ZeroStage stage, Precision p) {
        if (stage == ZeroStage.STAGE_3 && p.isFp8()) {
            throw new IllegalArgumentException("--precision " + p.label() + " is not available with ZeRO stage 3: an FP8 "
                    + "recipe scales each Linear weight from the whole weight's amax at every forward, and at stage 3 each "
                    + "rank holds 1/N of it, so gathering it in FP8 needs that amax agreed over the ranks first (not done "
                    + "yet); use --precision bf16 or fp16 at stage 3, or an FP8 recipe at stages 0-2");
        }
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
