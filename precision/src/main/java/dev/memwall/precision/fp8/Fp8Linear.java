package dev.memwall.precision.fp8;

import dev.memwall.autograd.GradMode;
import dev.memwall.autograd.Node;
import dev.memwall.autograd.Tensor;

import java.util.Arrays;
import java.util.Objects;

/**
 * {@code y = x · Wᵀ + b} with FP8 GEMMs (Transformer Engine's {@code te.Linear} under {@code fp8_autocast}): the input
 * and the weight are quantized in the recipe's forward format (E4M3 under HYBRID), the output gradient in its backward
 * format (E5M2), each scaled per the recipe; the three GEMMs (forward, input gradient, weight gradient) run on the FP8
 * operands through {@link Fp8Gemm}, and the bias and its gradient stay FP32. What the node saves for backward is FP8
 * codes and scales, counted as ACTIVATION at one byte per element.
 *
 * <p>Which quantization feeds which GEMM (contraction dimension in brackets):
 * <ul>
 *   <li>per-tensor recipes: one quantization of x, W, and the output gradient g serves every GEMM (a per-tensor scale
 *       is the same for the transpose);</li>
 *   <li>MXFP8: forward x and W row-wise [in]; input gradient g row-wise [out] with W column-wise [out]; weight
 *       gradient g and x column-wise [batch rows]. Each is quantized from the FP32 tensor: a transposed row-wise
 *       quantization would have different blocks;</li>
 *   <li>block scaling: x and g in 1×128 tiles for the GEMM contracting their columns and 128×1 for the one
 *       contracting their rows; W in 128×128 blocks, used as is and transposed.</li>
 * </ul>
 * First order only: with {@code createGraph} the backward refuses.
 */
public final class Fp8Linear {
    private Fp8Linear() {
    }

