package dev.memwall.precision.fp8;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** MXFP8 and DeepSeek-V3 block scaling against a double-precision model of each recipe. */
class BlockRecipesTest {

    /** The model's MX exponent: the smallest e in [-127, 127] with fp8_max · 2^e ≥ amax (NaN code for non-finite). */
    static int mxExponent(double amax, Fp8Reference ref) {
        if (!Double.isFinite(amax)) return Integer.MIN_VALUE;
        for (int e = -127; e <= 127; e++) if (ref.max() * Math.pow(2, e) >= amax) return e;
        throw new AssertionError("amax " + amax + " beyond E8M0");
    }

    /** The model's block scale: the largest power of two p ≤ 2^127 with p · amax ≤ fp8_max (1 for 0 or non-finite). */
    static double pow2Scale(double amax, Fp8Reference ref) {
        if (!Double.isFinite(amax) || amax == 0) return 1;
        for (int e = 127; e >= -149; e--) if (Math.pow(2, e) * amax <= ref.max()) return Math.pow(2, e);
        throw new AssertionError();
    }

    /** Checks every tile of {@code q} (of the [rows, cols] matrix x) against the model; the multiplier per tile given. */
    static void assertTiles(float[] x, int rows, int cols, Fp8Tensor q, boolean mx) {
        Fp8Reference ref = Fp8Reference.of(q.format());
        Tiling t = q.tiling();
        float[] deq = q.dequantize().data();
        for (int i = 0; i < t.tilesDown(rows); i++) {
            for (int j = 0; j < t.tilesAcross(cols); j++) {
                int r0 = i * t.tileRows(), r1 = Math.min(rows, r0 + t.tileRows());
                int c0 = j * t.tileCols(), c1 = Math.min(cols, c0 + t.tileCols());
                double amax = 0;
                for (int r = r0; r < r1; r++) for (int c = c0; c < c1; c++) amax = Math.max(amax, Math.abs((double) x[r * cols + c]));
                double m;
                if (mx) {
                    int e = mxExponent(amax, ref);
                    assertThat(q.scales().byteData()[i * t.tilesAcross(cols) + j] & 0xFF).as("E8M0 of tile %d,%d", i, j).isEqualTo(e + 127);
                    m = Math.pow(2, -e);
                } else {
                    m = pow2Scale(amax, ref);
                    assertThat((double) q.scales().data()[i * t.tilesAcross(cols) + j]).as("scale of tile %d,%d", i, j).isEqualTo(m);
                }
                for (int r = r0; r < r1; r++) {
                    for (int c = c0; c < c1; c++) {
                        int k = r * cols + c;
                        int want = ref.round(x[k] * m);
                        assertThat(q.codes().byteData()[k] & 0xFF).as("code (%d,%d)", r, c).isEqualTo(want);
                        assertThat(deq[k]).as("dequantized (%d,%d)", r, c).isEqualTo((float) (ref.value(want) / m));
                    }
                }
            }
        }
    }

    @Test
    void mxfp8RowAndColumnWiseMatchTheReferenceInBothFormats() {
        int rows = 48, cols = 80; // 80 = two blocks of 32 and a tail of 16
        float[] x = Fp8Reference.data(3, rows * cols, 0.1f);
        try (Scope s = Scope.open()) {
            for (Fp8Format f : Fp8Format.values()) {
                for (Tiling t : new Tiling[]{Mxfp8BlockScaling.rowwise(), Mxfp8BlockScaling.columnwise()}) {
                    Fp8Tensor q = Fp8Quantizer.tiled(Tensor.of(x, rows, cols), f, t, ScaleRule.E8M0_UP);
                    assertTiles(x, rows, cols, q, true);
                    double theory = 10 * Math.log10(3 * Math.pow(4, Fp8Reference.of(f).manBits() + 1));
                    assertThat(Fp8Reference.sqnrDb(x, q.dequantize().data())).as("SQNR %s %s", f, t).isGreaterThan(theory - 1.5);
                }
            }
        }
    }

