package dev.memwall.train;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Storage;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.precision.fp8.BlockScaling;
import dev.memwall.precision.fp8.CurrentScaling;
import dev.memwall.precision.fp8.DelayedScaling;
import dev.memwall.precision.fp8.Fp8Format;
import dev.memwall.precision.fp8.Fp8Quantizer;
import dev.memwall.precision.fp8.Fp8State;
import dev.memwall.precision.fp8.Fp8Tensor;
import dev.memwall.precision.fp8.Mxfp8BlockScaling;
import dev.memwall.precision.fp8.ScaleMath;
import dev.memwall.precision.fp8.ScaleRule;
import dev.memwall.precision.fp8.TensorRole;
import dev.memwall.sharding.ProcessGroup;
import dev.memwall.sharding.Work;

import java.util.Arrays;
import java.util.Map;

/**
 * ZeRO stage 3 under an FP8 per-tensor recipe (delayed or current scaling), MXFP8 or 1×128/128×128 block scaling:
 * each unit's Linear weights are all-gathered as FP8 codes, quantized by the rank that owns them with the scale one
 * process would use for the whole weight (MXFP8, block scaling: for each block).
 *
 * <p><b>Forward gather of unit u.</b> Each rank takes the amax of its piece of every FP8 weight of the unit (0 where it
 * holds none), and the ranks agree on the maximum, one {@code allReduceMax} of m_u floats (m_u = the unit's FP8
 * weights): that is the whole weight's amax, bit for bit. The scale is then what {@code Fp8Linear} would compute in one
 * process — current scaling: {@code fp8_max / amax}; delayed scaling: the weight history's scale, after which the
 * agreed amax is recorded, so the history is the same on every rank and equal to one process's. Each rank encodes its
 * piece with that scale into its place of the unit's byte buffer (N·p_u codes, one per element, E4M3); the codes
 * travel packed two per 16-bit element ({@code allGather16}, 2·⌈p_u/2⌉ bytes per rank). No scale is gathered: every
 * rank computes them. The other parameters of the unit (layer norms, biases; the whole embedding unit, which has no
 * Linear weight) are read in FP32 by their kernels and travel exact: each rank packs its q_u or fewer such elements
 * into an FP32 all-gather of N·q_u floats (q_u: the most any rank's piece holds), unpacked into one decoded FP32
 * buffer per unit.
 *
 * <p><b>Backward gather</b> (and recomputation, which reads the unit gathered for backward): the same codes, encoded
 * with the scales of the unit's forward gather, and no amax agreement; so every GEMM of backward reads exactly the
 * weight codes forward read, as in one process where the node saves them.
 *
 * <p><b>Activations and gradients under delayed scaling.</b> Each rank sees its rows of the batch only; their amaxes
 * are recorded pending ({@link Fp8State#deferRecords}) and agreed over the ranks (one {@code allReduceMax} of one float
 * per record) at the end of each forward and each backward ({@link #passEnded}): every rank records the global
 * batch's amax, so the histories are identical on every rank and a checkpoint's ({@code Fp8Checkpoint}, rank 0's) is
 * everyone's. Current scaling takes each rank's own rows' amax for activations and gradients, as at stages 0–2.
 *
 * <p><b>MXFP8</b> (blocks of 32 along a row, E8M0 scales rounded up). A rank's piece of a unit rarely starts on a
 * block boundary of every weight ({@link UnitLayout} pads a unit once, and the layer norms and biases before a weight
 * shift it), so the scales are agreed block by block rather than aligned: each rank takes the amax of its part of every
 * row-wise block (0 where it holds none), one {@code allReduceMax} of a float per block gives each block's amax, and
 * every rank computes the E8M0 scales and encodes its elements with them — bitwise one process's row-wise
 * quantization. Backward needs the weight quantized column-wise (blocks of 32 rows, which every piece boundary cuts),
 * so the backward gather moves the unit in FP32 and {@code Fp8Linear} quantizes it column-wise there, from the same
 * values forward's codes came from (its node saves the weight by reference instead of the column-wise codes).
 * Recomputation reads that FP32 unit and quantizes row-wise itself: the same codes.
 *
 * <p><b>Block scaling</b> (128×128 weight blocks, FP32 power-of-two scales rounded down): the same block-by-block
 * agreement ({@link BlockShards}) in the forward gather. A 128×128 block serves the weight and its transpose alike, so
 * the backward gather moves codes, encoded with forward's block scales, as for the per-tensor recipes.
 *
 * <p><b>What a GEMM receives.</b> A Linear weight in the model is an FP8 view of the byte buffer (standing for the
 * parameter's leaf); {@code Fp8Linear} asks the state's {@link Fp8State.WeightSource} (this class) for its
 * quantization and uses the codes as they are. The node saves the codes by (unit, offset) like any gathered parameter,
 * and the 4-byte scale as a tensor of its own.
 */
