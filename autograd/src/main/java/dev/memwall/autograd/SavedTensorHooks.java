package dev.memwall.autograd;

import java.util.ArrayDeque;

/**
 * Decides how a tensor saved for backward is kept, like PyTorch's {@code torch.autograd.graph.saved_tensors_hooks}.
 * While hooks are pushed, every tensor a node saves goes through {@link #pack}; the node keeps what it returns and
 * calls {@link #unpack} when its backward rule needs the tensor. Activation checkpointing packs a recipe and
 * recomputes on unpack; mixed precision packs a compressed copy.
 *
 * <p>Ownership: a {@link Tensor} returned by {@code pack} is owned by the node (counted as ACTIVATION while held, released
 * when the node frees its saved tensors); any other object is released through {@link #release}. A tensor returned by
 * {@code unpack} that is not the packed tensor itself is released by the node after its backward rule ran.
 */
public interface SavedTensorHooks {
    Object pack(Tensor t);

    Tensor unpack(Object packed);

    /**
     * Packs {@code low}, the low-format copy a {@link CastPolicy} had the node keep of {@code original}. Hooks that
     * decide by the tensor itself what to drop (selective recomputation recognises its marked values by storage) must
     * look at {@code original}: the copy is a new tensor. A packed object that refers to {@code original} rather than
     * to {@code low} is unpacked as FP32 and rounded to {@code low}'s format by the node, so it reads the values it
     * would have kept. The caller releases its handle to {@code low} after this returns. Default: {@link #pack}{@code (low)}.
     */
    default Object packLowered(Tensor original, Tensor low) {
        return pack(low);
    }

    /** Called when the node frees what it saved, for packed objects that are not tensors. */
    default void release(Object packed) {
    }

    /**
     * Makes {@code hooks} apply to nodes recorded on this thread until the guard closes. Innermost hooks win. Hooks
     * are per thread, like {@link Scope} and {@link GradMode}.
     */
    static Guard push(SavedTensorHooks hooks) {
        ArrayDeque<SavedTensorHooks> stack = Holder.STACK.get();
        stack.push(hooks);
        return () -> {
            if (stack.peek() != hooks) throw new IllegalStateException("saved-tensor hooks must be popped innermost first");
            stack.pop();
        };
    }

    /** The innermost pushed hooks, or null. */
    static SavedTensorHooks current() {
        return Holder.STACK.get().peek();
    }

    /** Runs {@code body} with no hooks active (e.g. while a hook itself recomputes). */
    static Guard suspend() {
        ArrayDeque<SavedTensorHooks> stack = Holder.STACK.get();
        ArrayDeque<SavedTensorHooks> saved = new ArrayDeque<>(stack);
        stack.clear();
        return () -> {
            stack.clear();
            stack.addAll(saved);
        };
    }

    final class Holder {
        private static final ThreadLocal<ArrayDeque<SavedTensorHooks>> STACK = ThreadLocal.withInitial(ArrayDeque::new);

        private Holder() {
        }
    }
}
