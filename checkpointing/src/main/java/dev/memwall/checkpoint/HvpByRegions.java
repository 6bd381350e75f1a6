package dev.memwall.checkpoint;

import dev.memwall.autograd.Engine;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.memory.Phase;
import dev.memwall.nn.Block;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.ops.F;
import dev.memwall.rng.Rng;

import java.util.ArrayList;
import java.util.List;

/**
 * The gradient g and a Hessian-vector product H·z of a GPT's loss, one stage's second-order graph at a time:
 * Pearlmutter's forward-over-reverse (R-op) carried through the sequential regions of a checkpointed model
 * (embeddings, the policy's segments of blocks, the final norm + head + loss), built from reverse-mode tools only.
 *
 * <p>A createGraph backward through a checkpointed model has to keep every region's recomputed graph (and the graph
 * of its backward) until the second backward has run, so on that path checkpointing does not lower the peak of an H·z. Here:
 * <ul>
 *   <li><b>Forward</b>, region by region: keep only each region's input x_r and its tangent ẋ_r along z (as
 *       ACTIVATION, like a checkpoint's inputs). ẋ_{r+1} = J_r·(ẋ_r, z) is a Jacobian-vector product taken locally
 *       by the double-VJP trick: with a dummy u, w = J_rᵀu under createGraph (linear in u), then ∂⟨w, (ẋ_r, z)⟩/∂u.
 *       The region's graph goes with its scope.</li>
 *   <li><b>Backward</b>, region r from last to first, given its output's adjoint ȳ_r and the adjoint's tangent ẏ̄_r
 *       (the loss region starts from ȳ = scale, ẏ̄ = 0): recompute the region with graph, (x̄, θ̄) = J_rᵀȳ_r with
 *       createGraph, then their tangent H_φ·(ẋ_r, z) + J_rᵀẏ̄_r (φ = ⟨ȳ_r, y_r⟩) in one more reverse pass, as the
 *       gradient of ⟨(x̄, θ̄), (ẋ_r, z)⟩ + ⟨ẏ̄_r, y_r⟩. θ̄ goes into each parameter's {@code .grad()} (only when asked:
 *       a second draw must not add the gradient twice) and θ's tangent to the caller's {@link ProductSink}; x̄ and its
 *       tangent are region r−1's ȳ and ẏ̄.</li>
 * </ul>
 * Every stage is differentiated with respect to every parameter (unused ones are skipped), so a parameter used by
 * several stages accumulates over them. Random generators (dropout) are put back before each run of a stage.
 *
 * <p>Regions and stages: the embeddings; each RECOMPUTE segment of the policy (EVERY_LAYER: one block; EVERY_K: k);
 * every other block (KEEP or SELECTIVE segments: everything is recomputed here) on its own; the final norm, head and
 * loss. A block is two stages, its attention half and its MLP half, since a block's second-order graph is several
 * times its activations. Between regions the forward keeps only the region's input and tangent; a region's backward
 * first recomputes its stages' inputs and tangents (forward again), then differentiates stage by stage, last first.
 * Peak ≈ the kept boundaries and their tangents (2·(segments + 1)·B·T·D floats), one region's stage boundaries, and
 * one stage's double graph. The cost: each stage runs forward with tangents in the forward pass, and again (all but
 * the last of its region) before its backward, besides the backward's recomputation and two reverse passes.
 */
public final class HvpByRegions {
    private HvpByRegions() {
    }

    /** Receives the H·z contribution of one region to parameter {@code index} (flat-layout order). */
    @FunctionalInterface
    public interface ProductSink {
        void add(int index, Tensor hz);
    }

    /** One stage of a region: a function of the previous stage's output (null for the first). */
    private interface Stage {
        Tensor apply(Tensor x);
    }

