package dev.memwall.train;

import dev.memwall.precision.fp8.Fp8Format;
import dev.memwall.precision.fp8.Fp8Quantizer;
import dev.memwall.precision.fp8.Mxfp8BlockScaling;
import dev.memwall.precision.fp8.ScaleMath;
import dev.memwall.precision.fp8.Tiling;
import dev.memwall.sharding.ProcessGroup;

/**
 * MXFP8 at ZeRO stage 3 ({@link Fp8Units}): the row-wise blocks (32 elements of a row) of Linear weights whose elements
 * are split over the ranks' pieces. Their E8M0 scales are agreed block by block — each rank's partial amax, their
 * maximum over ranks — so each rank encodes its elements exactly as one process quantizing the whole weight would.
 */
final class Mxfp8Shards {
    static final Tiling ROWWISE = Mxfp8BlockScaling.rowwise();

    private final ProcessGroup group;
    private final UnitLayout layout;
    private final Fp8Format format;
    /** Per parameter: the E8M0 codes of its row-wise blocks from its unit's last forward gather. */
    private final byte[][] scales;

    Mxfp8Shards(ProcessGroup group, UnitLayout layout, Fp8Format format) {
        this.group = group;
        this.layout = layout;
        this.format = format;
        this.scales = new byte[layout.count()][];
    }

    /** Row-wise blocks of parameter k, a [rows, cols] weight: rows·⌈cols/32⌉. */
    int blockCount(int k) {
        return layout.shapes[k][0] * ROWWISE.tilesAcross(layout.shapes[k][1]);
    }

    /**
     * A unit's forward gather: for its Linear weights {@code ws}, each with this rank's slice {first element, count,
     * offset in the piece} in {@code slices}, the amax of this rank's part of every block (0 where it holds none),
     * their maximum over ranks (one allReduceMax of a float per block), and each block's E8M0 scale by the recipe's rule.
     */
    void agree(int[] ws, int[][] slices, float[] masters, int from) {
        int total = 0;
        for (int k : ws) total += blockCount(k);
        float[] amax = new float[total];
        int base = 0;
        for (int w = 0; w < ws.length; w++) {
            int k = ws[w], cols = layout.shapes[k][1], across = ROWWISE.tilesAcross(cols);
            int[] s = slices[w];
            for (int i = 0; i < s[1]; i++) {
                int e = s[0] + i, block = base + e / cols * across + e % cols / ROWWISE.tileCols();
                amax[block] = Math.max(amax[block], Math.abs(masters[from + s[2] + i])); // NaN wins, as in the quantizer
            }
            base += blockCount(k);
        }
        group.allReduceMax(amax, 0, amax.length);
        base = 0;
        for (int k : ws) {
            byte[] codes = new byte[blockCount(k)];
            for (int j = 0; j < codes.length; j++) codes[j] = ScaleMath.e8m0Up(amax[base + j], format);
            scales[k] = codes;
            base += codes.length;
        }
    }

    /** Parameter k's elements in this rank's slice {@code s} encoded block by block with the agreed scales. */
    void encode(int k, int[] s, float[] masters, int from, byte[] codes, int own) {
        if (scales[k] == null) throw new IllegalStateException(layout.names[k] + " gathered in FP8 before its scales were agreed");
        int cols = layout.shapes[k][1], across = ROWWISE.tilesAcross(cols), tile = ROWWISE.tileCols();
        for (int i = 0; i < s[1]; ) {
            int e = s[0] + i, col = e % cols;
            int run = Math.min(s[1] - i, Math.min(cols, (col / tile + 1) * tile) - col); // to the end of the block
            double m = ScaleMath.e8m0Multiplier(scales[k][e / cols * across + col / tile]);
            Fp8Quantizer.encode(masters, from + s[2] + i, codes, own + s[2] + i, run, (float) m, format); // a power of two: exact as float
            i += run;
        }
    }

    /** Parameter k's agreed E8M0 block scales, row-major [rows, ⌈cols/32⌉]. */
    byte[] scales(int k) {
        return scales[k];
    }
}
