package dev.memwall.checkpoint;

import dev.memwall.autograd.Tensor;
import dev.memwall.nn.Module;
import dev.memwall.rng.Rng;

import java.util.List;
import java.util.function.BiFunction;

/**
 * A module whose forward is checkpointed: it keeps only its input through the forward pass and runs {@code inner}
 * again in backward ({@link Checkpoint#apply}). The inner module's parameters keep their names (it is inlined), so
 * state dicts are those of the unwrapped module:
 * <pre>{@code
 * Checkpointed<Block> b = new Checkpointed<>(block, Block::forward, List.of(dropoutRng));
 * Tensor y = b.forward(x);
 * }</pre>
 */
public final class Checkpointed<M extends Module> extends Module {
    private final M inner;
    private final BiFunction<M, Tensor, Tensor> forward;
    private final List<Rng> rngs;

    /** {@code rngs}: generators {@code forward} draws from besides {@link Rng#defaultRng()} (dropout masks). */
    public Checkpointed(M inner, BiFunction<M, Tensor, Tensor> forward, List<Rng> rngs) {
        this.inner = inline(inner);
        this.forward = forward;
        this.rngs = List.copyOf(rngs);
    }

    public M inner() {
        return inner;
    }

    /** Does not release {@code x}, like the modules it wraps. */
    public Tensor forward(Tensor x) {
        return Checkpoint.apply(in -> forward.apply(inner, in[0]), rngs, x);
    }
}