    /**
     * Runs the forward and backward passes above for one batch. Adds {@code scale}·g into the parameters'
     * {@code .grad()} when {@code addGradient}, hands {@code scale}·H·z per region and parameter to {@code sink}, and
     * returns the (unscaled) loss.
     *
     * @param parameters the model's parameters in flat-layout order ({@code model.parameters()} after flattening)
     * @param z          the direction, over the flat layout (its length)
     */
    public static float run(Gpt model, Policy policy, Tensor ids, Tensor targets, float scale, FlatParameters layout,
                            List<Tensor> parameters, float[] z, boolean addGradient, ProductSink sink) {
        policy.requireCovers(model.blocks().size());
        if (parameters.size() != layout.entries().size()) {
            throw new IllegalArgumentException(parameters.size() + " parameters given, the flat layout has " + layout.entries().size());
        }
        if (z.length != layout.length()) throw new IllegalArgumentException("z has " + z.length + " elements, the flat buffer " + layout.length());
        List<List<Stage>> regions = regions(model, policy, ids, targets);
        List<Rng> rngs = List.of(Rng.defaultRng(), model.dropoutRng());
        int n = regions.size();
        Tensor[] xs = new Tensor[n], xdots = new Tensor[n]; // region r's input and its tangent (null for r = 0)
        List<List<List<Rng.State>>> states = new ArrayList<>(); // per region, the generators before each stage
        Tensor[] params = parameters.toArray(new Tensor[0]);
        MemoryTracker tracker = MemoryTracker.current();
        float loss;
        try {
            Phase previous = tracker.phase(Phase.FORWARD);
            for (int r = 0; r < n - 1; r++) {
                states.add(new ArrayList<>());
                Tensor[] out = stagesForward(regions.get(r), regions.get(r).size(), xs[r], xdots[r], states.get(r), rngs, params, layout, z);
                xs[r + 1] = out[0];
                xdots[r + 1] = out[1];
            }
            states.add(List.of(capture(rngs)));
            tracker.phase(Phase.BACKWARD);
            Tensor[] adj = new Tensor[2];
            List<Rng.State> end = null;
            float[] lossOut = {Float.NaN};
            for (int r = n - 1; r >= 0; r--) {
                adj = regionBackward(regions.get(r), xs[r], xdots[r], adj, states.get(r), rngs, scale, params, layout, z,
                        addGradient, sink, lossOut, tracker);
                if (end == null) end = capture(rngs);
                release(xs[r], xdots[r]);
                xs[r] = xdots[r] = null;
            }
            loss = lossOut[0];
            release(adj);
            restore(rngs, end);
            tracker.phase(previous);
        } finally {
            release(xs);
            release(xdots);
        }
        return loss;
    }

    /**
     * Runs the first {@code count} stages of a region forward with their tangents from (x, ẋ), keeping only the
     * last output and its tangent (intermediate ones are released as soon as the next stage has used them). With
     * {@code states} empty it records the generators before each stage; otherwise it puts them back from it.
     */
    private static Tensor[] stagesForward(List<Stage> stages, int count, Tensor x, Tensor xdot, List<List<Rng.State>> states,
                                          List<Rng> rngs, Tensor[] params, FlatParameters layout, float[] z) {
        boolean record = states.size() < stages.size();
        Tensor cur = x, curDot = xdot;
        for (int j = 0; j < count; j++) {
            if (record) states.add(capture(rngs));
            else restore(rngs, states.get(j));
            Tensor[] out = forwardTangent(stages.get(j), cur, curDot, params, layout, z);
            if (j > 0) release(cur, curDot);
            cur = out[0];
            curDot = out[1];
        }
        return new Tensor[]{cur, curDot};
    }

