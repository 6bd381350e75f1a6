package dev.memwall.precision.fp8;

import java.util.Objects;

/**
 * Fine-grained block scaling of DeepSeek-V3 (Transformer Engine's {@code Float8BlockScaling}): activations and
 * gradients in 1×{@code tile} tiles along the contraction dimension ({@code tile}×1 when used transposed), weights in
 * {@code tile}×{@code tile} blocks, which serve the weight and its transpose alike. One FP32 scale per tile, rounded
 * down to a power of two as Transformer Engine does by default, so dequantization is exact.
 *
 * @param format E4M3, E5M2 or HYBRID
 * @param tile   tile side (default 128)
 */
public record BlockScaling(Format format, int tile) implements Fp8Recipe {
    public static final int DEFAULT_TILE = 128;

    public BlockScaling {
        Objects.requireNonNull(format, "format");
        if (tile < 1) throw new IllegalArgumentException("block scaling: tile must be at least 1, got " + tile);
    }

    public BlockScaling() {
        this(Format.HYBRID, DEFAULT_TILE);
    }

    /** 1×tile: activations and gradients as the left operand. */
    public Tiling activationRowwise() {
        return new Tiling(1, tile);
    }

    /** tile×1: activations and gradients contracted over their rows (the weight gradient). */
    public Tiling activationColumnwise() {
        return new Tiling(tile, 1);
    }

    /** tile×tile: weights. */
    public Tiling weight() {
        return new Tiling(tile, tile);
    }

    @Override
    public String name() {
        return "blockwise";
    }
}
