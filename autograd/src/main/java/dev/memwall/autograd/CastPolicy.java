package dev.memwall.autograd;

/**
 * The hook through which mixed precision (the {@code precision} module's autocast) reaches the ops, which live
 * below it: while a policy is installed on a thread, the GEMM ops (linear, matmul, the fused attention) ask it for
 * each floating operand before they run, as PyTorch's autocast dispatch key does ({@code cached_cast}). The policy
 * answers with the operand itself or a (differentiable) cast of it; the op releases a returned tensor that is not its
 * input once it has run (the node keeps its own handle of what it saved).
 *
 * <p>Only the policy decides formats; the ops know nothing about BF16, FP16 or FP8. They accept any floating
 * operand, decode it to FP32 and call sgemm: low-precision products accumulated in FP32.
 */
public interface CastPolicy {
    /**
     * Operand {@code index} of {@code op} as the op must see it. {@code op} is the op's name ({@code "linear"},
     * {@code "matmul"}, {@code "causal_attention_probs"}, {@code "causal_attention"}).
     */
    Tensor operand(String op, int index, Tensor input);

    /**
     * How node {@code op} keeps {@code t} (allocated by op {@code producedBy}) for backward: {@code t} itself (the
     * default), or a low-format copy (a new TEMPORARY the node takes over), which the node decodes to a fresh FP32
     * tensor with {@code t}'s autograd identity whenever its rule reads it. Asked by every node that saves, before any
     * saved-tensor hooks see the tensor, so checkpointed regions' recomputations keep the same values as the forward.
     */
    default Tensor saved(String op, String producedBy, Tensor t) {
        return t;
    }

    /** The innermost policy installed on this thread, or null (no autocast). */
    static CastPolicy current() {
        return Holder.STACK.get().peek();
    }

    /** Makes {@code policy} apply on this thread until the guard closes; policies nest, innermost wins. */
    static Guard install(CastPolicy policy) {
        java.util.ArrayDeque<CastPolicy> stack = Holder.STACK.get();
        stack.push(policy);
        return () -> {
            if (stack.peek() != policy) throw new IllegalStateException("cast policies must be removed innermost first");
            stack.pop();
        };
    }

    /**
     * Runs with no policy until the guard closes: code inside an autocast region that must compute in FP32
     * (PyTorch's {@code autocast(enabled=False)} inside a region).
     */
    static Guard suspend() {
        java.util.ArrayDeque<CastPolicy> stack = Holder.STACK.get();
        java.util.ArrayDeque<CastPolicy> saved = new java.util.ArrayDeque<>(stack);
        stack.clear();
        return () -> {
            stack.clear();
            stack.addAll(saved);
        };
    }

    /** The operand of {@code op} after the current policy, or {@code input} itself when none is installed. */
    static Tensor apply(String op, int index, Tensor input) {
        CastPolicy p = current();
        return p == null || input == null ? input : p.operand(op, index, input);
    }

    final class Holder {
        private static final ThreadLocal<java.util.ArrayDeque<CastPolicy>> STACK = ThreadLocal.withInitial(java.util.ArrayDeque::new);

        private Holder() {
        }
    }
}
