package dev.memwall.optim;

import java.util.Locale;

/** How AdamW keeps its two moments: FP32, BF16 (round to nearest even), or block-wise 8-bit ({@link CompressedMoments}). */
public enum StateFormat {
    FP32, BF16, INT8;

    /** The name on the command line and in {@code --json}. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** fp32, bf16 or int8 (case-insensitive). */
    public static StateFormat parse(String text) {
        for (StateFormat f : values()) if (f.label().equalsIgnoreCase(text.trim())) return f;
        throw new IllegalArgumentException("unknown optimizer-state format '" + text + "' (fp32, bf16, int8)");
    }
}
