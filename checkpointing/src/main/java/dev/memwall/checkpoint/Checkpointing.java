package dev.memwall.checkpoint;

import dev.memwall.autograd.Recompute;
import dev.memwall.autograd.Tensor;
import dev.memwall.nn.Block;
import dev.memwall.nn.Gpt;

import java.util.List;

/** Installs a {@link Policy} on a {@link Gpt}: its blocks then run segment by segment, checkpointed ones recomputed. */
public final class Checkpointing {
    private Checkpointing() {
    }

    /** @throws IllegalArgumentException when the policy does not cover the model's blocks [0, L) exactly */
    public static void install(Gpt model, Policy policy) {
        policy.requireCovers(model.blocks().size());
        if (!policy.checkpointsAnything()) {
            model.blockRunner(Gpt.BlockRunner.SEQUENTIAL);
            return;
        }
        model.blockRunner(new Installed(policy, List.of(model.dropoutRng())));
    }

    /**
     * The policy {@link #install} put on {@code model}, or null when its blocks run plainly (no policy, or one that
     * checkpoints nothing): a second-order step uses it to take its Hessian-vector product region by region.
     */
    public static Policy installed(Gpt model) {
        return model.blockRunner() instanceof Installed i ? i.policy() : null;
    }

    /** The runner a policy installs; it remembers the policy. */
    private record Installed(Policy policy, List<dev.memwall.rng.Rng> rngs) implements Gpt.BlockRunner {
        @Override
        public Tensor run(List<Block> blocks, Tensor x) {
            return Checkpointing.run(blocks, x, policy, rngs);
        }
    }

    private static Tensor run(List<Block> blocks, Tensor x, Policy policy, List<dev.memwall.rng.Rng> rngs) {
        Tensor cur = x;
        for (int[] s : policy.segments()) {
            int from = s[0], to = s[1]; // checked by install: the segments cover [0, blocks.size())
            Tensor next;
            if (s[2] == Policy.RECOMPUTE) {
                next = Checkpoint.apply(in -> Gpt.runSequential(blocks, from, to, in[0]), rngs, cur);
            } else if (s[2] == Policy.SELECTIVE) {
                try (var session = Recompute.begin(rngs)) {
                    next = Gpt.runSequential(blocks, from, to, cur);
                }
            } else {
                next = Gpt.runSequential(blocks, from, to, cur);
            }
            if (cur != x) cur.release();
            cur = next;
        }
        return cur == x ? x.share() : cur;
    }
}
