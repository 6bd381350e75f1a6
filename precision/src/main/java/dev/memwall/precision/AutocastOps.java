package dev.memwall.precision;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The autocast op table: which memwall op runs in which format, modelled on PyTorch's CPU lists
 * ({@code TORCH_LIBRARY_IMPL(aten, AutocastCPU, m)} in {@code aten/src/ATen/autocast_mode.cpp}).
 *
 * <p>PyTorch's CPU lists, for reference: lower precision — conv1d/2d/3d, bmm, mm, linalg_vecdot, baddbmm, addmm,
 * addbmm, linear, matmul, conv_tbc, conv_transpose, prelu, scaled_dot_product_attention, _native_multi_head_attention;
 * fp32 — the losses (cross_entropy_loss, nll_loss, mse_loss, l1_loss, kl_div, …), prod, quantile, pooling and
 * padding variants, FFTs, linalg decompositions; promote — cat, stack, index_copy. Everything else (softmax,
 * layer_norm, gelu, add, sum …) is unlisted and runs in its input's format.
 *
 * <p>Where memwall differs, and why:
 * <ul>
 * <li>The fused attention ops ({@code causal_attention_probs}, {@code causal_attention}) are LOWER, as
 * scaled_dot_product_attention is: their q·kᵀ and P·v products take low-precision operands.
 * <li>softmax, log_softmax, causal_softmax and layer_norm are FP32 rather than unlisted: memwall's non-GEMM kernels
 * compute in FP32 only, so their statistics (max, sum of exponentials, mean, variance) are FP32 whatever the input —
 * what PyTorch's CPU kernels arrange internally by accumulating in float.
 * <li>sum and mean (the reductions) are FP32, as on PyTorch's CUDA and MPS lists; unlisted on its CPU list.
 * <li>Outputs of LOWER ops are FP32 in the forward pass (the FP32 accumulators themselves), where PyTorch returns the
 * low format: memwall's elementwise kernels are FP32-only, and rounding a GEMM's output only to widen it again in the
 * next op would add a pass and an error. What persists is low anyway: the nodes that save a GEMM's output keep it in
 * BF16 ({@link #keepsSavedLow}), as PyTorch holds it.
 * <li>The layer norms' saved input (the residual stream) is BF16, where PyTorch's is FP32 (see {@link #SAVED_LOW}).
 * </ul>
 * Only the ops that call {@link dev.memwall.autograd.CastPolicy} (the GEMM family) consult the table at run time;
 * for the others it records the format they run in, which their kernels enforce.
 */
public final class AutocastOps {
    private static final Map<String, OpClass> TABLE;

    static {
        Map<String, OpClass> t = new LinkedHashMap<>();
        for (String op : new String[]{"linear", "matmul", "causal_attention_probs", "causal_attention"}) t.put(op, OpClass.LOWER);
        for (String op : new String[]{"softmax", "log_softmax", "causal_softmax", "layer_norm", "cross_entropy", "sum", "mean",
                "sum_all", "mean_all"}) {
            t.put(op, OpClass.FP32);
        }
        t.put("concat", OpClass.PROMOTE);
        TABLE = Collections.unmodifiableMap(t);
    }

    /**
     * Ops whose saved FP32 activations an autocast region keeps in BF16 ({@link Autocast#saved}): what PyTorch would
     * hold in the low format because a GEMM produced it (GELU's input is fc's output, cross-entropy's logits the
     * head's output, a softmax's output in the composed attention is computed from q·kᵀ), plus memwall's one
     * departure, the layer norms' input (the residual stream, FP32 in PyTorch: see docs/precision.md). The layer
     * norms' statistics stay FP32.
     */
    private static final java.util.Set<String> SAVED_LOW = java.util.Set.of("gelu", "cross_entropy", "softmax",
            "causal_softmax", "log_softmax", "layer_norm");
    private static final java.util.Set<String> STATISTICS = java.util.Set.of("layer_norm.mean", "layer_norm.rstd");

    private AutocastOps() {
    }

    /**
     * Whether a node of {@code op} keeps a saved tensor allocated by {@code producedBy} in BF16 under autocast (see
     * {@link #SAVED_LOW}).
     */
    public static boolean keepsSavedLow(String op, String producedBy) {
        return SAVED_LOW.contains(op) && !STATISTICS.contains(producedBy);
    }

    /** The ops whose saved activations are kept in BF16 under autocast, sorted. */
    public static java.util.SortedSet<String> savedLow() {
        return new java.util.TreeSet<>(SAVED_LOW);
    }

    /** The class of {@code op}; UNLISTED for an op not in the table. */
    public static OpClass classOf(String op) {
        return TABLE.getOrDefault(op, OpClass.UNLISTED);
    }

    /** The whole table in a fixed order, for documentation and tests. */
    public static Map<String, OpClass> table() {
        return TABLE;
    }
}
