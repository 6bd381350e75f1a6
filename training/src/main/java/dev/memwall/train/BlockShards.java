package dev.memwall.train;

import dev.memwall.autograd.Tensor;
import dev.memwall.precision.fp8.Fp8Format;
import dev.memwall.precision.fp8.Fp8Quantizer;
import dev.memwall.precision.fp8.Fp8Tensor;
import dev.memwall.precision.fp8.ScaleMath;
import dev.memwall.precision.fp8.ScaleRule;
import dev.memwall.precision.fp8.Tiling;
import dev.memwall.sharding.ProcessGroup;

/**
 * Block-scaled FP8 at ZeRO stage 3 ({@link Fp8Units}): the blocks of Linear weights whose elements are split over the
 * ranks' pieces — MXFP8's row-wise 1×32 blocks (E8M0 scales, rounded up), or block scaling's 128×128 blocks (FP32
 * powers of two, rounded down). Their scales are agreed block by block — each rank's partial amax, their maximum over
 * ranks — so each rank encodes its elements exactly as one process quantizing the whole weight would.
 */
final class BlockShards {
    private final ProcessGroup group;
    private final UnitLayout layout;
    private final Fp8Format format;
    private final Tiling tiling;
    private final ScaleRule rule;
    /** Per parameter: the multipliers of its blocks from its unit's last forward gather (a power of two each). */
    private final float[][] multipliers;
    /** Per parameter, E8M0 only: the scale codes those multipliers came from. */
    private final byte[][] codes;

    BlockShards(ProcessGroup group, UnitLayout layout, Fp8Format format, Tiling tiling, ScaleRule rule) {
        if (rule != ScaleRule.E8M0_UP && rule != ScaleRule.POWER_OF_TWO_DOWN) {
            throw new IllegalArgumentException("block shards: a power-of-two scale rule, not " + rule);
        }
        this.group = group;
        this.layout = layout;
        this.format = format;
        this.tiling = tiling;
        this.rule = rule;
        this.multipliers = new float[layout.count()][];
        this.codes = new byte[layout.count()][];
    }

    /** Blocks of parameter k, a [rows, cols] weight: ⌈rows/tileRows⌉·⌈cols/tileCols⌉. */
    int blockCount(int k) {
        return tiling.tilesDown(layout.shapes[k][0]) * tiling.tilesAcross(layout.shapes[k][1]);
    }

    private int blockOf(int e, int cols, int across) {
        return e / cols / tiling.tileRows() * across + e % cols / tiling.tileCols();
    }

    /**
     * A unit's forward gather: for its Linear weights {@code ws}, each with this rank's slice {first element, count,
     * offset in the piece} in {@code slices}, the amax of this rank's part of every block (0 where it holds none),
     * their maximum over ranks (one allReduceMax of a float per block), and each block's scale by the recipe's rule.
     */
    void agree(int[] ws, int[][] slices, float[] masters, int from) {
        int total = 0;
        for (int k : ws) total += blockCount(k);
        float[] amax = new float[total];
        int base = 0;
        for (int w = 0; w < ws.length; w++) {
            int k = ws[w], cols = layout.shapes[k][1], across = tiling.tilesAcross(cols);
            int[] s = slices[w];
            for (int i = 0; i < s[1]; i++) {
                int block = base + blockOf(s[0] + i, cols, across);
                amax[block] = Math.max(amax[block], Math.abs(masters[from + s[2] + i])); // NaN wins, as in the quantizer
            }
            base += blockCount(k);
        }
        group.allReduceMax(amax, 0, amax.length);
        base = 0;
        for (int k : ws) {
            int b = blockCount(k);
            float[] m = new float[b];
            byte[] c = rule == ScaleRule.E8M0_UP ? new byte[b] : null;
            for (int j = 0; j < b; j++) {
                if (c != null) {
                    c[j] = ScaleMath.e8m0Up(amax[base + j], format);
                    m[j] = (float) ScaleMath.e8m0Multiplier(c[j]); // a power of two in 2^-127..2^127 (or NaN): exact as float
                } else {
                    m[j] = ScaleMath.powerOfTwoDown(amax[base + j], format.max);
                }
            }
            multipliers[k] = m;
            codes[k] = c;
            base += b;
        }
    }

    /** Parameter k's elements in this rank's slice {@code s} encoded block by block with the agreed scales. */
    void encode(int k, int[] s, float[] masters, int from, byte[] out, int own) {
        if (multipliers[k] == null) throw new IllegalStateException(layout.names[k] + " gathered in FP8 before its scales were agreed");
        int cols = layout.shapes[k][1], across = tiling.tilesAcross(cols), tile = tiling.tileCols();
        for (int i = 0; i < s[1]; ) {
            int e = s[0] + i, col = e % cols;
            int run = Math.min(s[1] - i, (int) Math.min(cols, (long) (col / tile + 1) * tile) - col); // to the block's end in the row
            Fp8Quantizer.encode(masters, from + s[2] + i, out, own + s[2] + i, run, multipliers[k][blockOf(e, cols, across)], format);
            i += run;
        }
    }

    /** Parameter k's gathered codes {@code weightCodes} with its agreed block scales, as one process quantizes it. */
    Fp8Tensor quantized(int k, Tensor weightCodes) {
        return codes[k] != null ? Fp8Tensor.mxOf(format, weightCodes, tiling, codes[k], 0)
                : Fp8Tensor.blockOf(format, weightCodes, tiling, multipliers[k], 0);
    }
}