final class Fp8Units implements UnitFormat, Fp8State.WeightSource {
    private final Fp8State state;
    private final ProcessGroup group;
    private final UnitLayout layout;
    private final Tensor[] identities;
    private final Fp8Format format;
    private final boolean delayed;
    /** MXFP8 and block scaling: per-block scales agreed over the ranks. */
    private final boolean blocked;
    /** MXFP8: backward gathers FP32 and quantizes the weight column-wise (see the class comment). */
    private final boolean fp32Backward;
    /** MXFP8 and block scaling: the block scales agreed over the ranks (null for the per-tensor recipes). */
    private final BlockShards blocks;
    /** Per unit while gathered: whether its buffer holds FP32 values (MXFP8's backward gather) rather than codes. */
    private final boolean[] fp32Gather;
    private final int n, rank;
    /** Per parameter: an FP8 weight (2-D, outside the embedding unit); its decoded offset otherwise. */
    private final boolean[] fp8;
    private final int[] decodedOffset;
    /** Per parameter: the scale of its unit's last forward gather (NaN before the first). */
    private final float[] scaleOf;
    /** Per unit: its FP8 weights, decoded length, q_u, and per rank the start and count of its non-FP8 elements. */
    private final int[][] weightsOf;
    private final int[] decodedLength, exactPerRank;
    private final int[][] exactStart, exactCount;
    /** Per unit while gathered: the byte buffer, the wires in flight, the decoded copy. */
    private final Tensor[] buffers, codeWires, exactWires, decoded;
    private Work last;