    /** The FP8 linear op under {@code state}'s recipe; delayed scaling reads and rolls the histories in {@code state}. */
    public static Tensor linear(Tensor x, Tensor w, Tensor b, Fp8State state) {
        Objects.requireNonNull(state, "state");
        int[] xs = x.shape(), ws = w.shape();
        if (ws.length != 2 || xs.length < 1 || xs[xs.length - 1] != ws[1]) {
            throw new IllegalArgumentException("fp8 linear: input " + Arrays.toString(xs) + " does not match weight " + Arrays.toString(ws)
                    + " (weight is [out, in])");
        }
        if (b != null && (b.dim() != 1 || b.shape()[0] != ws[0])) {
            throw new IllegalArgumentException("fp8 linear: bias " + Arrays.toString(b.shape()) + " does not match weight " + Arrays.toString(ws));
        }
        int in = ws[1], out = ws[0], rows = x.numel() / Math.max(1, in);
        Fp8Recipe recipe = state.recipe();
        String layer = state.layer(w);
        boolean record = Node.shouldRecord(x, w, b);
        boolean wantDx = record && x.requiresGrad(), wantDw = record && w.requiresGrad();

        // Forward operands, and the ones backward keeps (null when that gradient is not wanted).
        Fp8Tensor xf, wf, xSave, wSave;
        Fp8Format fwd = recipe.format().forward();
        // a weight gathered in FP8 (ZeRO stage 3) arrives quantized, its amax agreed over the ranks that hold its shards
        // (block scaling: its 128×128 blocks, whose scales serve the weight and its transpose, so backward reuses them)
        Fp8Tensor supplied = state.suppliedWeight(w);
        // MXFP8 at ZeRO stage 3: backward quantizes the weight column-wise from the weight it is given then (the unit
        // gathered for backward in FP32), not from FP8 codes; a recomputation, which reads that FP32 unit, does the same
        boolean weightForBackward = false;
        if (recipe instanceof DelayedScaling) {
            xf = delayed(x, fwd, state, state.history(layer, TensorRole.INPUT));
            wf = supplied != null ? supplied : delayed(w, fwd, state.history(layer, TensorRole.WEIGHT));
            xSave = xf;
            wSave = wf;
        } else if (recipe instanceof CurrentScaling) {
            xf = Fp8Quantizer.tiled(x, fwd, Tiling.PER_TENSOR, ScaleRule.CURRENT);
            wf = supplied != null ? supplied : Fp8Quantizer.tiled(w, fwd, Tiling.PER_TENSOR, ScaleRule.CURRENT);
            xSave = xf;
            wSave = wf;
        } else if (recipe instanceof Mxfp8BlockScaling) {
            xf = Fp8Quantizer.tiled(x, fwd, Mxfp8BlockScaling.rowwise(), ScaleRule.E8M0_UP);
            wf = supplied != null ? supplied : Fp8Quantizer.tiled(w, fwd, Mxfp8BlockScaling.rowwise(), ScaleRule.E8M0_UP);
            xSave = wantDw ? Fp8Quantizer.tiled(x, fwd, Mxfp8BlockScaling.columnwise(), ScaleRule.E8M0_UP) : null;
            weightForBackward = wantDx && (supplied != null || state.weightQuantizedInBackward(w));
            wSave = wantDx && !weightForBackward ? Fp8Quantizer.tiled(w, fwd, Mxfp8BlockScaling.columnwise(), ScaleRule.E8M0_UP) : null;
        } else {
            BlockScaling bs = (BlockScaling) recipe;
            xf = Fp8Quantizer.tiled(x, fwd, bs.activationRowwise(), ScaleRule.POWER_OF_TWO_DOWN);
            wf = supplied != null ? supplied : Fp8Quantizer.tiled(w, fwd, bs.weight(), ScaleRule.POWER_OF_TWO_DOWN);
            xSave = wantDw ? Fp8Quantizer.tiled(x, fwd, bs.activationColumnwise(), ScaleRule.POWER_OF_TWO_DOWN) : null;
            wSave = wantDx ? wf : null;
        }

        int[] outShape = xs.clone();
        outShape[xs.length - 1] = out;
        Tensor y = Tensor.empty("fp8_linear", outShape);
        Fp8Gemm.matmul(xf, false, wf, true, rows, out, in, y.data(), y.offset());
        if (b != null) {
            float[] yd = y.data(), bd = b.data();
            int yo = y.offset(), bo = b.offset();
            for (int r = 0; r < rows; r++) for (int c = 0; c < out; c++) yd[yo + r * out + c] += bd[bo + c];
        }
        Fp8LinearNode node = record ? new Fp8LinearNode(x, w, b, state, layer, wantDx ? wSave : null, wantDw ? xSave : null,
                weightForBackward) : null;
        releaseAll(xf, wf, xSave, wSave);
        return node == null ? y : node.attach(y);
    }

    /** Quantizes with the history's current scale, then records this tensor's amax: the next one gets the new scale. */
    static Fp8Tensor delayed(Tensor t, Fp8Format f, AmaxHistory h) {
        Fp8Tensor q = Fp8Quantizer.perTensor(t, f, h.scale());
        h.record(Fp8Quantizer.amax(t));
        return q;
    }

    /** As above, the amax recorded through {@code state} (pending while a sharded run defers records to agree them). */
    static Fp8Tensor delayed(Tensor t, Fp8Format f, Fp8State state, AmaxHistory h) {
        Fp8Tensor q = Fp8Quantizer.perTensor(t, f, h.scale());
        state.record(h, Fp8Quantizer.amax(t));
        return q;
    }

    private static void releaseAll(Fp8Tensor... qs) {
        for (int i = 0; i < qs.length; i++) {
            if (qs[i] == null) continue;
            boolean seen = false;
            for (int j = 0; j < i; j++) seen |= qs[j] == qs[i];
            if (!seen) qs[i].release();
        }
    }

    private static final class Fp8LinearNode extends Node {
        private final int[] xs, ws;
        private final Fp8State state;
        private final String layer;
        private final boolean hasBias;
        private final Saved wq, xq;
        /** The weight itself, saved to be quantized column-wise in backward (MXFP8 with a supplied weight), or -1. */
        private final int weightSlot;

        Fp8LinearNode(Tensor x, Tensor w, Tensor b, Fp8State state, String layer, Fp8Tensor wForDgrad, Fp8Tensor xForWgrad,
                      boolean weightForBackward) {
            super("fp8_linear", x, w, b);
            this.xs = x.shape();
            this.ws = w.shape();
            this.state = state;
            this.layer = layer;
            this.hasBias = b != null;
            this.wq = wForDgrad == null ? null : new Saved(this, wForDgrad);
            this.xq = xForWgrad == null ? null : new Saved(this, xForWgrad);
            this.weightSlot = weightForBackward ? save(w) : -1;
        }

