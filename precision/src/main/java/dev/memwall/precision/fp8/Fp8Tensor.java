package dev.memwall.precision.fp8;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;

import java.util.Objects;

/**
 * An FP8-quantized tensor in real 8-bit storage: one code byte per element ({@link #codes()}, an {@code FP8_E4M3} or
 * {@code FP8_E5M2} tensor) and one scale per tile ({@link #scales()}): FP32 multipliers, or, for MX, one E8M0 byte
 * each (held in a 1-byte {@code BOOL} tensor, the core having no E8M0 dtype). Both are ordinary accounted tensors, so
 * the tracker counts exactly these bytes, and a node that saves them counts them as ACTIVATION.
 *
 * <p>The tensor is seen as a matrix [rows, cols] with cols its last dimension; tile (i, j) covers rows
 * [i·tileRows, ...) and columns [j·tileCols, ...), and its element x is stored as {@code fp8(x · m)} with m the tile's
 * multiplier: the FP32 scale, or 2^(127 − code) for an E8M0 code. Dequantization is {@code value(code) / m}.
 */
public final class Fp8Tensor {
    private final Fp8Format format;
    private final Tensor codes;
    private final Tensor scales;
    private final boolean e8m0;
    private final Tiling tiling;
    private final int rows, cols;

    Fp8Tensor(Fp8Format format, Tensor codes, Tensor scales, boolean e8m0, Tiling tiling, int rows, int cols) {
        this.format = Objects.requireNonNull(format);
        this.codes = codes;
        this.scales = scales;
        this.e8m0 = e8m0;
        this.tiling = tiling;
        this.rows = rows;
        this.cols = cols;
    }

    /** Allocates codes (shape {@code shape}) and scales for {@code tiling}, both TEMPORARY. */
    static Fp8Tensor allocate(Fp8Format format, boolean e8m0, Tiling tiling, String op, int... shape) {
        int cols = shape.length == 0 ? 1 : shape[shape.length - 1];
        int n = 1;
        for (int s : shape) n *= s;
        int rows = cols == 0 ? 0 : n / cols;
        Tensor codes = Tensor.empty(format.dtype, Category.TEMPORARY, op, shape);
        Tensor scales = Tensor.empty(e8m0 ? DType.BOOL : DType.FP32, Category.TEMPORARY, op + "_scales",
                Math.max(1, tiling.tilesDown(rows)), Math.max(1, tiling.tilesAcross(cols)));
        return new Fp8Tensor(format, codes, scales, e8m0, tiling, rows, cols);
    }

    /**
     * A per-tensor quantization over existing codes (e.g. a view of a unit gathered in FP8 at ZeRO stage 3) with
     * multiplier {@code scale}, held in a fresh 1×1 FP32 TEMPORARY; {@link #release()} drops both handles.
     */
    public static Fp8Tensor perTensorOf(Fp8Format format, Tensor codes, float scale) {
        if (codes.dtype() != format.dtype) {
            throw new IllegalArgumentException("fp8 tensor: codes of " + codes.dtype() + " are not " + format + " codes");
        }
        int[] shape = codes.shape();
        int cols = shape.length == 0 ? 1 : shape[shape.length - 1];
        int rows = cols == 0 ? 0 : codes.numel() / cols;
        Tensor scales = Tensor.empty(DType.FP32, Category.TEMPORARY, "fp8_scale", 1, 1);
        scales.data()[scales.offset()] = scale;
        return new Fp8Tensor(format, codes, scales, false, Tiling.PER_TENSOR, rows, cols);
    }

    /**
     * An MX quantization over existing codes (e.g. a view of a unit gathered in FP8 at ZeRO stage 3) with one E8M0
     * scale byte per tile of {@code tiling}, row-major [tilesDown, tilesAcross] from {@code e8m0[off, ...)}, copied into
     * a fresh TEMPORARY; {@link #release()} drops both handles.
     */
    public static Fp8Tensor mxOf(Fp8Format format, Tensor codes, Tiling tiling, byte[] e8m0, int off) {
        int[] g = tileGrid(format, codes, tiling); // rows, cols, tiles down, tiles across
        Tensor scales = Tensor.empty(DType.BOOL, Category.TEMPORARY, "fp8_scales", g[2], g[3]);
        System.arraycopy(e8m0, off, scales.byteData(), scales.offset(), g[2] * g[3]);
        return new Fp8Tensor(format, codes, scales, true, tiling, g[0], g[1]);
    }

