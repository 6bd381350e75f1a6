package dev.memwall.checkpoint;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Chooses, for a chain of L blocks, which to keep, which to recompute selectively and which segments to checkpoint,
 * so that the predicted peak fits a memory budget with the least recomputation (a dynamic program over the chain;
 * docs/checkpointing.md explains it and in what sense it is optimal).
 *
 * <p>Cost model, from a {@link Profiler profiling} pass. Block i saves {@code saved[i]} bytes and its forward takes
 * {@code time[i]}; its input is {@code input[i]} bytes. Under selective recomputation it keeps
 * {@code selectiveSaved[i]}, needs {@code selectiveExtra[i]} more while its backward runs, and spends
 * {@code selectiveTime[i]} recomputing. {@code base} bytes are saved before the blocks (token ids) and {@code head}
 * after them (final norm, LM head, loss).
 * <ul>
 * <li>A kept segment holds its blocks' saved bytes from its forward until its backward.</li>
 * <li>A checkpointed segment holds only its input; in backward it briefly holds all its blocks' saved bytes again
 * (its input counted once) while everything before it is still held.</li>
 * <li>A selective block holds its kept bytes, and in backward briefly its extra on top of everything before it.</li>
 * </ul>
 * The activation peak is the larger of the end of the forward pass (all holdings + head) and each backward moment
 * above. Everything else a step holds (parameters, gradients, optimizer state, temporaries) is bounded by
 * {@code other}, the most it was measured to take at any moment, so a budget on the total is met when the activation
 * peak fits the budget minus {@code other}.
 *
 * <p>Compressed saved activations ({@code CompressedActivations}, {@code --save-activations}): profile the model with
 * the hooks pushed, so every figure above is measured as they keep it (compressed blocks, exact inputs of recomputed
 * segments), and pass their bytes per element against FP32's as {@code ratio}. The one thing the profile cannot show
 * is a recomputed segment's burst in backward, whose values are recomputed in FP32 and not compressed: it is taken as
 * the segment's measured bytes ÷ {@code ratio} — an upper bound, since the layer-norm statistics and integer tensors
 * inside it were never compressed.
 */
public final class Planner {
    /**
     * Measured costs of the chain; see the class comment. Byte figures are exact tracker counts, times in ms;
     * {@code stepTime} is a forward and backward pass without recomputation, the yardstick of predicted overheads.
     * {@code gathered[i]}: bytes block i's parameters take while gathered, for a model whose blocks are gathered
     * around their use (ZeRO stage 3), else 0. {@code other} is measured with one-block recomputed segments, which
     * hold one block gathered while they recompute; a segment of several blocks holds all of its blocks at once, and
     * the planner counts the difference in that segment's backward burst.
     */
    public record Profile(long[] saved, long[] input, double[] time, long[] selectiveSaved, long[] selectiveExtra,
                          double[] selectiveTime, long base, long head, long other, double stepTime, long[] gathered) {
        /** A profile of a model that holds its parameters (nothing gathered). */
        public Profile(long[] saved, long[] input, double[] time, long[] selectiveSaved, long[] selectiveExtra,
                       double[] selectiveTime, long base, long head, long other, double stepTime) {
            this(saved, input, time, selectiveSaved, selectiveExtra, selectiveTime, base, head, other, stepTime, new long[saved.length]);
        }

        public Profile {
            if (gathered.length != saved.length) {
                throw new IllegalArgumentException("gathered bytes for " + gathered.length + " blocks, profile of " + saved.length);
            }
        }

        public int layers() {
            return saved.length;
        }

        /** The same profile for blocks gathered around their use, {@code bytes[i]} for block i. */
        public Profile withGathered(long[] bytes) {
            return new Profile(saved, input, time, selectiveSaved, selectiveExtra, selectiveTime, base, head, other, stepTime,
                    bytes.clone());
        }

        /** What recomputing blocks [from, to) together holds gathered beyond the one block {@code other} covers. */
        long gatheredBeyondOne(int from, int to) {
            long sum = 0, max = 0;
            for (int i = from; i < to; i++) {
                sum += gathered[i];
                max = Math.max(max, gathered[i]);
            }
            return sum - max;
        }
    }

