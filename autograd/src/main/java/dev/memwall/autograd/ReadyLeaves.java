package dev.memwall.autograd;

import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The leaves of one {@code backward()} that have a gradient-ready hook ({@link Tensor#onGradientReady}): how many
 * deliveries each still expects and the sum of those that arrived. The count is taken from the graph before anything
 * runs — one per seed that is the leaf and one per edge into it from a node of the run — and goes down on every
 * delivery and on every edge that delivers nothing (a node that gets no gradient, a rule that returns null for that
 * input). At zero the hook gets the sum, exactly once; nodes a checkpoint's recomputation records are not part of
 * the run, so they are never counted and cannot deliver (DeepSpeed's "Gradient computed twice for this partition").
 */
final class ReadyLeaves {
    private final Map<Tensor, int[]> remaining = new IdentityHashMap<>();
    private final Map<Tensor, Tensor> sums = new IdentityHashMap<>();

    private ReadyLeaves() {
    }

    /** The hooked leaves reached from {@code outputs} through {@code order}, or null when there are none. */
    static ReadyLeaves of(Tensor[] outputs, List<Node> order, boolean create) {
        ReadyLeaves r = new ReadyLeaves();
        for (Tensor out : outputs) if (out.gradFn == null) r.expect(out.gradKey);
        for (Node n : order) for (Object e : n.edges) r.expect(e);
        if (r.remaining.isEmpty()) return null;
        if (create) throw new IllegalStateException("gradient-ready hooks do not support createGraph (the sum handed to the hook has no graph)");
        return r;
    }

    private void expect(Object target) {
        if (target instanceof Tensor leaf && leaf.gradientReady != null) remaining.computeIfAbsent(leaf, k -> new int[1])[0]++;
    }

    /** Whether {@code target} is a hooked leaf of this run. */
    boolean handles(Object target) {
        return target instanceof Tensor t && remaining.containsKey(t);
    }

    /** One contribution to {@code leaf}, consumed; fires the hook if it was the last expected. */
    void deliver(Tensor leaf, Tensor g) {
        Tensor prev = sums.get(leaf);
        sums.put(leaf, prev == null ? g : Engine.accumulate(prev, g, false));
        countDown(leaf);
    }

    /** An edge into {@code target} that will deliver nothing in this run. */
    void skip(Object target) {
        if (handles(target)) countDown((Tensor) target);
    }

    /** Node {@code n} does not run (no gradient reached it): none of its edges will deliver. */
    void skipAll(Node n) {
        for (Object e : n.edges) skip(e);
    }

    private void countDown(Tensor leaf) {
        int[] left = remaining.get(leaf);
        if (--left[0] > 0) return;
        Tensor sum = sums.remove(leaf);
        if (sum == null) return; // every edge into it was skipped: no gradient this backward
        try {
            leaf.gradientReady.accept(sum);
        } finally {
            sum.releaseIfAlive();
        }
    }

    /** Releases sums still waiting (the run failed before their last contribution). */
    void releaseWaiting() {
        for (Tensor s : sums.values()) s.releaseIfAlive();
        sums.clear();
    }
}
