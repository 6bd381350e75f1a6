package dev.memwall.train;

import dev.memwall.autograd.GradMode;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.data.Batch;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.memory.Phase;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.optim.GradClip;
import dev.memwall.optim.LrSchedule;
import dev.memwall.optim.Optimizer;

/**
 * One explicit training step, llm.c style: for each micro-batch a forward and a backward inside a scope (gradients
 * accumulate in the flat gradient buffer, scaled by 1/micro-batches), then clipping, the learning rate of this step,
 * the optimizer update and zeroing the gradients. Nothing else happens behind the caller's back.
 */
public final class Trainer {
    private final Gpt model;
    private final FlatParameters params;
    private final Optimizer optimizer;
    private final LrSchedule schedule;
    private final double maxGradNorm;
    private final MemoryTracker tracker;
    private long completedSteps;

    /**
     * @param maxGradNorm global-norm clipping threshold; 0 disables clipping
     */
    public Trainer(Gpt model, FlatParameters params, Optimizer optimizer, LrSchedule schedule, double maxGradNorm) {
        this.model = model;
        this.params = params;
        this.optimizer = optimizer;
        this.schedule = schedule;
        this.maxGradNorm = maxGradNorm;
        this.tracker = MemoryTracker.current();
    }

    /** Optimizer steps taken so far (the next step's index); {@link #step(Batch...)} runs one. */
    public long completedSteps() {
        return completedSteps;
    }

    /** Sets the number of completed steps (when resuming). */
    public void setCompletedSteps(long steps) {
        completedSteps = steps;
    }

    public Gpt model() {
        return model;
    }

    public Optimizer optimizer() {
        return optimizer;
    }

    public FlatParameters params() {
        return params;
    }

    /** One optimizer step over the given micro-batches (gradient accumulation when there are several). */
    public StepStats step(Batch... microBatches) {
        if (microBatches.length == 0) throw new IllegalArgumentException("a step needs at least one micro-batch");
        long t0 = System.nanoTime();
        tracker.resetPeaks();
        model.train(true);
        double lossSum = 0;
        long tokens = 0;
        for (Batch b : microBatches) {
            try (Scope micro = Scope.open()) {
                tracker.phase(Phase.FORWARD);
                Tensor loss = model.loss(b.idsTensor(), b.targetsTensor());
                lossSum += loss.item();
                tracker.phase(Phase.BACKWARD);
                if (microBatches.length == 1) {
                    loss.backward();
                } else {
                    loss.backward(Tensor.scalar(1f / microBatches.length), false, false);
                }
            }
            tokens += (long) b.batch() * b.context();
        }
        tracker.phase(Phase.OPTIMIZER);
        double norm = maxGradNorm > 0 ? GradClip.clipGradNorm(params, maxGradNorm) : GradClip.norm(params, 0, params.length());
        double lr = schedule.lr(completedSteps);
        optimizer.lr(lr);
        optimizer.step();
        optimizer.zeroGrad();
        completedSteps++;
        tracker.phase(Phase.SETUP);
        double ms = (System.nanoTime() - t0) / 1e6;
        return new StepStats(completedSteps, lossSum / microBatches.length, lr, norm, tokens, ms,
                tracker.peakByCategory(), tracker.peakTotal(), tracker.currentByCategory());
    }

    /** Mean loss over the given batches, in eval mode and without recording a graph. */
    public double evalLoss(Iterable<Batch> batches) {
        Phase previous = tracker.phase(Phase.EVAL);
        model.train(false);
        double sum = 0;
        int n = 0;
        try (var off = GradMode.noGrad()) {
            for (Batch b : batches) {
                try (Scope s = Scope.open()) {
                    sum += model.loss(b.idsTensor(), b.targetsTensor()).item();
                    n++;
                }
            }
        } finally {
            model.train(true);
            tracker.phase(previous);
        }
        return n == 0 ? Double.NaN : sum / n;
    }
}