    Fp8Units(Fp8State state, ProcessGroup group, UnitLayout layout, Tensor[] identities) {
        if (!(state.recipe() instanceof DelayedScaling || state.recipe() instanceof CurrentScaling
                || state.recipe() instanceof Mxfp8BlockScaling || state.recipe() instanceof BlockScaling)) {
            throw new IllegalArgumentException("FP8 gathers at ZeRO stage 3 take a per-tensor recipe, MXFP8 or block scaling, not "
                    + state.recipe().name());
        }
        this.state = state;
        this.group = group;
        this.layout = layout;
        this.identities = identities;
        this.format = state.recipe().format().forward();
        this.delayed = state.recipe() instanceof DelayedScaling;
        this.fp32Backward = state.recipe() instanceof Mxfp8BlockScaling;
        this.blocked = fp32Backward || state.recipe() instanceof BlockScaling;
        this.n = group.worldSize();
        this.rank = group.rank();
        int count = layout.count(), units = layout.units;
        fp8 = new boolean[count];
        decodedOffset = new int[count];
        scaleOf = new float[count];
        Arrays.fill(scaleOf, Float.NaN);
        decodedLength = new int[units];
        exactPerRank = new int[units];
        exactStart = new int[units][n];
        exactCount = new int[units][n];
        weightsOf = new int[units][];
        for (int u = 0; u < units; u++) {
            int[] ps = layout.paramsOf[u];
            int m = 0;
            for (int k : ps) {
                fp8[k] = layout.shapes[k].length == 2 && u != 0; // unit 0: the embedding tables, read by lookup
                if (fp8[k]) {
                    m++;
                } else {
                    decodedOffset[k] = decodedLength[u];
                    decodedLength[u] += layout.numel(k);
                }
            }
            weightsOf[u] = new int[m];
            m = 0;
            for (int k : ps) if (fp8[k]) weightsOf[u][m++] = k;
            int p = layout.piece[u];
            for (int r = 0; r < n; r++) { // the non-FP8 elements of rank r's piece: a run of the decoded order
                int lo = r * p, hi = (r + 1) * p, before = 0, inside = 0;
                for (int k : ps) {
                    if (fp8[k]) continue;
                    int a = layout.offsetInUnit[k], b = a + layout.numel(k);
                    before += Math.max(0, Math.min(b, lo) - a);
                    inside += Math.max(0, Math.min(b, hi) - Math.max(a, lo));
                }
                exactStart[u][r] = before;
                exactCount[u][r] = inside;
                exactPerRank[u] = Math.max(exactPerRank[u], inside);
            }
        }
        blocks = fp32Backward ? new BlockShards(group, layout, format, Mxfp8BlockScaling.rowwise(), ScaleRule.E8M0_UP)
                : blocked ? new BlockShards(group, layout, format, ((BlockScaling) state.recipe()).weight(), ScaleRule.POWER_OF_TWO_DOWN)
                : null;
        fp32Gather = new boolean[units];
        buffers = new Tensor[units];
        codeWires = new Tensor[units];
        exactWires = new Tensor[units];
        decoded = new Tensor[units];
        state.deferRecords(delayed);
        state.weightSource(this);
    }

    /** Elements of unit u's gathered FP8 buffer: N·p_u codes, or one byte for a unit without an FP8 weight. */
    private int codeLength(int u) {
        return weightsOf[u].length == 0 ? 1 : n * layout.piece[u];
    }

    @Override
    public Tensor issue(int u, float[] masters, int from, int piece, boolean forward) {
        if (dev.memwall.ops.LinearAutocast.current() == null) {
            throw new IllegalStateException("unit " + u + " is gathered in FP8 outside the FP8 region: its Linear layers would "
                    + "read the codes without their scales; run the model under the precision's region (MixedPrecision.fp8Region)");
        }
        if (forward && u == 0) passEnded(); // amaxes of an evaluation since the last backward, before a new forward
        int[] ws = weightsOf[u];
        fp32Gather[u] = fp32Backward && !forward;
        if (fp32Gather[u]) { // MXFP8 backward: the whole unit in FP32, from which Fp8Linear quantizes column-wise
            Tensor buf = Tensor.empty(DType.FP32, Category.COMMUNICATION, "gathered_unit", n * piece);
            buffers[u] = buf;
            last = group.allGatherAsync(masters, from, buf.data(), buf.offset(), piece);
            return buf;
        }
        if (forward) {
            if (blocked) agreeBlockScales(u, masters, from, piece);
            else agreeScales(u, masters, from, piece);
        }
        Tensor buf = Tensor.empty(format.dtype, Category.COMMUNICATION, "gathered_unit8", codeLength(u));
        buffers[u] = buf;
        last = null;
        if (ws.length > 0) {
            byte[] codes = buf.byteData();
            int own = buf.offset() + rank * piece;
            for (int k : ws) {
                int[] s = slice(k, piece);
                if (blocked) {
                    blocks.encode(k, s, masters, from, codes, own);
                    continue;
                }
                if (Float.isNaN(scaleOf[k])) throw new IllegalStateException("unit " + u + " gathered for backward before its forward");
                if (s[1] > 0) Fp8Quantizer.encode(masters, from + s[2], codes, own + s[2], s[1], scaleOf[k], format);
            }
            int half = (piece + 1) / 2;
            Tensor wire = Tensor.empty(DType.BF16, Category.COMMUNICATION, "gathered_unit8_wire", n * half);
            short[] w = wire.shortData();
            int wo = wire.offset() + rank * half;
            for (int i = 0; i < half; i++) {
                int lo = codes[own + 2 * i] & 0xFF, hi = 2 * i + 1 < piece ? codes[own + 2 * i + 1] & 0xFF : 0;
                w[wo + i] = (short) (lo | hi << 8);
            }
            codeWires[u] = wire;
            last = group.allGather16Async(w, wo, w, wire.offset(), half);
        }
        int q = exactPerRank[u];
        if (q > 0) {
            Tensor wire = Tensor.empty(DType.FP32, Category.COMMUNICATION, "gathered_unit_exact", n * q);
            float[] w = wire.data();
            int at = wire.offset() + rank * q;
            for (int k : layout.paramsOf[u]) {
                if (fp8[k]) continue;
                int[] s = slice(k, piece);
                System.arraycopy(masters, from + s[2], w, at, s[1]);
                at += s[1];
            }
            exactWires[u] = wire;
            last = group.allGatherAsync(w, wire.offset() + rank * q, w, wire.offset(), q);
        }
        if (last == null) last = Work.done();
        return buf;
    }