    /**
     * A block quantization over existing codes (e.g. a view of a unit gathered in FP8 at ZeRO stage 3) with one FP32
     * multiplier per tile of {@code tiling}, row-major [tilesDown, tilesAcross] from {@code scales[off, ...)}, copied
     * into a fresh TEMPORARY; {@link #release()} drops both handles.
     */
    public static Fp8Tensor blockOf(Fp8Format format, Tensor codes, Tiling tiling, float[] scales, int off) {
        int[] g = tileGrid(format, codes, tiling); // rows, cols, tiles down, tiles across
        Tensor s = Tensor.empty(DType.FP32, Category.TEMPORARY, "fp8_scales", g[2], g[3]);
        System.arraycopy(scales, off, s.data(), s.offset(), g[2] * g[3]);
        return new Fp8Tensor(format, codes, s, false, tiling, g[0], g[1]);
    }

    /** {rows, cols, tiles down, tiles across} of {@code codes} read as a matrix (last dimension = columns); checks the format. */
    private static int[] tileGrid(Fp8Format format, Tensor codes, Tiling tiling) {
        if (codes.dtype() != format.dtype) {
            throw new IllegalArgumentException("fp8 tensor: codes of " + codes.dtype() + " are not " + format + " codes");
        }
        int[] shape = codes.shape();
        int cols = shape.length == 0 ? 1 : shape[shape.length - 1];
        int rows = cols == 0 ? 0 : codes.numel() / cols;
        return new int[] {rows, cols, Math.max(1, tiling.tilesDown(rows)), Math.max(1, tiling.tilesAcross(cols))};
    }

    public Fp8Format format() {
        return format;
    }

    /** The code bytes, in the shape of the original tensor. */
    public Tensor codes() {
        return codes;
    }

    /** [tilesDown, tilesAcross]: FP32 multipliers, or E8M0 bytes when {@link #isE8m0()}. */
    public Tensor scales() {
        return scales;
    }

    public boolean isE8m0() {
        return e8m0;
    }

    public Tiling tiling() {
        return tiling;
    }

    public int rows() {
        return rows;
    }

    public int cols() {
        return cols;
    }

    public int[] shape() {
        return codes.shape();
    }

    /** Bytes held: codes plus scales. */
    public long bytes() {
        return codes.bytes() + scales.bytes();
    }

    /** The multiplier of tile {@code (i, j)}: value(code) / multiplier is the dequantized element. */
    public double multiplier(int i, int j) {
        int k = i * tiling.tilesAcross(cols) + j;
        if (e8m0) return ScaleMath.e8m0Multiplier(scales.byteData()[scales.offset() + k]);
        return scales.data()[scales.offset() + k];
    }

    /** The single multiplier of a per-tensor quantization. */
    public double scale() {
        if (!tiling.perTensor()) throw new IllegalStateException("scale(): " + tiling + " quantization has one scale per tile");
        return multiplier(0, 0);
    }

    /** The dequantized FP32 tensor, a TEMPORARY of the original shape: each element correctly rounded from value / m. */
    public Tensor dequantize() {
        Tensor out = Tensor.empty("fp8_dequantize", codes.shape());
        dequantizeInto(out.data(), out.offset());
        return out;
    }

    /** Writes the dequantized [rows, cols] matrix, row-major, at {@code dst[off]}. */
    public void dequantizeInto(float[] dst, int off) {
        byte[] c = codes.byteData();
        int co = codes.offset();
        int across = tiling.tilesAcross(cols);
        int tc = (int) Math.min(tiling.tileCols(), Math.max(1, cols));
        double[] m = new double[across];
        boolean[] pow2 = new boolean[across];
        int band = -1;
        for (int r = 0; r < rows; r++) {
            int i = r / tiling.tileRows();
            if (i != band) { // the multipliers of this band of tiles
                band = i;
                for (int j = 0; j < across; j++) {
                    m[j] = multiplier(i, j);
                    pow2[j] = m[j] > 0 && Double.isFinite(m[j]) && m[j] == Math.scalb(1.0, Math.getExponent(m[j]));
                }
            }
            for (int j = 0; j < across; j++) {
                int c0 = j * tc, c1 = Math.min(cols, c0 + tc);
                // value / m, correctly rounded; for a power of two, times the exact inverse is the same number.
                double inv = pow2[j] ? 1 / m[j] : Double.NaN;
                for (int col = c0; col < c1; col++) {
                    int k = r * cols + col;
                    double v = format.decode(c[co + k]);
                    dst[off + k] = (float) (pow2[j] ? v * inv : v / m[j]);
                }
            }
        }
    }

    /** Drops both handles (storage goes when no saving node holds it either). */
    public void release() {
        codes.releaseIfAlive();
        scales.releaseIfAlive();
    }

    @Override
    public String toString() {
        return "Fp8Tensor(" + format + ", " + rows + "x" + cols + ", " + tiling + (e8m0 ? ", E8M0" : "") + ")";
    }
}
