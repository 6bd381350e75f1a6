package dev.memwall.optim;

import dev.memwall.format.Bf16;
import dev.memwall.format.Blockwise8;
import dev.memwall.format.DynamicMap;
import dev.memwall.format.Overflow;
import dev.memwall.kernels.Parallel;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.FlatParameters;

import java.util.ArrayList;
import java.util.List;

/**
 * AdamW's moments m and v over a {@link Shard}, kept compact, with the update fused per block: decode m and v,
 * the FP32 AdamW step, encode again, in one pass over each block (bitsandbytes'
 * {@code _optimizer_update_8bit_blockwise_cpu} dequantizes whole tensors first; here a block's 2 × 256 floats of
 * scratch are all that is ever FP32).
 *
 * <ul>
 * <li>{@link StateFormat#BF16}: one BF16 value per element (round to nearest even): half of FP32's bytes.</li>
 * <li>{@link StateFormat#INT8}: block-wise 8-bit (Dettmers et al. 2021): blocks of 256 with an FP32 absmax each and a
 * byte code per element into the signed dynamic map (m) or the unsigned one (v). A parameter of fewer than
 * {@link #MIN_8BIT_SIZE} elements keeps FP32 moments (bitsandbytes' {@code min_8bit_size}); the size is the whole
 * parameter's, whatever part of it this shard holds, so sharding never changes which parameters are 8-bit. Blocks
 * start at multiples of 256 from the parameter's first element, like bitsandbytes' per-tensor blocks, and are also
 * cut where the shard's segments end: an absmax never spans two ranks. Where every shard boundary lies on a block
 * boundary, the sharded state is exactly one process's.</li>
 * </ul>
 * The bytes are counted under OPTIMIZER_STATE with the tracker current at construction.
 */
final class CompressedMoments {
    /** Parameters with fewer elements keep FP32 moments under INT8 (bitsandbytes' {@code min_8bit_size}). */
    static final int MIN_8BIT_SIZE = 4096;

    private static final byte FP32 = 0, EIGHT_BIT = 1, SIXTEEN_BIT = 2;

    private final StateFormat format;
    private final MemoryTracker tracker;
    private final long bytes;
    /** Per piece (at most one block): state index, flat parameter index, gradient index, length, kind, storage offset, block. */
    private final int[] state, param, grad, len, store, block;
    private final byte[] kind;
    private final int size;
    private byte[] mCodes, vCodes;
    private float[] mAbsmax, vAbsmax, mExact, vExact;
    private short[] m16, v16;
    private boolean released;

    CompressedMoments(FlatParameters params, Shard shard, StateFormat format) {
        if (format == StateFormat.FP32) throw new IllegalArgumentException("FP32 moments are AdamW's own tensors");
        this.format = format;
        List<int[]> pieces = new ArrayList<>();
        int[] counts = new int[3]; // 8-bit elements, blocks, FP32 elements
        List<FlatParameters.Entry> entries = params.entries();
        int s = 0;
        for (int k = 0; k < shard.starts().length; k++) {
            int from = shard.starts()[k], end = from + shard.lengths()[k], gradDelta = shard.gradStarts()[k] - from;
            int at = from;
            while (at < end) {
                FlatParameters.Entry e = entryAt(entries, at);
                int pieceEnd, kindOf;
                if (format == StateFormat.BF16) {
                    pieceEnd = Math.min(end, at + Blockwise8.BLOCK);
                    kindOf = SIXTEEN_BIT;
                } else if (e != null && e.numel() >= MIN_8BIT_SIZE) {
                    int next = e.offset() + ((at - e.offset()) / Blockwise8.BLOCK + 1) * Blockwise8.BLOCK;
                    pieceEnd = Math.min(end, Math.min(next, e.offset() + e.numel()));
                    kindOf = EIGHT_BIT;
                } else { // a small parameter, or padding that belongs to none
                    int stop = e == null ? nextEntryStart(entries, at, end) : e.offset() + e.numel();
                    pieceEnd = Math.min(end, Math.min(stop, at + Blockwise8.BLOCK));
                    kindOf = FP32;
                }
                int n = pieceEnd - at;
                int storeAt = kindOf == EIGHT_BIT ? counts[0] : kindOf == FP32 ? counts[2] : s;
                pieces.add(new int[]{s, at, at + gradDelta, n, kindOf, storeAt, kindOf == EIGHT_BIT ? counts[1] : -1});
                if (kindOf == EIGHT_BIT) {
                    counts[0] += n;
                    counts[1]++;
                } else if (kindOf == FP32) {
                    counts[2] += n;
                }
                s += n;
                at = pieceEnd;
            }
        }
        size = s;
        int p = pieces.size();
        state = new int[p];
        param = new int[p];
        grad = new int[p];
        len = new int[p];
        store = new int[p];
        block = new int[p];
        kind = new byte[p];
        for (int i = 0; i < p; i++) {
            int[] q = pieces.get(i);
            state[i] = q[0];
            param[i] = q[1];
            grad[i] = q[2];
            len[i] = q[3];
            kind[i] = (byte) q[4];
            store[i] = q[5];
            block[i] = q[6];
        }
        if (format == StateFormat.BF16) {
            m16 = new short[size];
            v16 = new short[size];
            bytes = 2L * Short.BYTES * size;
        } else {
            mCodes = new byte[counts[0]];
            vCodes = new byte[counts[0]];
            mAbsmax = new float[counts[1]];
            vAbsmax = new float[counts[1]];
            mExact = new float[counts[2]];
            vExact = new float[counts[2]];
            // zero moments: absmax 0 decodes every code to 0, but the codes should be zero's too
            java.util.Arrays.fill(mCodes, (byte) DynamicMap.SIGNED.zeroCode());
            java.util.Arrays.fill(vCodes, (byte) DynamicMap.UNSIGNED.zeroCode());
            bytes = 2L * (counts[0] + (long) Float.BYTES * counts[1] + (long) Float.BYTES * counts[2]);
        }
        tracker = MemoryTracker.current();
        tracker.allocated(Category.OPTIMIZER_STATE, bytes, "adamw." + format.label() + "_moments");
    }