    /**
     * Parameter k's elements in this rank's piece of its unit: {first element within the parameter, count, offset in
     * the piece}.
     */
    private int[] slice(int k, int piece) {
        int lo = rank * piece, a = layout.offsetInUnit[k], b = a + layout.numel(k);
        int from = Math.max(a, lo), to = Math.min(b, lo + piece);
        return to <= from ? new int[] {0, 0, 0} : new int[] {from - a, to - from, from - lo};
    }

    /** The forward gather's scales: amaxes of this rank's pieces, their maximum over ranks, the recipe's rule. */
    private void agreeScales(int u, float[] masters, int from, int piece) {
        int[] ws = weightsOf[u];
        if (ws.length == 0) return;
        float[] amax = new float[ws.length];
        for (int i = 0; i < ws.length; i++) {
            int[] s = slice(ws[i], piece);
            amax[i] = Fp8Quantizer.amax(masters, from + s[2], s[1]);
        }
        group.allReduceMax(amax, 0, amax.length);
        for (int i = 0; i < ws.length; i++) {
            int k = ws[i];
            if (delayed) {
                String layer = state.layer(identities[k]);
                state.history(layer, TensorRole.INPUT); // created here in the order Fp8Linear creates them: same files
                var h = state.history(layer, TensorRole.WEIGHT);
                scaleOf[k] = h.scale();
                h.record(amax[i]);
            } else {
                scaleOf[k] = ScaleMath.current(amax[i], format.max);
            }
        }
    }

    private void agreeBlockScales(int u, float[] masters, int from, int piece) {
        int[] ws = weightsOf[u];
        if (ws.length == 0) return;
        int[][] slices = new int[ws.length][];
        for (int i = 0; i < ws.length; i++) slices[i] = slice(ws[i], piece);
        blocks.agree(ws, slices, masters, from);
    }

    @Override
    public Work lastIssued() {
        return last;
    }