    /**
     * A region's backward: its stages' inputs (and tangents) recomputed from (x, ẋ), then each stage, last to first,
     * differentiated twice from the adjoint (ȳ, ẏ̄) of its output. Returns the adjoint of x; releases {@code adj}.
     */
    private static Tensor[] regionBackward(List<Stage> stages, Tensor x, Tensor xdot, Tensor[] adj, List<List<Rng.State>> states,
                                           List<Rng> rngs, float scale, Tensor[] params, FlatParameters layout, float[] z,
                                           boolean addGradient, ProductSink sink, float[] lossOut, MemoryTracker tracker) {
        int m = stages.size();
        Tensor[] ins = new Tensor[m], dots = new Tensor[m];
        ins[0] = x;
        dots[0] = xdot;
        try {
            Phase outer = tracker.phase(Phase.RECOMPUTE);
            for (int j = 1; j < m; j++) {
                Tensor[] out = stagesForward(stages.subList(j - 1, j), 1, ins[j - 1], dots[j - 1], states.subList(j - 1, j), rngs, params, layout, z);
                ins[j] = out[0];
                dots[j] = out[1];
            }
            tracker.phase(outer);
            for (int j = m - 1; j >= 0; j--) {
                restore(rngs, states.get(j));
                Tensor[] next = backwardTangent(stages.get(j), ins[j], dots[j], adj[0], adj[1], scale, params, layout, z,
                        addGradient, sink, lossOut);
                release(adj);
                adj = next;
                if (j > 0) release(ins[j], dots[j]);
                ins[j] = dots[j] = null;
            }
            return adj;
        } finally {
            for (int j = 1; j < m; j++) release(ins[j], dots[j]);
        }
    }

    /**
     * The regions and their stages: the embeddings; a RECOMPUTE segment of the policy as one region, any other block
     * as a region of its own; the final norm, head and loss. Each block is two stages, its attention half and its MLP
     * half (a block's second-order graph is several times its activations; half of it at a time is what fits).
     */
    private static List<List<Stage>> regions(Gpt model, Policy policy, Tensor ids, Tensor targets) {
        List<Block> blocks = model.blocks();
        List<List<Stage>> regions = new ArrayList<>();
        regions.add(List.of(x -> model.embed(ids)));
        for (int[] s : policy.segments()) {
            boolean together = s[2] == Policy.RECOMPUTE;
            List<Stage> region = new ArrayList<>();
            for (int i = s[0]; i < s[1]; i++) {
                Block b = blocks.get(i);
                region.add(b::attentionHalf);
                region.add(b::mlpHalf);
                if (!together) {
                    regions.add(region);
                    region = new ArrayList<>();
                }
            }
            if (!region.isEmpty()) regions.add(region);
        }
        int vocab = model.config().vocab();
        regions.add(List.of(x -> {
            Tensor y = model.logits(x);
            Tensor flat = y.reshape(-1, vocab);
            return F.crossEntropy(flat, targets);
        }));
        return regions;
    }

    /** (y, ẏ) of a region: its output and J·(ẋ, z), both kept (ACTIVATION) past the region's scope. */
    private static Tensor[] forwardTangent(Stage region, Tensor x, Tensor xdot, Tensor[] params, FlatParameters layout, float[] z) {
        try (Scope s = Scope.open()) {
            Tensor in = x == null ? null : leaf(x);
            Tensor y = region.apply(in);
            Tensor u = Tensor.zeros(y.shape()).requiresGrad(true);
            Tensor[] inputs = inputs(in, params);
            Tensor[] w = Engine.grad(new Tensor[]{y}, inputs, new Tensor[]{u}, true, true, true);
            Tensor dot = directional(w, in, xdot, params, layout, z);
            Tensor ydot = Engine.grad(new Tensor[]{dot}, new Tensor[]{u}, null, false, false, false)[0];
            return new Tensor[]{y.detach().saveForBackward(), ydot.detach().saveForBackward()};
        }
    }

