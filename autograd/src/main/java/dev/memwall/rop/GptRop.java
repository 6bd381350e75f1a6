package dev.memwall.rop;

import dev.memwall.autograd.Tensor;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.memory.Phase;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The gradient g and H·z of a GPT's mean next-token loss in one forward and one backward pass (Pearlmutter's
 * R-operator): every op carries a tangent along z through the forward, and the backward carries each adjoint's
 * tangent beside it, which at a parameter is (H·z)_θ. The ops are {@code nn.Gpt}'s in its order (embeddings, pre-LN
 * blocks with the fused attention, final norm, untied head, cross-entropy), each with fused rules
 * ({@link LinearRop}, {@link LayerNormRop}, {@link AttentionRop}, {@link GeluRop}, {@link CrossEntropyRop},
 * {@link EmbeddingRop}).
 *
 * <p>Activation checkpointing: the blocks are cut into {@link Segment}s. A kept segment keeps each block's tape from
 * forward to backward; a recomputed one keeps only its input and the input's tangent, and its blocks run forward
 * again (with tapes) right before their backward — so under every-layer checkpointing one block's tape is alive at a
 * time, as in a first-order checkpointed step.
 *
 * <p>Number formats: the GEMMs' operands follow a {@link GemmFormats} — FP32 throughout, BF16/FP16 autocast's rules,
 * or BF16 tangent GEMMs in an FP32 pass; the pass itself never looks at an installed cast policy, callers choose.
 * Under autocast the backward reads the layer norms' inputs, GELU's input and the logits rounded to BF16, as an autocast
 * step's nodes save them ({@link SavedLow}); the tape itself stays FP32 bytes. The gradient is the autocast step's up
 * to the order of FP32 sums.
 *
 * <p>Not covered (callers check {@link #supports}): active dropout (training with p &gt; 0), and a model whose units
 * are gathered around their forward (ZeRO stage 3, {@code Gpt.unitHook}).
 */
public final class GptRop {
    private GptRop() {
    }

    /** Receives scale·(H·z) of parameter {@code index} (flat-layout order); the tensor is released after the call. */
    @FunctionalInterface
    public interface ProductSink {
        void add(int index, Tensor hz);
    }

    /** Blocks [from, to), kept from forward to backward or recomputed from the segment's input. */
    public record Segment(int from, int to, boolean recompute) {
    }

    /** Every block kept: no checkpointing. */
    public static List<Segment> keepAll(int layers) {
        return List.of(new Segment(0, layers, false));
    }

    /** Whether this pass computes {@code model}'s loss as its forward does: no active dropout. */
    public static boolean supports(Gpt model) {
        return !(model.isTraining() && model.config().dropout() > 0f);
    }

    /**
     * Adds scale·g into the parameters' {@code .grad()} when {@code addGradient}, hands scale·H·z per parameter to
     * {@code sink}, and returns the (unscaled) mean loss.
     *
     * @param parameters the model's parameters in flat-layout order
     * @param z          the direction over the flat layout
     */
    public static float run(Gpt model, List<Segment> segments, Tensor ids, Tensor targets, float scale,
                            FlatParameters layout, List<Tensor> parameters, float[] z, boolean addGradient, ProductSink sink) {
        return run(model, segments, ids, targets, scale, layout, parameters, z, addGradient, sink, GemmFormats.FP32);
    }

    /** As {@link #run(Gpt, List, Tensor, Tensor, float, FlatParameters, List, float[], boolean, ProductSink)}, the GEMMs' operands in {@code formats}. */
    public static float run(Gpt model, List<Segment> segments, Tensor ids, Tensor targets, float scale,
                            FlatParameters layout, List<Tensor> parameters, float[] z, boolean addGradient, ProductSink sink,
                            GemmFormats formats) {
        java.util.Objects.requireNonNull(formats, "GEMM formats");
        if (!supports(model)) {
            throw new IllegalArgumentException("forward-over-reverse H·z does not implement dropout (p = "
                    + model.config().dropout() + " in training mode): use the region-by-region or createGraph product");
        }
        if (parameters.size() != layout.entries().size()) {
            throw new IllegalArgumentException(parameters.size() + " parameters given, the flat layout has " + layout.entries().size());
        }
        if (z.length != layout.length()) throw new IllegalArgumentException("z has " + z.length + " elements, the flat buffer " + layout.length());
        GptConfig c = model.config();
        checkSegments(segments, c.layers());
        if (ids.dim() != 2) throw new IllegalArgumentException("ids must be [B, T], got " + java.util.Arrays.toString(ids.shape()));
        int batch = ids.size(0), t = ids.size(1), d = c.dim(), n = batch * t, vocab = c.vocab();
        if (t > c.context()) throw new IllegalArgumentException("sequence length " + t + " exceeds context " + c.context());
        if (targets.numel() != n) throw new IllegalArgumentException("targets have " + targets.numel() + " elements, ids " + n);
        Map<String, Param> params = params(layout, parameters, z, addGradient);
        Products out = new Products(addGradient, sink);
        GemmOperands ops = new GemmOperands(formats);
        List<BlockRop> blocks = new ArrayList<>();
        for (int i = 0; i < c.layers(); i++) blocks.add(new BlockRop(params, i, batch, t, d, c.heads(), ops));
        Param tok = param(params, "tok.weight"), pos = param(params, "pos.weight");
        Param lnfW = param(params, "lnf.weight"), lnfB = param(params, "lnf.bias"), head = param(params, "head.weight");
        MemoryTracker tracker = MemoryTracker.current();
        Phase previous = tracker.phase(Phase.FORWARD);
        BlockRop.Tape[] tapes = new BlockRop.Tape[c.layers()];
        Dual[] inputs = new Dual[segments.size()]; // a recomputed segment's kept input
        LayerNormRop.Saved[] lnf = new LayerNormRop.Saved[1];
        Dual x = null, hf = null;
        try {
            x = EmbeddingRop.forward(tok, pos, ids, batch, t, d);
            for (int s = 0; s < segments.size(); s++) {
                Segment seg = segments.get(s);
                if (seg.recompute()) {
                    x = x.keep();
                    inputs[s] = x;
                }
                for (int i = seg.from(); i < seg.to(); i++) {
                    BlockRop.Tape[] tape = seg.recompute() ? null : new BlockRop.Tape[1];
                    Dual next = blocks.get(i).forward(x, tape);
                    if (tape != null) tapes[i] = tape[0];
                    if (!x.kept()) x.release();
                    x = next;
                }
            }
            int[] shapeD = {batch, t, d};
            hf = LayerNormRop.forward(x, lnfW, lnfB, n, d, shapeD, lnf);
            SavedLow.layerNormInput(ops, x, lnf[0]);
            x.release();
            x = null;
            Dual logits = LinearRop.forward(hf, head, null, n, d, vocab, new int[]{n, vocab}, ops);
            float loss = CrossEntropyRop.loss(logits, targets, n, vocab);
            SavedLow.round(ops, logits); // the loss is FP32; its backward reads the logits as autocast saves them
            tracker.phase(Phase.BACKWARD);
            Dual ybar = CrossEntropyRop.backward(logits, targets, n, vocab, scale);
            logits.release();
            Dual hfbar = LinearRop.backward(hf, ybar, head, null, n, d, vocab, shapeD, out, ops);
            ybar.release();
            hf.release();
            hf = null;
            Dual bar = LayerNormRop.backward(lnf[0], hfbar, lnfW, lnfB, shapeD, out);
            lnf[0].release();
            lnf[0] = null;
            hfbar.release();
            for (int s = segments.size() - 1; s >= 0; s--) {
                Segment seg = segments.get(s);
                if (seg.recompute()) recompute(blocks, seg, inputs[s], tapes, tracker);
                for (int i = seg.to() - 1; i >= seg.from(); i--) {
                    BlockRop.Tape tp = tapes[i];
                    tapes[i] = null;
                    Dual prev = blocks.get(i).backward(tp, bar, out);
                    bar.release();
                    bar = prev;
                }
                if (inputs[s] != null) inputs[s].release();
                inputs[s] = null;
            }
            EmbeddingRop.backward(bar, tok, pos, ids, batch, t, d, out);
            bar.release();
            return loss;
        } finally {
            for (BlockRop.Tape tp : tapes) if (tp != null) tp.release();
            for (Dual in : inputs) if (in != null && !in.v().isReleased()) in.release();
            if (lnf[0] != null) lnf[0].release();
            ops.close();
            tracker.phase(previous);
        }
    }

    /** A recomputed segment's blocks run forward again from its kept input, keeping their tapes this time. */
    private static void recompute(List<BlockRop> blocks, Segment seg, Dual input, BlockRop.Tape[] tapes, MemoryTracker tracker) {
        Phase outer = tracker.phase(Phase.RECOMPUTE);
        Dual x = input;
        for (int i = seg.from(); i < seg.to(); i++) {
            BlockRop.Tape[] tape = new BlockRop.Tape[1];
            Dual next = blocks.get(i).forward(x, tape);
            tapes[i] = tape[0];
            if (x != input) x.release();
            x = next;
        }
        if (x != input) x.release();
        tracker.phase(outer);
    }

    private static void checkSegments(List<Segment> segments, int layers) {
        int at = 0;
        for (Segment s : segments) {
            if (s.from() != at || s.to() <= s.from()) {
                throw new IllegalArgumentException("segments must cover blocks 0.." + layers + " in order without gaps: " + segments);
            }
            at = s.to();
        }
        if (at != layers) throw new IllegalArgumentException("segments cover " + at + " of " + layers + " blocks: " + segments);
    }

    private static Map<String, Param> params(FlatParameters layout, List<Tensor> parameters, float[] z, boolean addGradient) {
        Map<String, Param> map = new HashMap<>();
        for (int k = 0; k < parameters.size(); k++) {
            FlatParameters.Entry e = layout.entries().get(k);
            Tensor p = parameters.get(k);
            if (p.numel() != e.numel()) {
                throw new IllegalArgumentException("parameter " + k + " has " + p.numel() + " elements, layout entry " + e.name() + " " + e.numel());
            }
            if (addGradient && p.grad() == null) {
                throw new IllegalStateException("parameter " + e.name() + " has no .grad() buffer: flatten the model first");
            }
            map.put(e.name(), new Param(k, p, z, e.offset(), p.grad()));
        }
        return map;
    }

    static Param param(Map<String, Param> params, String name) {
        Param p = params.get(name);
        if (p == null) throw new IllegalArgumentException("the GPT has no parameter " + name + " in its flat layout");
        return p;
    }
}
