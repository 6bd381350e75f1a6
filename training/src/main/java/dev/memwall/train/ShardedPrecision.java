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
     * Stage 3: BF16/FP16 autocast gathers every unit in its format ({@link WorkingUnits}); the per-tensor FP8 recipes
     * (delayed and current scaling) and MXFP8 gather the Linear weights as FP8 codes, their amax (MXFP8: each block's)
     * agreed over the ranks first ({@link Fp8Units}); FP32 gathers FP32. 1×128/128×128 block scaling is refused
     * ({@link #check}).
     */
    static void configureStageThree(DataParallel dp, MixedPrecision mp) {
        Precision p = mp == null ? Precision.FP32 : mp.precision();
        check(ZeroStage.STAGE_3, p);
        if (p == Precision.FP8 || p == Precision.FP8_CURRENT || p == Precision.MXFP8) {
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
     * Refuses a precision the stage cannot train in, naming why: 1×128/128×128 block scaling (fp8-blockwise) at stage
     * 3. It quantizes each Linear weight in 128×128 blocks, used as they are and transposed, and a block spans 128 rows,
     * which the ranks' 1/N pieces of a unit cut; its activations' 128×1 tiles would also straddle the ranks' rows.
     */
    public static void check(ZeroStage stage, Precision p) {
        if (stage == ZeroStage.STAGE_3 && p == Precision.FP8_BLOCKWISE) {
            throw new IllegalArgumentException("--precision " + p.label() + " is not available with ZeRO stage 3: it scales each "
                    + "Linear weight by 128x128 blocks, whose scale comes from a block's amax, and a block spans 128 rows, which "
                    + "the ranks' 1/N pieces of a unit cut; use --precision fp8, fp8-current or mxfp8 (scales agreed over the "
                    + "ranks) at stage 3, or " + p.label() + " at stages 0-2");
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
