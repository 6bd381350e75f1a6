package dev.memwall.precision.fp8;

import java.util.Locale;

/**
 * An FP8 training recipe: immutable configuration of how tensors are scaled into 8 bits, kept apart from the kernels
 * that apply it ({@link Fp8Quantizer}) and from the mutable state some recipes need ({@link Fp8State}). The four recipes
 * of Transformer Engine: {@link DelayedScaling}, {@link CurrentScaling}, {@link Mxfp8BlockScaling} and
 * {@link BlockScaling} (DeepSeek-V3's 1×128 / 128×128).
 */
public sealed interface Fp8Recipe permits DelayedScaling, CurrentScaling, Mxfp8BlockScaling, BlockScaling {
    /** Which 8-bit format each pass uses. */
    Format format();

    /** Short name as used on the command line: delayed, current, mxfp8, blockwise. */
    String name();

    /**
     * The recipe called {@code name} with its defaults: {@code delayed} (or {@code fp8}), {@code current},
     * {@code mxfp8}, {@code blockwise}.
     */
    static Fp8Recipe named(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "fp8", "delayed" -> new DelayedScaling();
            case "current" -> new CurrentScaling();
            case "mxfp8" -> new Mxfp8BlockScaling();
            case "blockwise" -> new BlockScaling();
            default -> throw new IllegalArgumentException("unknown FP8 recipe '" + name + "' (delayed, current, mxfp8, blockwise)");
        };
    }
}
