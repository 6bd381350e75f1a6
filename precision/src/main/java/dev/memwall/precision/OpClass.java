package dev.memwall.precision;

/** How autocast treats an op's floating inputs: PyTorch's cast policies ({@code autocast_mode.h}). */
public enum OpClass {
    /** GEMM-like: operands cast to the region's low format, products accumulated in FP32 ({@code lower_precision_fp}). */
    LOWER,
    /** Numerically sensitive (softmax, normalization statistics, losses, reductions): computed in FP32 ({@code fp32}). */
    FP32,
    /** Several inputs of mixed formats: all cast to the widest among them ({@code promote}: cat, stack, index_copy). */
    PROMOTE,
    /** Not listed: runs in whatever format its inputs have. */
    UNLISTED
}
