package dev.memwall.train;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.checkpoint.Planner;
import dev.memwall.checkpoint.Policy;
import dev.memwall.checkpoint.Profiler;
import dev.memwall.data.Batch;
import dev.memwall.nn.Gpt;
import dev.memwall.sharding.ProcessGroup;

import java.util.ArrayList;
import java.util.List;

/**
 * A BUDGET checkpointing plan for one rank of a data-parallel job, the same plan on every rank.
 *
 * <p><b>Profile.</b> Every rank profiles its own model on its rows of the sample batch. At ZeRO stage 3 that is a
 * collective: the profile's forwards and backwards gather each block as training does, and the steps that measure
 * everything but activations run as {@link Trainer#step} runs them (gathers issued ahead, gradients reduce-scattered
 * unit by unit during backward, buffers released), so {@code other} is what a stage-3 rank really holds: its shards,
 * at most two gathered units and two gradient buffers, the transport's scratch. Saved parameters are references into
 * the gathered units, so the activation figures are a rank's own. A recomputed segment of several blocks holds all
 * of them gathered while it recomputes; the profile carries each block's gathered bytes for the planner.
 *
 * <p><b>Plan.</b> Rank 0 plans and broadcasts its plan (or that none fits, with its figures); every rank installs
 * that one. Ranks measure different times, and at stage 3 two plans would gather in different orders: the ranks'
 * collectives must match. Rank 0 holds at least as much as any other rank (its optimizer segments are the longest),
 * so its plan fits every rank's budget.
 */
public final class SharedBudgetPlan {
    private SharedBudgetPlan() {
    }

    /**
     * Profiles {@code model} (as {@code dp} holds it) on {@code local}, this rank's rows of the sample batch; {@code
     * extraBytes} as {@link Profiler#profile(Gpt, Tensor, Tensor, long)}. Collective at stage 3.
     */
    public static Planner.Profile profile(Gpt model, DataParallel dp, Batch local, long extraBytes) {
        Planner.Profile p = Profiler.profile(model, local.idsTensor(), local.targetsTensor(), extraBytes, step(dp));
        ParameterShards units = dp.units();
        if (units == null) return p;
        long[] gathered = new long[p.layers()];
        for (int i = 0; i < gathered.length; i++) gathered[i] = (long) Float.BYTES * units.gatheredLength(i + 1); // block i: unit i + 1
        return p.withGathered(gathered);
    }

    /** One forward and backward as {@link Trainer#step} runs it at {@code dp}'s stage, leaving no gradient behind. */
    static Profiler.Step step(DataParallel dp) {
        if (dp.units() == null) return Profiler.Step.PLAIN; // stages 0-2: a backward outside a step is plain (stage 2 discards it)
        return (model, ids, targets) -> {
            dp.startStep(); // releases what the profile's own backwards left gathered
            try (Scope s = Scope.open()) {
                Tensor loss = model.loss(ids, targets);
                dp.beginBackward(true);
                loss.backward();
                dp.finishBackward();
            }
            dp.zeroGradOutsideRange(); // the shard's gradients: the first training step starts from zero
        };
    }

    /**
     * Rank 0's plan for {@code budget}, the same {@link Planner.Plan} on every rank (a collective when the group has
     * more than one rank). When nothing fits, every rank throws {@link Planner#infeasible} with rank 0's figures.
     */
    public static Planner.Plan plan(ProcessGroup group, Planner.Profile p, long budget, double ratio) {
        int layers = p.layers(), longs = 1 + 3 * layers;
        float[] msg = new float[longs + 2 * PIECES + 2];
        if (group.rank() == 0) {
            try {
                Planner.Plan plan = Planner.plan(p, budget, ratio);
                List<int[]> segments = plan.policy().segments();
                msg[0] = segments.size();
                for (int k = 0; k < segments.size(); k++) {
                    for (int j = 0; j < 3; j++) msg[1 + 3 * k + j] = segments.get(k)[j];
                }
                put(msg, longs, plan.predictedActivation());
                put(msg, longs + PIECES, plan.predictedTotal());
                msg[longs + 2 * PIECES] = (float) plan.recomputeTime();
                msg[longs + 2 * PIECES + 1] = (float) plan.stepTime();
            } catch (IllegalArgumentException e) {
                msg[0] = -1;
                put(msg, longs, Planner.minimumFeasible(p, ratio));
                put(msg, longs + PIECES, p.other());
            }
        }
        if (group.worldSize() > 1) group.broadcast(msg, 0, msg.length, 0);
        if (msg[0] < 0) throw Planner.infeasible(budget, get(msg, longs), get(msg, longs + PIECES));
        List<int[]> segments = new ArrayList<>();
        for (int k = 0; k < (int) msg[0]; k++) {
            segments.add(new int[] {(int) msg[1 + 3 * k], (int) msg[2 + 3 * k], (int) msg[3 + 3 * k]});
        }
        Policy policy = new Policy(String.format("BUDGET(%d)", budget), segments);
        policy.requireCovers(layers);
        return new Planner.Plan(policy, get(msg, longs), get(msg, longs + PIECES), msg[longs + 2 * PIECES],
                msg[longs + 2 * PIECES + 1], budget);
    }

    /** A non-negative long as four 16-bit pieces, each exact in a float. */
    private static final int PIECES = 4;

    private static void put(float[] msg, int at, long value) {
        if (value < 0) throw new IllegalArgumentException("negative byte count " + value);
        for (int i = 0; i < PIECES; i++) msg[at + i] = (value >>> (16 * i)) & 0xffff;
    }

    private static long get(float[] msg, int at) {
        long v = 0;
        for (int i = 0; i < PIECES; i++) v |= ((long) msg[at + i]) << (16 * i);
        return v;
    }
}