    /**
     * A chosen policy with its predictions: the activation peak (exact under the cost model) and the total (an upper
     * bound: the activation peak plus the most everything else took).
     */
    public record Plan(Policy policy, long predictedActivation, long predictedTotal, double recomputeTime, double stepTime,
                       long budget) {
        /** Recomputation over the profiled forward and backward time: the predicted step-time overhead. */
        public double predictedOverhead() {
            return stepTime > 0 ? recomputeTime / stepTime : Double.NaN;
        }

        public String describe() {
            return String.format("%s; predicted peak: activations %,d bytes, total at most %,d bytes (budget %,d); "
                    + "recomputation %.1f ms per step, predicted overhead %+.0f%%", policy.describe(), predictedActivation,
                    predictedTotal, budget, recomputeTime, 100 * predictedOverhead());
        }
    }

    private Planner() {
    }

    /** Predicted peak ACTIVATION bytes of {@code policy} under {@code p}'s cost model. */
    public static long predictPeak(Profile p, Policy policy) {
        return predictPeak(p, policy, 1);
    }

    /**
     * Predicted peak ACTIVATION bytes of {@code policy} for a profile measured under compressed saved activations of
     * {@code ratio} bytes per FP32 byte (see the class comment; 1 without compression).
     */
    public static long predictPeak(Profile p, Policy policy, double ratio) {
        checkRatio(ratio);
        long held = p.base(), peak = 0;
        for (int[] s : policy.segments()) {
            if (s[2] == Policy.SELECTIVE) {
                for (int i = s[0]; i < s[1]; i++) {
                    peak = Math.max(peak, held + p.selectiveSaved()[i] + p.selectiveExtra()[i]);
                    held += p.selectiveSaved()[i];
                }
                continue;
            }
            long full = 0;
            for (int i = s[0]; i < s[1]; i++) full += p.saved()[i];
            if (s[2] == Policy.RECOMPUTE) {
                peak = Math.max(peak, held + recomputed(full, ratio) + p.gatheredBeyondOne(s[0], s[1]));
                held += p.input()[s[0]];
            } else {
                held += full;
            }
        }
        return Math.max(peak, held + p.head());
    }

    /** Upper bound of the peak total bytes of a step under {@code policy}: activation peak + {@code other}. */
    public static long predictTotal(Profile p, Policy policy) {
        return predictPeak(p, policy) + p.other();
    }

    /** {@link #predictTotal} for a profile measured under compressed saved activations of {@code ratio}. */
    public static long predictTotal(Profile p, Policy policy, double ratio) {
        return predictPeak(p, policy, ratio) + p.other();
    }

    /** What a recomputed segment that keeps {@code kept} bytes when compressed holds while it is recomputed in FP32. */
    private static long recomputed(long kept, double ratio) {
        return ratio == 1 ? kept : (long) Math.ceil(kept / ratio);
    }

    private static void checkRatio(double ratio) {
        if (!(ratio > 0 && ratio <= 1)) {
            throw new IllegalArgumentException("saved-activation ratio must be in (0, 1] (bytes per element against FP32's), got " + ratio);
        }
    }

    /** Recomputation time of {@code policy} under {@code p}'s cost model, in ms per step. */
    public static double recomputeTime(Profile p, Policy policy) {
        double c = 0;
        for (int[] s : policy.segments()) {
            for (int i = s[0]; i < s[1]; i++) {
                if (s[2] == Policy.RECOMPUTE) c += p.time()[i];
                else if (s[2] == Policy.SELECTIVE) c += p.selectiveTime()[i];
            }
        }
        return c;
    }

    /**
     * The policy with the least recomputation whose predicted peak total is at most {@code budget} bytes.
     *
     * @throws IllegalArgumentException if no policy fits; the message names the smallest feasible budget
     */
    public static Plan plan(Profile p, long budget) {
        return plan(p, budget, 1);
    }

    /**
     * {@link #plan} for a profile measured under compressed saved activations of {@code ratio} bytes per FP32 byte:
     * kept activations take what was measured, recomputed segments their FP32 size in backward.
     */
    public static Plan plan(Profile p, long budget, double ratio) {
        checkRatio(ratio);
        State end = solve(p, budget - p.other(), ratio);
        if (end == null) throw infeasible(budget, minimumFeasible(p, ratio), p.other());
        List<int[]> segs = new ArrayList<>();
        for (State s = end; s.prev != null; s = s.prev) segs.add(0, new int[]{s.from, s.to, s.mode});
        Policy policy = new Policy(String.format("BUDGET(%d)", budget), merge(segs));
        return new Plan(policy, predictPeak(p, policy, ratio), predictTotal(p, policy, ratio), end.cost, p.stepTime(), budget);
    }

