package dev.memwall.checkpoint;

import dev.memwall.autograd.GradMode;
import dev.memwall.autograd.Recompute;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.Block;
import dev.memwall.nn.Gpt;

import java.util.List;

/**
 * Measures what the {@link Planner} needs from a GPT on a real batch: per block the activation bytes it saves plainly
 * and under selective recomputation (from the memory tracker, exact), its input size, its forward and recompute
 * times; what is saved before and after the blocks; and the most everything but activations takes during a step.
 *
 * <p>Under saved-tensor hooks that compress activations ({@code CompressedActivations}), every figure is measured as
 * they keep it, and {@code other} includes the FP32 copies a kept block's nodes decode in backward.
 *
 * <p>Blocks are measured one at a time on their real inputs, so profiling never holds more than one block's
 * activations: it runs where the model without checkpointing would not fit, which is when a plan is needed.
 */
public final class Profiler {
    private static final int PASSES = 3;

    private Profiler() {
    }

    /**
     * Profiles {@code model} on one batch. {@code extraBytes} are bytes a training step will hold that profiling does
     * not allocate (an optimizer's state before its first step); they are added to {@code other}. Grads are zeroed
     * and the model's block runner restored afterwards.
     */
    public static Planner.Profile profile(Gpt model, Tensor ids, Tensor targets, long extraBytes) {
        return profile(model, ids, targets, extraBytes, Step.PLAIN);
    }

    /**
     * One forward and backward of {@code model} on a batch, run as a training step runs it, leaving no gradient
     * behind: what {@link #profile} measures everything but activations on. A sharded step (ZeRO stage 3) gathers and
     * reduces around it, and those buffers are part of what the step holds.
     */
    @FunctionalInterface
    public interface Step {
        void run(Gpt model, Tensor ids, Tensor targets);

        /** A plain forward and backward into the parameters' gradients, then zeroed. */
        Step PLAIN = (model, ids, targets) -> {
            try (Scope s = Scope.open()) {
                model.loss(ids, targets).backward();
            }
            model.zeroGrad();
        };
    }

