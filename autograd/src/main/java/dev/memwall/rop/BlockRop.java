package dev.memwall.rop;

import java.util.Map;

/**
 * One pre-LN GPT block ({@code nn.Block}: x + attn(ln1(x)), then x + mlp(ln2(x))) with tangents, composed of the
 * op rules of this package in the order of {@code Block.forward}. The backward reads a {@link Tape}: the layer norms'
 * normalized inputs, the inputs of the qkv, proj and fc projections, the qkv output, the probabilities and the GELU
 * input, each with its tangent; the GELU output (fc's 4D-wide result) is recomputed from its input instead of kept.
 */
final class BlockRop {
    private final Param ln1w, ln1b, qkvW, qkvB, projW, projB, ln2w, ln2b, fcW, fcB, outW, outB;
    private final int batch, t, d, heads;
    private final GemmOperands ops;

    /** What a block's backward reads; {@link #release()} drops it. */
    record Tape(LayerNormRop.Saved ln1, Dual h, Dual qkv, Dual probs, Dual mixed, LayerNormRop.Saved ln2, Dual h2, Dual f) {
        void release() {
            ln1.release();
            Dual.releaseAll(h, qkv, probs, mixed, h2, f);
            ln2.release();
        }
    }

    BlockRop(Map<String, Param> params, int index, int batch, int t, int d, int heads, GemmOperands ops) {
        String p = "blocks." + index + ".";
        ln1w = GptRop.param(params, p + "ln1.weight");
        ln1b = GptRop.param(params, p + "ln1.bias");
        qkvW = GptRop.param(params, p + "qkv.weight");
        qkvB = GptRop.param(params, p + "qkv.bias");
        projW = GptRop.param(params, p + "proj.weight");
        projB = GptRop.param(params, p + "proj.bias");
        ln2w = GptRop.param(params, p + "ln2.weight");
        ln2b = GptRop.param(params, p + "ln2.bias");
        fcW = GptRop.param(params, p + "fc.weight");
        fcB = GptRop.param(params, p + "fc.bias");
        outW = GptRop.param(params, p + "out.weight");
        outB = GptRop.param(params, p + "out.bias");
        this.batch = batch;
        this.t = t;
        this.d = d;
        this.heads = heads;
        this.ops = ops;
    }

    /**
     * The block's output and tangent (temporary); {@code tape[0]} receives the kept tape when {@code tape} is given,
     * else nothing is kept. Does not release {@code x}.
     */
    Dual forward(Dual x, Tape[] tape) {
        int n = batch * t;
        int[] shapeD = {batch, t, d}, shape3 = {batch, t, 3 * d}, shape4 = {batch, t, 4 * d};
        LayerNormRop.Saved[] s1 = new LayerNormRop.Saved[1], s2 = new LayerNormRop.Saved[1];
        Dual h = LayerNormRop.forward(x, ln1w, ln1b, n, d, shapeD, s1);
        SavedLow.layerNormInput(ops, x, s1[0]);
        Dual qkv = LinearRop.forward(h, qkvW, qkvB, n, d, 3 * d, shape3, ops);
        Dual[] probs = new Dual[1];
        Dual mixed = AttentionRop.forward(qkv, batch, t, heads, d / heads, probs, ops.formats().values());
        Dual a = LinearRop.forward(mixed, projW, projB, n, d, d, shapeD, ops);
        Dual x1 = add(x, a);
        a.release();
        Dual h2 = LayerNormRop.forward(x1, ln2w, ln2b, n, d, shapeD, s2);
        SavedLow.layerNormInput(ops, x1, s2[0]);
        Dual f = LinearRop.forward(h2, fcW, fcB, n, d, 4 * d, shape4, ops);
        Dual g = GeluRop.forward(f, shape4);
        Dual m = LinearRop.forward(g, outW, outB, n, 4 * d, d, shapeD, ops);
        g.release();
        Dual x2 = add(x1, m);
        x1.release();
        m.release();
        if (tape != null) {
            tape[0] = new Tape(s1[0].keep(), h.keep(), qkv.keep(), probs[0].keep(), mixed.keep(), s2[0].keep(), h2.keep(), f.keep());
        } else {
            s1[0].release();
            s2[0].release();
            Dual.releaseAll(h, qkv, probs[0], mixed, h2, f);
        }
        return x2;
    }

    /** (x̄, its tangent) from the output's (temporary); releases the tape, not {@code ybar}. */
    Dual backward(Tape tp, Dual ybar, Products sink) {
        int n = batch * t;
        int[] shapeD = {batch, t, d}, shape3 = {batch, t, 3 * d}, shape4 = {batch, t, 4 * d};
        try {
            Dual g = GeluRop.forward(tp.f(), shape4);
            SavedLow.round(ops, tp.f()); // out's input recomputed from FP32 f above; GELU's backward reads f as autocast saves it
            Dual gbar = LinearRop.backward(g, ybar, outW, outB, n, 4 * d, d, shape4, sink, ops);
            g.release();
            Dual fbar = GeluRop.backward(tp.f(), gbar, shape4);
            gbar.release();
            Dual h2bar = LinearRop.backward(tp.h2(), fbar, fcW, fcB, n, d, 4 * d, shapeD, sink, ops);
            fbar.release();
            Dual viaLn2 = LayerNormRop.backward(tp.ln2(), h2bar, ln2w, ln2b, shapeD, sink);
            h2bar.release();
            Dual x1bar = add(ybar, viaLn2);
            viaLn2.release();
            Dual mixedBar = LinearRop.backward(tp.mixed(), x1bar, projW, projB, n, d, d, shapeD, sink, ops);
            Dual qkvBar = AttentionRop.backward(tp.qkv(), tp.probs(), mixedBar, batch, t, heads, d / heads);
            mixedBar.release();
            Dual hbar = LinearRop.backward(tp.h(), qkvBar, qkvW, qkvB, n, d, 3 * d, shapeD, sink, ops);
            qkvBar.release();
            Dual viaLn1 = LayerNormRop.backward(tp.ln1(), hbar, ln1w, ln1b, shapeD, sink);
            hbar.release();
            Dual xbar = add(x1bar, viaLn1);
            x1bar.release();
            viaLn1.release();
            return xbar;
        } finally {
            tp.release();
        }
    }

    /** a + b, values and tangents, as a new temporary dual. */
    static Dual add(Dual a, Dual b) {
        Dual s = Dual.forOverwrite("add", a.v().shape());
        int n = a.v().numel();
        float[] av = a.va(), at = a.ta(), bv = b.va(), bt = b.ta(), sv = s.va(), st = s.ta();
        int ao = a.vo(), ato = a.to(), bo = b.vo(), bto = b.to(), so = s.vo(), sto = s.to();
        dev.memwall.kernels.Parallel.range(n, 2, (from, to) -> {
            for (int i = from; i < to; i++) {
                sv[so + i] = av[ao + i] + bv[bo + i];
                st[sto + i] = at[ato + i] + bt[bto + i];
            }
        });
        return s;
    }
}
