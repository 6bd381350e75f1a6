package dev.memwall.checkpoint;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Chooses which segments of a chain of L blocks to recompute so that the predicted activation peak fits a budget with
 * the least recomputation (a dynamic program over the chain; docs/checkpointing.md explains it).
 *
 * <p>Cost model, from a profiling step: block i saves {@code saved[i]} bytes and its forward takes {@code time[i]};
 * its input is {@code input[i]} bytes; {@code base} bytes are saved before the blocks (token ids) and {@code head}
 * bytes after them (final norm, LM head, loss). A kept segment holds all its blocks' saved bytes from its forward
 * until its backward; a recomputed segment holds only its input, and in backward briefly holds its blocks' saved
 * bytes again (its input counted once), while everything before it is still held. So the peak is the larger of the
 * end of the forward pass (all holdings + head) and, for each recomputed segment, what precedes it plus its full
 * activations.
 */
public final class Planner {
    /** Measured costs of the chain. */
    public record Profile(long[] saved, long[] input, double[] time, long base, long head) {
        public int layers() {
            return saved.length;
        }
    }

    /** A chosen policy with its predictions. */
    public record Plan(Policy policy, long predictedPeak, double recomputeTime, long budget) {
        public String describe() {
            return String.format("%s; predicted activation peak %,d bytes (budget %,d), recomputation %.1f ms per step",
                    policy.describe(), predictedPeak, budget, recomputeTime);
        }
    }

    private Planner() {
    }

    /** Predicted peak activation bytes of {@code policy} under {@code p}'s cost model. */
    public static long predictPeak(Profile p, Policy policy) {
        long held = p.base(), peak = 0;
        for (int[] s : policy.segments()) {
            long full = 0;
            for (int i = s[0]; i < s[1]; i++) full += p.saved()[i];
            if (s[2] != 0) {
                peak = Math.max(peak, held + full);
                held += p.input()[s[0]];
            } else {
                held += full;
            }
        }
        return Math.max(peak, held + p.head());
    }

    /**
     * The policy with the least recomputation whose predicted peak is at most {@code budget}.
     *
     * @throws IllegalArgumentException if no policy fits; the message names the smallest feasible budget
     */
    public static Plan plan(Profile p, long budget) {
        State end = solve(p, budget);
        if (end == null) {
            throw new IllegalArgumentException(String.format("no checkpointing plan fits an activation budget of %,d bytes; "
                    + "the smallest feasible budget is %,d bytes", budget, minimumFeasible(p)));
        }
        List<int[]> segs = new ArrayList<>();
        for (State s = end; s.prev != null; s = s.prev) segs.add(0, new int[]{s.from, s.to, s.recompute ? 1 : 0});
        Policy policy = new Policy(String.format("BUDGET(%d)", budget), segs);
        return new Plan(policy, predictPeak(p, policy), end.cost, budget);
    }

    /** The least predicted peak over all policies: the smallest budget {@link #plan} accepts (bisection). */
    public static long minimumFeasible(Profile p) {
        long lo = 0, hi = predictPeak(p, Policy.none(p.layers()));
        while (lo < hi) {
            long mid = lo + (hi - lo) / 2;
            if (solve(p, mid) != null) hi = mid;
            else lo = mid + 1;
        }
        return lo;
    }

    /**
     * The dynamic program. State: the block where the next segment starts and the bytes held at that point; for each
     * state only the cheapest way to reach it is kept, which is enough because everything after a state depends on
     * nothing else. Transitions choose the next segment [i, k) and whether it is recomputed, and are dropped when
     * they would exceed the budget. Returns the cheapest final state that also fits the head, or null.
     */
    private static State solve(Profile p, long budget) {
        int n = p.layers();
        List<Map<Long, State>> best = new ArrayList<>();
        for (int i = 0; i <= n; i++) best.add(new HashMap<>());
        best.get(0).put(p.base(), new State(0, null, 0, 0, false, p.base()));
        for (int i = 0; i < n; i++) {
            for (State st : best.get(i).values()) {
                long full = 0;
                double t = 0;
                for (int k = i + 1; k <= n; k++) {
                    full += p.saved()[k - 1];
                    t += p.time()[k - 1];
                    if (st.held + full > budget) break; // kept or recomputed, the segment's activations exist at once
                    offer(best.get(k), new State(st.cost, st, i, k, false, st.held + full));
                    offer(best.get(k), new State(st.cost + t, st, i, k, true, st.held + p.input()[i]));
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
    private record State(double cost, State prev, int from, int to, boolean recompute, long held) {
    }
}