    @Test
    void mxScaleIsRoundedUpSoABlockMaximumNearAPowerOfTwoNeverSaturates() {
        // Block maxima at, just above and just below the powers of two around E4M3's max (448 = 1.75·2^8) and E5M2's.
        float[] maxima = {448f, Math.nextUp(448f), 464f, 465f, 480f, 500f, Math.nextDown(512f), 512f, Math.nextUp(512f), 896f,
                Math.nextUp(896f), 0.875f, 1f, 57344f, 60000f, Math.nextDown(65536f), 65536f, 1e-30f, 3e38f};
        try (Scope s = Scope.open()) {
            for (Fp8Format f : Fp8Format.values()) {
                for (float max : maxima) {
                    float[] x = Fp8Reference.data(7, 32, max / 8);
                    for (int k = 0; k < 32; k++) x[k] = Math.max(-max / 2, Math.min(max / 2, x[k]));
                    x[13] = -max;
                    Fp8Tensor q = Fp8Quantizer.tiled(Tensor.of(x, 1, 32), f, Mxfp8BlockScaling.rowwise(), ScaleRule.E8M0_UP);
                    assertTiles(x, 1, 32, q, true);
                    double back = q.dequantize().data()[13];
                    // Not clipped: within half an ulp of the format, as any in-range value.
                    assertThat(Math.abs(back + max) / max).as("%s block max %s", f, max).isLessThanOrEqualTo(Math.pow(2, -(Fp8Reference.of(f).manBits() + 1)));
                    // The floor rule of the OCP specification: 2^(floor(log2 amax) − maxExponent). In [448, 512) it
                    // leaves the maximum above 448 and the cast clips it.
                    int floorExp = Math.getExponent(max) - f.maxExponent;
                    double floorScaled = max / Math.pow(2, floorExp);
                    if (f == Fp8Format.E4M3 && max >= 465f && max < 512f) assertThat(floorScaled).isGreaterThan(f.max + 16);
                }
            }
        }
    }