    @Override
    public void decode(int u, Tensor buf, int[] params, int[] offsetInUnit, int[][] shapes, Map<Storage, Integer> unitOfStorage) {
        int p = layout.piece[u];
        if (fp32Gather[u]) { // MXFP8 backward: the non-Linear parameters copied where forward's references point
            if (decodedLength[u] == 0) return;
            Tensor d = Tensor.empty(DType.FP32, Category.COMMUNICATION, "gathered_unit_fp32", decodedLength[u]);
            for (int k : params) {
                if (!fp8[k]) System.arraycopy(buf.data(), buf.offset() + offsetInUnit[k], d.data(), d.offset() + decodedOffset[k], layout.numel(k));
            }
            decoded[u] = d;
            unitOfStorage.put(d.storage(), u);
            return;
        }
        if (codeWires[u] != null) {
            short[] w = codeWires[u].shortData();
            byte[] codes = buf.byteData();
            int half = (p + 1) / 2;
            for (int r = 0; r < n; r++) {
                if (r == rank) continue; // encoded in place
                int wo = codeWires[u].offset() + r * half, co = buf.offset() + r * p;
                for (int i = 0; i < p; i++) codes[co + i] = (byte) (w[wo + i / 2] >> (8 * (i & 1)));
            }
            codeWires[u].release();
            codeWires[u] = null;
        }
        if (decodedLength[u] > 0) {
            Tensor d = Tensor.empty(DType.FP32, Category.COMMUNICATION, "gathered_unit_fp32", decodedLength[u]);
            float[] w = exactWires[u].data();
            int q = exactPerRank[u];
            for (int r = 0; r < n; r++) {
                System.arraycopy(w, exactWires[u].offset() + r * q, d.data(), d.offset() + exactStart[u][r], exactCount[u][r]);
            }
            exactWires[u].release();
            exactWires[u] = null;
            decoded[u] = d;
            unitOfStorage.put(d.storage(), u);
        }
    }

    @Override
    public Tensor view(int u, int k, Tensor buf, int offsetInUnit, int[] shape) {
        return fp8[k] ? Tensor.view(buf, offsetInUnit, shape) : Tensor.view(decoded[u], decodedOffset[k], shape);
    }

    @Override
    public int paramAtDecoded(int u, int offset, int[] params) {
        return UnitFormat.decodedParamAt(fp8, decodedOffset, u, offset, params);
    }

    @Override
    public boolean isDecoded(int u, Tensor t) {
        return decoded[u] != null && t.storage() == decoded[u].storage();
    }

    @Override
    public Tensor decoded(int u) {
        return decoded[u];
    }

    @Override
    public void release(int u, Map<Storage, Integer> unitOfStorage) {
        buffers[u] = null;
        if (decoded[u] == null) return;
        unitOfStorage.remove(decoded[u].storage());
        decoded[u].release();
        decoded[u] = null;
    }

    /** Delayed scaling: the activations' and gradients' pending amaxes agreed (maximum over ranks) and recorded. */
    @Override
    public void passEnded() {
        if (!delayed) return;
        float[] pending = state.pendingAmaxes();
        if (pending.length == 0) return;
        group.allReduceMax(pending, 0, pending.length);
        state.recordAgreed(pending);
    }

    // ------------------------------------------------------------------------------------------ Fp8State.WeightSource

    /** The Linear weight {@code w} is a view of, in whatever buffer its unit is gathered in, or -1. */
    private int paramIn(Tensor w) {
        for (int u = 0; u < buffers.length; u++) {
            Tensor b = buffers[u];
            if (b == null || weightsOf[u].length == 0 || w.storage() != b.storage()) continue;
            int k = layout.paramAt(u, w.offset() - b.offset());
            return fp8[k] && layout.offsetInUnit[k] == w.offset() - b.offset() ? k : -1;
        }
        return -1;
    }

    @Override
    public Tensor identity(Tensor weight) {
        int k = paramIn(weight);
        return k < 0 ? null : identities[k];
    }

    @Override
    public Fp8Tensor quantized(Tensor weight) {
        int k = paramIn(weight);
        // MXFP8's backward gather is FP32: Fp8Linear quantizes that weight itself (column-wise, and row-wise to recompute)
        if (k < 0 || fp32Gather[layout.unitOfParam[k]]) return null;
        Tensor codes = Tensor.view(weight, 0, weight.shape());
        return blocked ? blocks.quantized(k, codes) : Fp8Tensor.perTensorOf(format, codes, scaleOf[k]);
    }

    /** MXFP8: every gathered Linear weight, codes or FP32, is saved whole and quantized column-wise in backward. */
    @Override
    public boolean quantizedInBackward(Tensor weight) {
        return fp32Backward && paramIn(weight) >= 0;
    }
}