    /**
     * {@link #profile(Gpt, Tensor, Tensor, long)} with the steps that measure {@code other} run by {@code runStep}
     * (collective when the step is: every rank must profile, on batches of the same shape).
     */
    public static Planner.Profile profile(Gpt model, Tensor ids, Tensor targets, long extraBytes, Step runStep) {
        int n = model.config().layers();
        MemoryTracker tracker = MemoryTracker.current();
        Gpt.BlockRunner previous = model.blockRunner();
        List<dev.memwall.rng.Rng> rngs = List.of(model.dropoutRng());
        long[] saved = new long[n], input = new long[n], selSaved = new long[n], selExtra = new long[n];
        double[] time = new double[n], selTime = new double[n];
        java.util.Arrays.fill(time, Double.MAX_VALUE);
        java.util.Arrays.fill(selTime, Double.MAX_VALUE);
        long[] marks = new long[3];
        double stepTime = 0;
        // Profiling draws dropout masks; the generators are put back so that training is the same with or without it.
        List<dev.memwall.rng.Rng> generators = List.of(dev.memwall.rng.Rng.defaultRng(), model.dropoutRng());
        List<dev.memwall.rng.Rng.State> states = generators.stream().map(dev.memwall.rng.Rng::state).toList();
        try {
            for (int pass = 0; pass < PASSES; pass++) { // times are the fastest of the passes after the first (JIT warm-up)
                try (Scope outer = Scope.open()) {
                    Tensor x;
                    try (var off = GradMode.noGrad()) {
                        x = model.embed(ids);
                    }
                    List<Block> blocks = model.blocks();
                    for (int i = 0; i < n; i++) {
                        Block b = blocks.get(i);
                        input[i] = x.bytes();
                        try (Scope s = Scope.open()) { // plain: everything the block saves, and its forward time
                            Tensor leaf = x.detach().requiresGrad(true);
                            long before = tracker.current(Category.ACTIVATION);
                            long t0 = System.nanoTime();
                            b.forward(leaf);
                            if (pass > 0) time[i] = Math.min(time[i], (System.nanoTime() - t0) / 1e6);
                            saved[i] = tracker.current(Category.ACTIVATION) - before;
                        }
                        try (Scope s = Scope.open()) { // selective: what it keeps, and what its backward adds
                            Tensor leaf = x.detach().requiresGrad(true);
                            long before = tracker.current(Category.ACTIVATION);
                            Tensor y;
                            try (var session = Recompute.begin(rngs)) {
                                y = b.forward(leaf);
                            }
                            selSaved[i] = tracker.current(Category.ACTIVATION) - before;
                            tracker.resetPeaks();
                            long r0 = Recompute.nanos();
                            y.backward(Tensor.full(1f, y.shape()), false, false);
                            if (pass > 0) selTime[i] = Math.min(selTime[i], (Recompute.nanos() - r0) / 1e6);
                            selExtra[i] = tracker.peak(Category.ACTIVATION) - before - selSaved[i];
                            leaf.grad(null); // releases the input gradient, which would otherwise count as GRADIENT
                        }
                        Tensor next;
                        try (var off = GradMode.noGrad()) {
                            next = b.forward(x);
                        }
                        x.release();
                        x = next;
                    }
                    Tensor last = x;
                    // Head: the real loss on the last block's output, with the blocks replaced by that value.
                    Tensor[] leaf = new Tensor[1];
                    model.blockRunner((blocks2, in) -> {
                        marks[0] = tracker.current(Category.ACTIVATION);
                        return leaf[0] = last.detach().requiresGrad(true);
                    });
                    Tensor loss = model.loss(ids, targets);
                    marks[1] = tracker.current(Category.ACTIVATION);
                    loss.backward();
                    leaf[0].grad(null);
                }
                model.zeroGrad();
            }
            // Everything but activations, on a real step that also recomputes: the most it took at any moment, in the
            // steady state where every gradient already exists (the second step).
            Checkpointing.install(model, Policy.everyLayer(n));
            for (int step = 0; step < 2; step++) {
                tracker.resetPeaks();
                long t0 = System.nanoTime();
                runStep.run(model, ids, targets);
                stepTime = (System.nanoTime() - t0) / 1e6;
                marks[2] = tracker.peakExcluding(Category.ACTIVATION);
            }
            // The same step without recomputation: take away the blocks' forward time that EVERY_LAYER repeats.
            stepTime = Math.max(0, stepTime - forwardTime(time));
            if (dev.memwall.autograd.SavedTensorHooks.current() != null) {
                // Compressed saved activations: a kept block's nodes decode FP32 copies of what they saved while they run
                // (recomputed ones read FP32 values and decode nothing). One step keeping the last block sees that.
                boolean[] recompute = new boolean[n];
                java.util.Arrays.fill(recompute, 0, n - 1, true);
                Checkpointing.install(model, Policy.checkpointBlocks("PROFILE", recompute));
                tracker.resetPeaks();
                runStep.run(model, ids, targets);
                marks[2] = Math.max(marks[2], tracker.peakExcluding(Category.ACTIVATION));
            }
        } finally {
            model.blockRunner(previous);
            for (int k = 0; k < generators.size(); k++) generators.get(k).restore(states.get(k));
        }
        // A block's input turns into an activation when its first layer norm saves it, so saved[i] includes it:
        // exactly the "full" bytes the planner needs, with the input counted once.
        return new Planner.Profile(saved, input, time, selSaved, selExtra, selTime, marks[0], marks[1] - marks[0],
                marks[2] + extraBytes, stepTime);
    }

    /** The forward time of all blocks in a profile, for overhead predictions. */
    public static double forwardTime(Planner.Profile p) {
        return forwardTime(p.time());
    }

    private static double forwardTime(double[] time) {
        double t = 0;
        for (double x : time) t += x;
        return t;
    }
}