    @Test
    void columnWiseMustBeQuantizedFromTheFp32TensorNotFromTheRowWiseOne() {
        // Rows of very different magnitudes (as activations of different tokens): a row block is homogeneous, a column
        // block mixes them, so its small elements land in FP8's subnormals. Row- and column-wise codes differ, and a
        // column-wise quantization made from the row-wise one rounds twice.
        int rows = 64, cols = 64;
        float[] x = Fp8Reference.data(9, rows * cols, 1f);
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) x[r * cols + c] *= (float) Math.pow(2, -(r % 16));
        try (Scope s = Scope.open()) {
            Tensor xt = Tensor.of(x, rows, cols);
            Fp8Tensor row = Fp8Quantizer.tiled(xt, Fp8Format.E4M3, Mxfp8BlockScaling.rowwise(), ScaleRule.E8M0_UP);
            Fp8Tensor col = Fp8Quantizer.tiled(xt, Fp8Format.E4M3, Mxfp8BlockScaling.columnwise(), ScaleRule.E8M0_UP);
            Fp8Tensor colFromRow = Fp8Quantizer.tiled(row.dequantize(), Fp8Format.E4M3, Mxfp8BlockScaling.columnwise(), ScaleRule.E8M0_UP);
            float[] rowBack = row.dequantize().data(), colBack = col.dequantize().data(), twiceBack = colFromRow.dequantize().data();
            assertThat(java.util.Arrays.equals(rowBack, colBack)).as("row- and column-wise dequantize alike").isFalse();
            assertThat(java.util.Arrays.equals(colBack, twiceBack)).as("column-wise from FP32 and from the row-wise codes alike").isFalse();
            assertTiles(x, rows, cols, col, true);
            double rowSqnr = Fp8Reference.sqnrDb(x, rowBack), colSqnr = Fp8Reference.sqnrDb(x, colBack);
            double twiceSqnr = Fp8Reference.sqnrDb(x, twiceBack);
            assertThat(twiceSqnr).as("rounding twice costs accuracy").isLessThan(colSqnr);
            assertThat(rowSqnr).isGreaterThan(colSqnr);
        }
    }

    @Test
    void blockScalingMatchesTheReferenceForActivationAndWeightTiles() {
        BlockScaling recipe = new BlockScaling();
        int rows = 200, cols = 300; // tails in both directions
        float[] x = Fp8Reference.data(4, rows * cols, 0.05f);
        try (Scope s = Scope.open()) {
            for (Tiling t : new Tiling[]{recipe.activationRowwise(), recipe.activationColumnwise(), recipe.weight()}) {
                for (Fp8Format f : Fp8Format.values()) {
                    Fp8Tensor q = Fp8Quantizer.tiled(Tensor.of(x, rows, cols), f, t, ScaleRule.POWER_OF_TWO_DOWN);
                    assertTiles(x, rows, cols, q, false);
                    assertThat(q.scales().shape()).isEqualTo(new int[]{t.tilesDown(rows), t.tilesAcross(cols)});
                }
            }
        }
    }

    @Test
    void nonFiniteBlockDecodesToNanAndLeavesTheOtherBlocksAlone() {
        float[] x = Fp8Reference.data(5, 64, 1f);
        x[3] = Float.NaN;
        try (Scope s = Scope.open()) {
            Fp8Tensor q = Fp8Quantizer.tiled(Tensor.of(x, 1, 64), Fp8Format.E4M3, Mxfp8BlockScaling.rowwise(), ScaleRule.E8M0_UP);
            float[] d = q.dequantize().data();
            assertThat(q.scales().byteData()[0]).isEqualTo(ScaleMath.E8M0_NAN);
            for (int k = 0; k < 32; k++) assertThat(d[k]).isNaN();
            assertTiles(java.util.Arrays.copyOfRange(x, 32, 64), 1, 32,
                    Fp8Quantizer.tiled(Tensor.of(java.util.Arrays.copyOfRange(x, 32, 64), 1, 32), Fp8Format.E4M3, Mxfp8BlockScaling.rowwise(),
                            ScaleRule.E8M0_UP), true);
            for (int k = 32; k < 64; k++) assertThat(d[k]).isNotNaN();
        }
    }

    @Test
    void storageIsOneByteACodePlusTheScalesAndTheTrackerCountsExactlyThat() {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker); Scope s = Scope.open()) {
            Tensor x = Tensor.of(Fp8Reference.data(6, 64 * 96, 1f), 64, 96);
            long before = tracker.current(Category.TEMPORARY);
            Fp8Tensor mx = Fp8Quantizer.tiled(x, Fp8Format.E4M3, Mxfp8BlockScaling.rowwise(), ScaleRule.E8M0_UP);
            assertThat(mx.bytes()).isEqualTo(64 * 96 + 64 * 3); // codes + one E8M0 byte per 32
            assertThat(tracker.current(Category.TEMPORARY) - before).isEqualTo(mx.bytes());
            Fp8Tensor pt = Fp8Quantizer.tiled(x, Fp8Format.E5M2, Tiling.PER_TENSOR, ScaleRule.CURRENT);
            assertThat(pt.bytes()).isEqualTo(64 * 96 + 4);
            Fp8Tensor blk = Fp8Quantizer.tiled(x, Fp8Format.E4M3, new BlockScaling().activationRowwise(), ScaleRule.POWER_OF_TWO_DOWN);
            assertThat(blk.bytes()).isEqualTo(64 * 96 + 64 * 4);
            assertThat(tracker.current(Category.TEMPORARY) - before).isEqualTo(mx.bytes() + pt.bytes() + blk.bytes());
            mx.release();
            assertThat(tracker.current(Category.TEMPORARY) - before).isEqualTo(pt.bytes() + blk.bytes());
        }
    }
}
