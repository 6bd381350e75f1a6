package dev.memwall.precision;

import java.util.Locale;

/**
 * The {@code --precision} setting: FP32 (no autocast), BF16 or FP16 autocast. {@code fp8} and {@code mxfp8} are
 * reserved for the FP8 recipes and refused with a message saying so.
 */
public enum Precision {
    FP32, BF16, FP16;

    /** Parses {@code fp32|bf16|fp16}, case-insensitively, with a clear error for anything else. */
    public static Precision parse(String s) {
        String v = s == null ? "" : s.trim().toLowerCase(Locale.ROOT);
        return switch (v) {
            case "fp32" -> FP32;
            case "bf16" -> BF16;
            case "fp16" -> FP16;
            case "fp8", "mxfp8" -> throw new IllegalArgumentException("--precision " + v
                    + " is reserved for the FP8 training recipes, which this build does not have yet; use fp32, bf16 or fp16");
            default -> throw new IllegalArgumentException("--precision must be fp32, bf16 or fp16, got '" + s + "'");
        };
    }

    /** A region for this precision, or null for FP32. */
    public Autocast autocast() {
        return switch (this) {
            case FP32 -> null;
            case BF16 -> Autocast.bf16();
            case FP16 -> Autocast.fp16();
        };
    }

    /** The lower-case name used on the command line and in JSON. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
