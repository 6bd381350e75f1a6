package dev.memwall.train;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.nn.FlatParameters;
import dev.memwall.sharding.HalfFormat;
import dev.memwall.sharding.ProcessGroup;
import dev.memwall.sharding.Work;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;

/**
 * ZeRO stages 1 and 2 under BF16/FP16 autocast: the parameter all-gather after the update moves the GEMM weights in
 * the working format (2 bytes) and only the other parameters in full FP32.
 *
 * <p><b>Why this changes nothing the step computes.</b> A GEMM weight (a 2-D parameter outside the embeddings) is read
 * only through autocast, which rounds it to the working format (nearest even) once per step; rounding a value that is
 * already that rounding gives it back. So a rank may hold another rank's GEMM weights as their rounded values, stored
 * in its FP32 flat buffer, and every GEMM sees the same operands as with an FP32 gather: training is bitwise the same.
 * The other parameters (layer norms, biases, embeddings) are read in FP32 and must arrive exact: each element travels
 * as the high 16 bits of its FP32 pattern in the same 16-bit buffer, and its low 16 bits in a second, compacted one.
 *
 * <p><b>What stays FP32 per rank.</b> The flat FP32 buffers of parameters and gradients as before (the model reads
 * them); this rank's own piece of the parameters is its exact FP32 master, which the optimizer updates. The bytes per
 * rank between steps are the FP32 formulas' (8Ψ + 8Ψ/N at stage 1, 4Ψ + 12Ψ/N at stage 2); only the other ranks' GEMM
 * weights hold rounded values. {@link #restoreMasters()} (an FP32 all-gather) makes every element exact again, which a
 * checkpoint does before it writes the model.
 *
 * <p><b>Bytes</b> (ring-equivalent, per group of pieces of p elements of which at most q are not GEMM weights on any
 * rank): (N−1)·2·p + (N−1)·2·q, against (N−1)·4·p in FP32.
 */
final class WorkingGather {
    private final ProcessGroup group;
    private final HalfFormat format;
    private final float[] values;
    /** Per group: start of rank 0's piece, the stride between ranks' pieces and the piece length. */
    private final int[] starts, strides, pieces, lowCounts;
    /** The FP32 layout {@link #restoreMasters()} gathers in place: rank r's piece at start + r·piece. */
    private final int[] wholeStarts, wholePieces;
    /** Flat elements that are not GEMM weights (sent whole). */
    private final BitSet exact = new BitSet();

    /** Stage 1: rank r owns [r·s, (r+1)·s), gathered in chunks of at most 2^20 / N elements per rank. */
    static WorkingGather ofShard(ProcessGroup group, HalfFormat format, FlatParameters params, int s) {
        int chunk = Math.max(1, CHUNK_ELEMENTS / group.worldSize()), count = Math.max(1, (s + chunk - 1) / chunk);
        int[] starts = new int[count], strides = new int[count], pieces = new int[count];
        for (int g = 0; g < count; g++) {
            starts[g] = g * chunk;
            strides[g] = s;
            pieces[g] = Math.min(chunk, s - g * chunk);
        }
        return new WorkingGather(group, format, params, starts, strides, pieces, new int[] {0}, new int[] {s});
    }

    /** Stage 2: rank r owns [b + r·len/N, b + (r+1)·len/N) of each bucket [b, b + len). */
    static WorkingGather ofBuckets(ProcessGroup group, HalfFormat format, FlatParameters params, int[] bucketStarts, int[] pieces) {
        return new WorkingGather(group, format, params, bucketStarts, pieces, pieces, bucketStarts, pieces);
    }

    /** Elements gathered at once (N pieces): 2 MiB of 16-bit buffer at stage 1; stage 2 goes by bucket. */
    static final int CHUNK_ELEMENTS = 1 << 20;