        int saveTensor(Tensor t) {
            return save(t);
        }

        Tensor savedTensor(int slot) {
            return saved(slot);
        }

        @Override
        protected Tensor[] backward(Tensor g) {
            if (GradMode.isEnabled()) throw new UnsupportedOperationException("fp8_linear has no second-order rule (createGraph)");
            int in = ws[1], out = ws[0], rows = g.numel() / Math.max(1, out);
            Fp8Recipe recipe = state.recipe();
            Fp8Format bwd = recipe.format().backward();
            Fp8Tensor gRow, gCol;
            boolean dx = needsGrad(0), dw = needsGrad(1);
            if (recipe instanceof DelayedScaling) {
                gRow = gCol = Fp8Linear.delayed(g, bwd, state, state.history(layer, TensorRole.GRAD_OUTPUT));
            } else if (recipe instanceof CurrentScaling) {
                gRow = gCol = Fp8Quantizer.tiled(g, bwd, Tiling.PER_TENSOR, ScaleRule.CURRENT);
            } else if (recipe instanceof Mxfp8BlockScaling) {
                gRow = dx ? Fp8Quantizer.tiled(g, bwd, Mxfp8BlockScaling.rowwise(), ScaleRule.E8M0_UP) : null;
                gCol = dw ? Fp8Quantizer.tiled(g, bwd, Mxfp8BlockScaling.columnwise(), ScaleRule.E8M0_UP) : null;
            } else {
                BlockScaling bs = (BlockScaling) recipe;
                gRow = dx ? Fp8Quantizer.tiled(g, bwd, bs.activationRowwise(), ScaleRule.POWER_OF_TWO_DOWN) : null;
                gCol = dw ? Fp8Quantizer.tiled(g, bwd, bs.activationColumnwise(), ScaleRule.POWER_OF_TWO_DOWN) : null;
            }
            Tensor gx = null, gw = null, gb = null;
            if (dx) {
                gx = Tensor.empty("fp8_linear_dx", xs);
                Fp8Tensor wd = wq != null ? wq.get()
                        : Fp8Quantizer.tiled(saved(weightSlot), recipe.format().forward(), Mxfp8BlockScaling.columnwise(), ScaleRule.E8M0_UP);
                Fp8Gemm.matmul(gRow, false, wd, false, rows, in, out, gx.data(), gx.offset());
                if (wq == null) wd.release();
            }
            if (dw) {
                gw = Tensor.empty("fp8_linear_dw", ws);
                Fp8Gemm.matmul(gCol, true, xq.get(), false, out, in, rows, gw.data(), gw.offset());
            }
            if (hasBias && needsGrad(2)) {
                gb = Tensor.empty("fp8_linear_db", out);
                float[] gd = g.data(), bd = gb.data();
                int go = g.offset(), bo = gb.offset();
                for (int c = 0; c < out; c++) bd[bo + c] = 0;
                for (int r = 0; r < rows; r++) for (int c = 0; c < out; c++) bd[bo + c] += gd[go + r * out + c];
            }
            releaseAll(gRow, gCol);
            return new Tensor[]{gx, gw, gb};
        }
    }

    /** An Fp8Tensor saved by a node: its codes and scales are two saved tensors. */
    private static final class Saved {
        private final Fp8LinearNode node;
        private final int codes, scales;
        private final Fp8Format format;
        private final boolean e8m0;
        private final Tiling tiling;
        private final int rows, cols;

        Saved(Fp8LinearNode node, Fp8Tensor q) {
            this.node = node;
            this.codes = node.saveTensor(q.codes());
            this.scales = node.saveTensor(q.scales());
            this.format = q.format();
            this.e8m0 = q.isE8m0();
            this.tiling = q.tiling();
            this.rows = q.rows();
            this.cols = q.cols();
        }

        Fp8Tensor get() {
            return new Fp8Tensor(format, node.savedTensor(codes), node.savedTensor(scales), e8m0, tiling, rows, cols);
        }
    }
}