    /**
     * Recomputes a region from its kept input and differentiates it twice: θ̄ into the gradients (when asked), θ's
     * tangent to the sink; returns (x̄, its tangent), kept past the region's scope, or nulls for the first region.
     * {@code ybar} null marks the loss region, seeded with {@code scale}; its loss goes to {@code lossOut}.
     */
    private static Tensor[] backwardTangent(Stage region, Tensor x, Tensor xdot, Tensor ybar, Tensor ydotbar, float scale,
                                            Tensor[] params, FlatParameters layout, float[] z, boolean addGradient,
                                            ProductSink sink, float[] lossOut) {
        try (Scope s = Scope.open()) {
            Tensor in = x == null ? null : leaf(x);
            Tensor y = region.apply(in);
            if (ybar == null) lossOut[0] = y.item();
            Tensor[] inputs = inputs(in, params);
            Tensor seed = ybar == null ? Tensor.scalar(scale) : ybar;
            Tensor[] bar = Engine.grad(new Tensor[]{y}, inputs, new Tensor[]{seed}, true, true, true);
            // tangent of (x̄, θ̄) = ∂/∂(x, θ) of ⟨(x̄, θ̄), (ẋ, z)⟩ [= H_φ·(ẋ, z)] + ⟨ẏ̄, y⟩ [= Jᵀẏ̄], in one reverse pass;
            // a region linear in (x, θ) (the embeddings) has no Hessian term: its adjoints carry no graph
            Tensor dot = directional(bar, in, xdot, params, layout, z);
            List<Tensor> outs = new ArrayList<>(), seeds = new ArrayList<>();
            if (dot != null && dot.requiresGrad()) {
                outs.add(dot);
                seeds.add(null);
            }
            if (ydotbar != null) {
                outs.add(y);
                seeds.add(ydotbar);
            }
            Tensor[] tan = outs.isEmpty() ? new Tensor[inputs.length]
                    : Engine.grad(outs.toArray(new Tensor[0]), inputs, seeds.toArray(new Tensor[0]), false, false, true);
            int first = in == null ? 0 : 1;
            for (int k = 0; k < params.length; k++) {
                if (addGradient && bar[first + k] != null) addInto(params[k], bar[first + k]);
                if (tan[first + k] != null) sink.add(k, tan[first + k]);
            }
            if (in == null) return new Tensor[2];
            return new Tensor[]{kept(bar[0], in), kept(tan[0], in)};
        }
    }

    /** A value handed to the next region: kept (ACTIVATION) with no history; zeros when the region ignored x. */
    private static Tensor kept(Tensor value, Tensor in) {
        Tensor v = value == null ? Tensor.zeros(in.shape()) : value.detach();
        return v.saveForBackward();
    }

    /** Adds a region's contribution to a parameter's gradient into its {@code .grad()} (a view of the flat buffer). */
    private static void addInto(Tensor p, Tensor g) {
        Tensor buf = p.grad();
        if (buf == null) throw new IllegalStateException("parameter " + p.name() + " has no .grad() buffer: flatten the model first");
        float[] d = buf.data(), v = g.data();
        int o = buf.offset(), gv = g.offset();
        for (int i = 0; i < g.numel(); i++) d[o + i] += v[gv + i];
    }

    private static Tensor leaf(Tensor kept) {
        return kept.detach().requiresGrad(true);
    }

    private static Tensor[] inputs(Tensor in, Tensor[] params) {
        if (in == null) return params;
        Tensor[] all = new Tensor[params.length + 1];
        all[0] = in;
        System.arraycopy(params, 0, all, 1, params.length);
        return all;
    }

    /** ⟨a_x, ẋ⟩ + Σ_k ⟨a_θk, z_k⟩ over the non-null entries of {@code a} (laid out as {@link #inputs}), or null. */
    private static Tensor directional(Tensor[] a, Tensor in, Tensor xdot, Tensor[] params, FlatParameters layout, float[] z) {
        Tensor sum = null;
        int first = in == null ? 0 : 1;
        if (in != null && a[0] != null) sum = F.sumAll(F.mul(a[0], xdot));
        for (int k = 0; k < params.length; k++) {
            Tensor ak = a[first + k];
            if (ak == null) continue;
            FlatParameters.Entry e = layout.entries().get(k);
            Tensor zk = Tensor.empty("hvp.direction", e.shape());
            System.arraycopy(z, e.offset(), zk.data(), zk.offset(), e.numel());
            Tensor part = F.sumAll(F.mul(ak, zk));
            sum = sum == null ? part : F.add(sum, part);
        }
        return sum;
    }

    private static List<Rng.State> capture(List<Rng> rngs) {
        List<Rng.State> s = new ArrayList<>();
        for (Rng r : rngs) s.add(r.state());
        return s;
    }

    private static void restore(List<Rng> rngs, List<Rng.State> states) {
        for (int k = 0; k < rngs.size(); k++) rngs.get(k).restore(states.get(k));
    }

    private static void release(Tensor... kept) {
        for (Tensor t : kept) if (t != null && !t.isReleased()) t.releaseSavedForBackward();
    }
}
