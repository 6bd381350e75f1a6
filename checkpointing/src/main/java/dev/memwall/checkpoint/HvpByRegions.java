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
 * The gradient g and a Hessian-vector product H·z of a GPT's loss, one region's second-order graph at a time:
 * Pearlmutter's forward-over-reverse (R-op) carried through the sequential regions of a checkpointed model
 * (embeddings, the policy's segments of blocks, the final norm + head + loss), built from reverse-mode tools only.
 *
 * <p>A createGraph backward through a checkpointed model has to keep every region's recomputed graph (and the graph
 * of its backward) until the second backward has run, so checkpointing does not lower the peak of an H·z. Here:
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
 * Every region is differentiated with respect to every parameter (unused ones are skipped), so a parameter used by
 * several regions accumulates over them. Peak ≈ the kept boundaries and their tangents (2·(regions)·B·T·D floats)
 * plus one region's double graph. Random generators (dropout) are put back before each of a region's runs.
 *
 * <p>Regions: a RECOMPUTE segment of the policy is one region; blocks in KEEP or SELECTIVE segments are a region
 * each (everything is recomputed here, and smaller regions hold less).
 */
public final class HvpByRegions {
    private HvpByRegions() {
    }

    /** Receives the H·z contribution of one region to parameter {@code index} (flat-layout order). */
    @FunctionalInterface
    public interface ProductSink {
        void add(int index, Tensor hz);
    }

    /** One region: a function of the previous region's output (null for the first). */
    private interface Region {
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
        List<Region> regions = regions(model, policy, ids, targets);
        List<Rng> rngs = List.of(Rng.defaultRng(), model.dropoutRng());
        int n = regions.size();
        Tensor[] xs = new Tensor[n], xdots = new Tensor[n]; // region r's input and its tangent (null for r = 0)
        List<List<Rng.State>> states = new ArrayList<>();
        Tensor[] params = parameters.toArray(new Tensor[0]);
        MemoryTracker tracker = MemoryTracker.current();
        float loss;
        try {
            Phase previous = tracker.phase(Phase.FORWARD);
            for (int r = 0; r < n - 1; r++) {
                states.add(capture(rngs));
                Tensor[] out = forwardTangent(regions.get(r), xs[r], xdots[r], params, layout, z);
                xs[r + 1] = out[0];
                xdots[r + 1] = out[1];
            }
            states.add(capture(rngs));
            tracker.phase(Phase.BACKWARD);
            Tensor ybar = null, ydotbar = null;
            List<Rng.State> end = null;
            float[] lossOut = {Float.NaN};
            for (int r = n - 1; r >= 0; r--) {
                restore(rngs, states.get(r));
                Tensor[] adj = backwardTangent(regions.get(r), xs[r], xdots[r], ybar, ydotbar, scale, params, layout, z,
                        addGradient, sink, lossOut);
                if (end == null) end = capture(rngs);
                release(ybar, ydotbar, xs[r], xdots[r]);
                xs[r] = xdots[r] = null;
                ybar = adj[0];
                ydotbar = adj[1];
            }
            loss = lossOut[0];
            release(ybar, ydotbar);
            restore(rngs, end);
            tracker.phase(previous);
        } finally {
            release(xs);
            release(xdots);
        }
        return loss;
    }

    /** Embeddings; the policy's segments (RECOMPUTE as one region, other blocks one each); norm, head and loss. */
    private static List<Region> regions(Gpt model, Policy policy, Tensor ids, Tensor targets) {
        List<Block> blocks = model.blocks();
        List<Region> regions = new ArrayList<>();
        regions.add(x -> model.embed(ids));
        for (int[] s : policy.segments()) {
            if (s[2] == Policy.RECOMPUTE) {
                int from = s[0], to = s[1];
                regions.add(x -> Gpt.runSequential(blocks, from, to, x));
            } else {
                for (int i = s[0]; i < s[1]; i++) {
                    int b = i;
                    regions.add(x -> blocks.get(b).forward(x));
                }
            }
        }
        int vocab = model.config().vocab();
        regions.add(x -> {
            Tensor y = model.logits(x);
            Tensor flat = y.reshape(-1, vocab);
            return F.crossEntropy(flat, targets);
        });
        return regions;
    }

    /** (y, ẏ) of a region: its output and J·(ẋ, z), both kept (ACTIVATION) past the region's scope. */
    private static Tensor[] forwardTangent(Region region, Tensor x, Tensor xdot, Tensor[] params, FlatParameters layout, float[] z) {
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
    private static Tensor[] backwardTangent(Region region, Tensor x, Tensor xdot, Tensor ybar, Tensor ydotbar, float scale,
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
