package dev.memwall.train;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Storage;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.sharding.HalfFormat;
import dev.memwall.sharding.ProcessGroup;
import dev.memwall.sharding.Work;

import java.util.Map;

/**
 * ZeRO stage 3 under BF16/FP16 autocast: each unit is all-gathered in the working format, FSDP's {@code param_dtype}.
 * The FP32 shard stays the master; each rank rounds its piece once (round to nearest even) into its place in the
 * unit's 16-bit COMMUNICATION buffer and the all-gather moves 2 bytes per parameter.
 *
 * <p><b>No second copy for the GEMMs.</b> A GEMM weight (a 2-D parameter outside the embedding unit: the Linear
 * weights and the LM head) becomes a view of that buffer, in the working format, standing for its parameter's leaf.
 * Autocast's cache only holds FP32 leaves; a 16-bit operand is already in the region's format and goes to the GEMM as
 * it is ({@code FormatCast.castActivation} returns it), and its node saves it by (unit, offset) like any gathered
 * parameter. The weight gradient a GEMM computes is FP32 and reaches the leaf's gradient-ready hook as at FP32.
 *
 * <p><b>Everything else</b> (layer-norm weights and biases, Linear biases, the embeddings) is read by memwall's FP32
 * kernels, so it is decoded from the gathered 16-bit values into one FP32 COMMUNICATION buffer per unit, released with
 * the unit. Those parameters are therefore used at the working format's precision at stage 3, as FSDP does with
 * {@code param_dtype=bf16} (stages 0–2 use them in FP32, as autocast does): that, and the rounding of the GEMM
 * weights' copies from the same FP32 masters, is the whole difference to a single BF16 process.
 */
final class WorkingUnits implements UnitFormat {
    private final HalfFormat format;
    private final ProcessGroup group;
    private final boolean[] gemm;
    private final int[] decodedOffset, decodedLength;
    private final Tensor[] decoded;
    private Work last;

    WorkingUnits(HalfFormat format, ProcessGroup group, int units, int[] unitOfParam, int[][] shapes) {
        this.format = format;
        this.group = group;
        int count = unitOfParam.length;
        gemm = new boolean[count];
        decodedOffset = new int[count];
        decodedLength = new int[units];
        for (int k = 0; k < count; k++) {
            gemm[k] = shapes[k].length == 2 && unitOfParam[k] != 0; // unit 0: the embedding tables, read by lookup
            if (gemm[k]) continue;
            decodedOffset[k] = decodedLength[unitOfParam[k]];
            decodedLength[unitOfParam[k]] += numel(shapes[k]);
        }
        decoded = new Tensor[units];
    }

    HalfFormat format() {
        return format;
    }

    /** Whether parameter k is used as a 16-bit view (a GEMM weight) rather than decoded to FP32. */
    boolean isGemmWeight(int k) {
        return gemm[k];
    }

    /**
     * Starts unit u's gather: this rank's FP32 piece {@code masters[from, from + piece)} rounded into its place of a
     * fresh 16-bit buffer of N·piece elements, then an in-place 16-bit all-gather ({@link #lastIssued()}).
     */
    @Override
    public Tensor issue(int u, float[] masters, int from, int piece, boolean forward) {
        int n = group.worldSize();
        Tensor buf = Tensor.empty(GradientWire.dtype(format), Category.COMMUNICATION, "gathered_unit16", n * piece);
        short[] s = buf.shortData();
        int own = buf.offset() + group.rank() * piece;
        format.encode(masters, from, s, own, piece);
        last = group.allGather16Async(s, own, s, buf.offset(), piece);
        return buf;
    }

    @Override
    public Work lastIssued() {
        return last;
    }

    /** Once unit u is gathered: its non-GEMM parameters decoded into one FP32 buffer, registered as the unit's. */
    @Override
    public void decode(int u, Tensor buf, int[] params, int[] offsetInUnit, int[][] shapes, Map<Storage, Integer> unitOfStorage) {
        if (decodedLength[u] == 0) return;
        Tensor d = Tensor.empty(DType.FP32, Category.COMMUNICATION, "gathered_unit_fp32", decodedLength[u]);
        for (int k : params) {
            if (!gemm[k]) format.decode(buf.shortData(), buf.offset() + offsetInUnit[k], d.data(), d.offset() + decodedOffset[k], numel(shapes[k]));
        }
        decoded[u] = d;
        unitOfStorage.put(d.storage(), u);
    }

    /** Parameter k of unit u, once gathered: a 16-bit view for a GEMM weight, else a view of the decoded copy. */
    @Override
    public Tensor view(int u, int k, Tensor buf, int offsetInUnit, int[] shape) {
        return gemm[k] ? Tensor.view(buf, offsetInUnit, shape) : Tensor.view(decoded[u], decodedOffset[k], shape);
    }

    /** The non-GEMM parameter of {@code params} (unit u's, model order) whose decoded elements include {@code offset}. */
    @Override
    public int paramAtDecoded(int u, int offset, int[] params) {
        return UnitFormat.decodedParamAt(gemm, decodedOffset, u, offset, params);
    }

    /** Elements of unit u's decoded FP32 copy: its parameters that are not GEMM weights. */
    int decodedLength(int u) {
        return decodedLength[u];
    }

    @Override
    public boolean isDecoded(int u, Tensor t) {
        return decoded[u] != null && t.storage() == decoded[u].storage();
    }

    @Override
    public Tensor decoded(int u) {
        return decoded[u];
    }

    /** Releases unit u's decoded copy (with its gathered buffer). */
    @Override
    public void release(int u, Map<Storage, Integer> unitOfStorage) {
        if (decoded[u] == null) return;
        unitOfStorage.remove(decoded[u].storage());
        decoded[u].release();
        decoded[u] = null;
    }

    private static int numel(int[] shape) {
        int n = 1;
        for (int d : shape) n *= d;
        return n;
    }
}
