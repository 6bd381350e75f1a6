package dev.memwall.checkpoint;

import dev.memwall.autograd.Tensor;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.rop.GemmFormats;
import dev.memwall.rop.GptRop;

import java.util.ArrayList;
import java.util.List;

/**
 * The gradient and H·z of a GPT's loss by the fused forward-over-reverse pass ({@code rop.GptRop}: one forward and
 * one backward with a tangent beside every value), with the blocks checkpointed as a {@link Policy} says: a KEEP
 * segment keeps its blocks' tapes, a RECOMPUTE segment keeps its input (and tangent) and recomputes its blocks before
 * their backward, and a SELECTIVE block is recomputed on its own (the pass has no per-value recipes, so a selective
 * block costs what an EVERY_LAYER block does: one block's tape at a time). The same contract as
 * {@link HvpByRegions#run}, at about the cost of two gradient steps instead of a double-VJP per region.
 */
public final class ForwardOverReverse {
    private ForwardOverReverse() {
    }

    /** The pass's segments for {@code policy} (null: every block kept). */
    public static List<GptRop.Segment> segments(Policy policy, int layers) {
        if (policy == null) return layers == 0 ? List.of() : GptRop.keepAll(layers);
        policy.requireCovers(layers);
        List<GptRop.Segment> out = new ArrayList<>();
        for (int[] s : policy.segments()) {
            if (s[2] == Policy.SELECTIVE) {
                for (int i = s[0]; i < s[1]; i++) out.add(new GptRop.Segment(i, i + 1, true));
            } else {
                out.add(new GptRop.Segment(s[0], s[1], s[2] == Policy.RECOMPUTE));
            }
        }
        return out;
    }

    /**
     * Adds scale·g into the parameters' {@code .grad()} when {@code addGradient}, hands scale·H·z per parameter to
     * {@code sink} and returns the (unscaled) loss; {@code policy} null keeps every block.
     */
    public static float run(Gpt model, Policy policy, Tensor ids, Tensor targets, float scale, FlatParameters layout,
                            List<Tensor> parameters, float[] z, boolean addGradient, HvpByRegions.ProductSink sink) {
        return run(model, policy, ids, targets, scale, layout, parameters, z, addGradient, sink, GemmFormats.FP32);
    }

    /** As above, the pass's GEMM operands in {@code formats} (autocast's rules, or BF16 tangent GEMMs: {@link GemmFormats}). */
    public static float run(Gpt model, Policy policy, Tensor ids, Tensor targets, float scale, FlatParameters layout,
                            List<Tensor> parameters, float[] z, boolean addGradient, HvpByRegions.ProductSink sink,
                            GemmFormats formats) {
        return GptRop.run(model, segments(policy, model.blocks().size()), ids, targets, scale, layout, parameters, z,
                addGradient, sink::add, formats);
    }
}
