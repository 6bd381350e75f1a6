package dev.memwall.checkpoint;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.Block;
import dev.memwall.nn.Gpt;


/**
 * Measures what the {@link Planner} needs from real steps of a GPT: the activation bytes each block saves (from the
 * memory tracker, exact), its input size, its forward time, and what is saved before and after the blocks.
 */
public final class Profiler {
    private Profiler() {
    }

    /** Runs {@code steps} forward+backward passes without checkpointing (the last one is measured); restores the runner. */
    public static Planner.Profile profile(Gpt model, Tensor ids, Tensor targets, int steps) {
        int n = model.config().layers();
        long[] saved = new long[n], input = new long[n];
        double[] time = new double[n];
        long[] marks = new long[2];
        MemoryTracker tracker = MemoryTracker.current();
        Gpt.BlockRunner previous = model.blockRunner();
        model.blockRunner((blocks, x) -> {
            marks[0] = tracker.current(Category.ACTIVATION);
            Tensor cur = x;
            for (int i = 0; i < blocks.size(); i++) {
                Block b = blocks.get(i);
                long before = tracker.current(Category.ACTIVATION);
                long t0 = System.nanoTime();
                Tensor next = b.forward(cur);
                time[i] = (System.nanoTime() - t0) / 1e6;
                saved[i] = tracker.current(Category.ACTIVATION) - before;
                input[i] = cur.bytes();
                if (cur != x) cur.release();
                cur = next;
            }
            marks[1] = tracker.current(Category.ACTIVATION);
            return cur == x ? x.share() : cur;
        });
        long end = 0;
        try {
            for (int s = 0; s < steps; s++) {
                try (Scope scope = Scope.open()) {
                    Tensor loss = model.loss(ids, targets);
                    end = tracker.current(Category.ACTIVATION);
                    loss.backward();
                }
                model.zeroGrad();
            }
        } finally {
            model.blockRunner(previous);
        }
        // A block's input turns into an activation when its first layer norm saves it, so saved[i] includes it:
        // exactly the "full" bytes the planner needs, with the input counted once.
        return new Planner.Profile(saved, input, time, marks[0], end - marks[1]);
    }

    /** The forward time of all blocks in a profile, for overhead predictions. */
    public static double forwardTime(Planner.Profile p) {
        double t = 0;
        for (double x : p.time()) t += x;
        return t;
    }
}