    private WorkingGather(ProcessGroup group, HalfFormat format, FlatParameters params, int[] starts, int[] strides,
                          int[] pieces, int[] wholeStarts, int[] wholePieces) {
        this.group = group;
        this.format = format;
        this.values = params.values().whole().data();
        this.starts = starts.clone();
        this.strides = strides.clone();
        this.pieces = pieces.clone();
        this.wholeStarts = wholeStarts.clone();
        this.wholePieces = wholePieces.clone();
        for (FlatParameters.Entry e : params.entries()) {
            if (!isGemmWeight(e)) exact.set(e.offset(), e.offset() + e.numel());
        }
        int n = group.worldSize();
        lowCounts = new int[starts.length];
        for (int g = 0; g < starts.length; g++) {
            for (int r = 0; r < n; r++) {
                int from = starts[g] + r * strides[g];
                lowCounts[g] = Math.max(lowCounts[g], exact.get(from, from + pieces[g]).cardinality());
            }
        }
    }

    /** A weight a GEMM reads through autocast: 2-D and not an embedding table (read by lookup, in FP32). */
    static boolean isGemmWeight(FlatParameters.Entry e) {
        return e.shape().length == 2 && !e.name().startsWith("tok.") && !e.name().startsWith("pos.");
    }

    /** Elements that travel whole (in two 16-bit halves) per group, the q of the byte formula. */
    int[] lowCounts() {
        return lowCounts.clone();
    }

    HalfFormat format() {
        return format;
    }

    /**
     * After the update: every rank's pieces gathered, GEMM weights in the working format, the rest exact. One group
     * (stage 2: one bucket) at a time, so its 16-bit buffers, 2·N·(p + q) bytes of COMMUNICATION, are all this adds.
     */
    void gather() {
        int n = group.worldSize(), rank = group.rank();
        for (int g = 0; g < starts.length; g++) {
            List<Work> works = new ArrayList<>(2);
            int p = pieces[g], q = lowCounts[g], own = starts[g] + rank * strides[g];
            Tensor high = Tensor.empty(GradientWire.dtype(format), Category.COMMUNICATION, "param_wire16", n * p);
            Tensor low = q == 0 ? null : Tensor.empty(GradientWire.dtype(format), Category.COMMUNICATION, "param_wire16_low", n * q);
            short[] h = high.shortData(), l = low == null ? null : low.shortData();
            int ho = high.offset(), lo = low == null ? 0 : low.offset();
            for (int i = 0, j = 0; i < p; i++) {
                float x = values[own + i];
                if (exact.get(own + i)) {
                    int bits = Float.floatToRawIntBits(x);
                    h[ho + rank * p + i] = (short) (bits >>> 16);
                    l[lo + rank * q + j++] = (short) bits;
                } else {
                    h[ho + rank * p + i] = format.fromFloat(x);
                }
            }
            works.add(group.allGather16Async(h, ho + rank * p, h, ho, p));
            if (low != null) works.add(group.allGather16Async(l, lo + rank * q, l, lo, q));
            for (Work w : works) w.await();
            for (int r = 0; r < n; r++) {
                if (r == rank) continue; // this rank's piece is its FP32 master: never overwritten
                int at = starts[g] + r * strides[g];
                for (int i = 0, j = 0; i < p; i++) {
                    short hi = h[ho + r * p + i];
                    values[at + i] = exact.get(at + i)
                            ? Float.intBitsToFloat((hi & 0xFFFF) << 16 | (l[lo + r * q + j++] & 0xFFFF))
                            : format.toFloat(hi);
                }
            }
            high.release();
            if (low != null) low.release();
        }
    }

    /** Every rank's pieces gathered in FP32: every element exact on every rank (a collective). */
    void restoreMasters() {
        int rank = group.rank();
        List<Work> works = new ArrayList<>();
        for (int g = 0; g < wholeStarts.length; g++) {
            works.add(group.allGatherAsync(values, wholeStarts[g] + rank * wholePieces[g], values, wholeStarts[g], wholePieces[g]));
        }
        for (Work w : works) w.await();
    }
}