    private static FlatParameters.Entry entryAt(List<FlatParameters.Entry> entries, int at) {
        int lo = 0, hi = entries.size() - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            FlatParameters.Entry e = entries.get(mid);
            if (at < e.offset()) hi = mid - 1;
            else if (at >= e.offset() + e.numel()) lo = mid + 1;
            else return e;
        }
        return null;
    }

    private static int nextEntryStart(List<FlatParameters.Entry> entries, int at, int end) {
        int best = end;
        for (FlatParameters.Entry e : entries) if (e.offset() > at) best = Math.min(best, e.offset());
        return best;
    }

    /** Bytes of both moments (counted under OPTIMIZER_STATE). */
    long bytes() {
        return bytes;
    }

    /** Elements whose moments are 8-bit (INT8), for tests and reports. */
    int eightBitElements() {
        return mCodes == null ? 0 : mCodes.length;
    }

    /** Absmax blocks per moment (INT8). */
    int blocks() {
        return mAbsmax == null ? 0 : mAbsmax.length;
    }

    /** One AdamW step over every piece, decode → FP32 update (AdamW's formula, as its kernel) → encode. */
    void update(float[] values, float[] grads, double lr, double beta1, double beta2, double eps, double weightDecay, long step) {
        check();
        float stepSize = (float) (lr / (1.0 - Math.pow(beta1, step)));
        float bc2Sqrt = (float) Math.sqrt(1.0 - Math.pow(beta2, step));
        float decay = (float) (1.0 - lr * weightDecay);
        float b1 = (float) beta1, b2 = (float) beta2, c1 = (float) (1.0 - beta1), c2 = (float) (1.0 - beta2);
        float epsF = (float) eps;
        Parallel.range(len.length, 8L * Blockwise8.BLOCK, (from, to) -> {
            float[] m = new float[Blockwise8.BLOCK], v = new float[Blockwise8.BLOCK];
            for (int i = from; i < to; i++) {
                int n = len[i];
                load(i, m, v);
                int p = param[i], g = grad[i];
                for (int j = 0; j < n; j++) { // AdamWKernel's body (ScalarKernels.adamw), on the decoded block
                    float gi = grads[g + j];
                    float mi = b1 * m[j] + c1 * gi;
                    float vi = b2 * v[j] + c2 * gi * gi;
                    m[j] = mi;
                    v[j] = vi;
                    float denom = (float) Math.sqrt(vi) / bc2Sqrt + epsF;
                    values[p + j] = values[p + j] * decay - stepSize * mi / denom;
                }
                storeBack(i, m, v);
            }
        });
    }

    private void load(int i, float[] m, float[] v) {
        int n = len[i], at = store[i];
        switch (kind[i]) {
            case SIXTEEN_BIT -> {
                Bf16.decode(m16, at, m, 0, n);
                Bf16.decode(v16, at, v, 0, n);
            }
            case EIGHT_BIT -> {
                Blockwise8.dequantizeBlock(mCodes, at, n, mAbsmax[block[i]], DynamicMap.SIGNED, m, 0);
                Blockwise8.dequantizeBlock(vCodes, at, n, vAbsmax[block[i]], DynamicMap.UNSIGNED, v, 0);
            }
            default -> {
                System.arraycopy(mExact, at, m, 0, n);
                System.arraycopy(vExact, at, v, 0, n);
            }
        }
    }

    private void storeBack(int i, float[] m, float[] v) {
        int n = len[i], at = store[i];
        switch (kind[i]) {
            case SIXTEEN_BIT -> {
                Bf16.encode(m, 0, m16, at, n, Overflow.NON_SATURATE);
                Bf16.encode(v, 0, v16, at, n, Overflow.NON_SATURATE);
            }
            case EIGHT_BIT -> {
                mAbsmax[block[i]] = Blockwise8.quantizeBlock(m, 0, n, DynamicMap.SIGNED, mCodes, at);
                vAbsmax[block[i]] = Blockwise8.quantizeBlock(v, 0, n, DynamicMap.UNSIGNED, vCodes, at);
            }
            default -> {
                System.arraycopy(m, 0, mExact, at, n);
                System.arraycopy(v, 0, vExact, at, n);
            }
        }
    }

    /**
     * The moments as FP32 values in state order (what they decode to), and for INT8 each element's block absmax (0 for
     * an FP32 element): {@code out[0]} m, {@code out[1]} v, {@code out[2]} m's absmax, {@code out[3]} v's. Exactly
     * what {@link #importFrom} needs to rebuild the same bytes.
     */
    void exportTo(float[][] out) {
        check();
        float[] m = new float[Blockwise8.BLOCK], v = new float[Blockwise8.BLOCK];
        for (int i = 0; i < len.length; i++) {
            load(i, m, v);
            System.arraycopy(m, 0, out[0], state[i], len[i]);
            System.arraycopy(v, 0, out[1], state[i], len[i]);
            if (format == StateFormat.INT8) {
                java.util.Arrays.fill(out[2], state[i], state[i] + len[i], kind[i] == EIGHT_BIT ? mAbsmax[block[i]] : 0f);
                java.util.Arrays.fill(out[3], state[i], state[i] + len[i], kind[i] == EIGHT_BIT ? vAbsmax[block[i]] : 0f);
            }
        }
    }

    /**
     * Rebuilds the moments from {@link #exportTo}'s arrays. An 8-bit block whose saved absmax is the same for all its
     * elements (saved with the same block layout) is encoded against it, which gives back the saved codes exactly;
     * one that spans differently cut blocks (resharded at another boundary) is quantized afresh from its values.
     */
    void importFrom(float[][] in) {
        check();
        for (int i = 0; i < len.length; i++) {
            int n = len[i], at = store[i], s = state[i];
            switch (kind[i]) {
                case SIXTEEN_BIT -> {
                    Bf16.encode(in[0], s, m16, at, n, Overflow.NON_SATURATE);
                    Bf16.encode(in[1], s, v16, at, n, Overflow.NON_SATURATE);
                }
                case EIGHT_BIT -> {
                    mAbsmax[block[i]] = reencode(in[0], in[2], s, n, DynamicMap.SIGNED, mCodes, at);
                    vAbsmax[block[i]] = reencode(in[1], in[3], s, n, DynamicMap.UNSIGNED, vCodes, at);
                }
                default -> {
                    System.arraycopy(in[0], s, mExact, at, n);
                    System.arraycopy(in[1], s, vExact, at, n);
                }
            }
        }
    }

    private static float reencode(float[] values, float[] absmax, int s, int n, DynamicMap map, byte[] codes, int at) {
        float a = absmax[s];
        boolean same = true;
        for (int j = 1; j < n && same; j++) same = absmax[s + j] == a;
        if (!same || !(a >= 0)) return Blockwise8.quantizeBlock(values, s, n, map, codes, at);
        Blockwise8.encode(values, s, n, a, map, codes, at);
        return a;
    }

    /** Elements of state (the shard's size). */
    int size() {
        return size;
    }

    StateFormat format() {
        return format;
    }

    void release() {
        if (released) return;
        released = true;
        tracker.released(Category.OPTIMIZER_STATE, bytes, "adamw." + format.label() + "_moments.release");
        mCodes = vCodes = null;
        mAbsmax = vAbsmax = mExact = vExact = null;
        m16 = v16 = null;
    }

    private void check() {
        if (released) throw new IllegalStateException("the optimizer's state was released");
    }
}
