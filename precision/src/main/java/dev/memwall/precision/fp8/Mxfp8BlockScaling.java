package dev.memwall.precision.fp8;

import java.util.Objects;

/**
 * MXFP8 (OCP Microscaling): blocks of {@link #BLOCK} consecutive elements along the GEMM's contraction dimension share
 * one E8M0 scale, a power of two stored in one byte. The scale is rounded <em>up</em> so that the block's largest value
 * never saturates; the OCP specification's floor rule would clip block maxima in [448, 512) (E4M3) to 448. Row-wise
 * and column-wise quantizations of the same tensor differ, so each is made from the FP32 tensor.
 */
public record Mxfp8BlockScaling(Format format) implements Fp8Recipe {
    /** Elements per block. */
    public static final int BLOCK = 32;

    public Mxfp8BlockScaling {
        Objects.requireNonNull(format, "format");
    }

    /** HYBRID like the other recipes here (Transformer Engine defaults MXFP8 to E4M3 everywhere: pass Format.E4M3). */
    public Mxfp8BlockScaling() {
        this(Format.HYBRID);
    }

    /** Blocks along the last dimension (a row-major operand contracted over its columns). */
    public static Tiling rowwise() {
        return new Tiling(1, BLOCK);
    }

    /** Blocks along the first dimension (the same tensor used transposed). */
    public static Tiling columnwise() {
        return new Tiling(BLOCK, 1);
    }

    @Override
    public String name() {
        return "mxfp8";
    }
}