    /**
     * What {@link #plan} throws when nothing fits {@code budget}: the smallest feasible budget, {@code other} of it
     * not activations (ranks that share one plan throw it with the numbers of the rank that planned).
     */
    public static IllegalArgumentException infeasible(long budget, long minimumFeasible, long other) {
        return new IllegalArgumentException(String.format("no checkpointing plan fits a budget of %,d bytes; the smallest "
                + "feasible budget is %,d bytes (%,d of them parameters, gradients, optimizer state and temporaries)",
                budget, minimumFeasible, other));
    }

    /** The least predicted total over all policies: the smallest budget {@link #plan} accepts (bisection). */
    public static long minimumFeasible(Profile p) {
        return minimumFeasible(p, 1);
    }

    /** {@link #minimumFeasible} under compressed saved activations of {@code ratio}. */
    public static long minimumFeasible(Profile p, double ratio) {
        long lo = 0, hi = predictPeak(p, Policy.none(p.layers()), ratio);
        while (lo < hi) {
            long mid = lo + (hi - lo) / 2;
            if (solve(p, mid, ratio) != null) hi = mid;
            else lo = mid + 1;
        }
        return lo + p.other();
    }

    /** Consecutive kept (or selective) segments read better as one; the cost model treats them the same. */
    private static List<int[]> merge(List<int[]> segs) {
        List<int[]> out = new ArrayList<>();
        for (int[] s : segs) {
            int[] last = out.isEmpty() ? null : out.get(out.size() - 1);
            if (last != null && s[2] != Policy.RECOMPUTE && last[2] == s[2] && last[1] == s[0]) last[1] = s[1];
            else out.add(s.clone());
        }
        return out;
    }

    /**
     * The dynamic program. State: the block where the next segment starts and the activation bytes held at that
     * point; for each state only the cheapest way to reach it is kept, which is enough because everything after a
     * state depends on nothing else. Transitions choose the next segment [i, k) and whether it is kept or recomputed,
     * or make block i selective, and are dropped when they would exceed the activation budget. Returns the cheapest
     * final state that also fits the head, or null.
     */
    private static State solve(Profile p, long budget, double ratio) {
        int n = p.layers();
        if (budget < 0) return null;
        List<Map<Long, State>> best = new ArrayList<>();
        for (int i = 0; i <= n; i++) best.add(new HashMap<>());
        best.get(0).put(p.base(), new State(0, null, 0, 0, Policy.KEEP, p.base()));
        for (int i = 0; i < n; i++) {
            for (State st : best.get(i).values()) {
                long sel = p.selectiveSaved()[i];
                if (st.held + sel + p.selectiveExtra()[i] <= budget) {
                    offer(best.get(i + 1), new State(st.cost + p.selectiveTime()[i], st, i, i + 1, Policy.SELECTIVE, st.held + sel));
                }
                long full = 0, gatheredSum = 0, gatheredMax = 0;
                double t = 0;
                for (int k = i + 1; k <= n; k++) {
                    full += p.saved()[k - 1];
                    t += p.time()[k - 1];
                    gatheredSum += p.gathered()[k - 1];
                    gatheredMax = Math.max(gatheredMax, p.gathered()[k - 1]);
                    if (st.held + full > budget) break; // kept or recomputed, the segment's activations exist at once
                    offer(best.get(k), new State(st.cost, st, i, k, Policy.KEEP, st.held + full));
                    // recomputed in FP32 whatever is kept, with all of the segment's blocks gathered (see Profile)
                    if (st.held + recomputed(full, ratio) + gatheredSum - gatheredMax <= budget) {
                        offer(best.get(k), new State(st.cost + t, st, i, k, Policy.RECOMPUTE, st.held + p.input()[i]));
                    }
                }
            }
        }
        State end = null;
        for (State st : best.get(n).values()) {
            if (st.held + p.head() > budget) continue;
            if (end == null || st.cost < end.cost || (st.cost == end.cost && st.held < end.held)) end = st;
        }
        return end;
    }

    private static void offer(Map<Long, State> m, State s) {
        State old = m.get(s.held);
        if (old == null || s.cost < old.cost) m.put(s.held, s);
    }

    /** Bytes held after segment [from, to), reached at {@code cost} ms of recomputation. */
    private record State(double cost, State prev, int from, int to, int mode, long held) {
    }
}
