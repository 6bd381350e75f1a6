package dev.memwall.precision;

import dev.memwall.precision.fp8.BlockScaling;
import dev.memwall.precision.fp8.CurrentScaling;
import dev.memwall.precision.fp8.DelayedScaling;
import dev.memwall.precision.fp8.Fp8Recipe;
import dev.memwall.precision.fp8.Fp8State;
import dev.memwall.precision.fp8.Mxfp8BlockScaling;

import java.util.Locale;

/**
 * The {@code --precision} setting: FP32 (no autocast), BF16 or FP16 autocast (an {@link Autocast} region: GEMM
 * operands in the low format), or an FP8 recipe for every Linear layer's GEMMs (through
 * {@link dev.memwall.precision.fp8.Fp8Autocast}: E4M3 forward, E5M2 gradients). {@code fp8} is delayed scaling with
 * Transformer Engine's defaults; {@code fp8-current}, {@code fp8-blockwise} (DeepSeek-V3's 1×128 / 128×128) and
 * {@code mxfp8} the other recipes.
 */
public enum Precision {
    FP32, BF16, FP16, FP8, FP8_CURRENT, FP8_BLOCKWISE, MXFP8;

    static final String CHOICES = "fp32, bf16, fp16, fp8, fp8-current, fp8-blockwise or mxfp8";

    /** Parses a {@link #label()} (or {@code fp8-delayed} for fp8), case-insensitively, with a clear error for anything else. */
    public static Precision parse(String s) {
        String v = s == null ? "" : s.trim().toLowerCase(Locale.ROOT);
        if (v.equals("fp8-delayed")) return FP8;
        for (Precision p : values()) {
            if (p.label().equals(v)) return p;
        }
        throw new IllegalArgumentException("unknown precision '" + s + "': --precision must be " + CHOICES);
    }

    /** A BF16/FP16 autocast region for this precision, or null (FP32, and the FP8 recipes, which hook Linear layers). */
    public Autocast autocast() {
        return switch (this) {
            case BF16 -> Autocast.bf16();
            case FP16 -> Autocast.fp16();
            default -> null;
        };
    }

    /** Whether this is one of the FP8 recipes. */
    public boolean isFp8() {
        return fp8Recipe() != null;
    }

    /** A fresh FP8 state (the recipe and, for delayed scaling, its amax histories) for this precision, or null. */
    public Fp8State newFp8State() {
        Fp8Recipe recipe = fp8Recipe();
        return recipe == null ? null : new Fp8State(recipe);
    }

    private Fp8Recipe fp8Recipe() {
        return switch (this) {
            case FP8 -> new DelayedScaling();
            case FP8_CURRENT -> new CurrentScaling();
            case FP8_BLOCKWISE -> new BlockScaling();
            case MXFP8 -> new Mxfp8BlockScaling();
            default -> null;
        };
    }

    /** The lower-case name used on the command line and in JSON ({@code fp8-current}, ...). */
    public String label() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }
}
