package dev.memwall.format;

import java.util.Objects;

/**
 * Block-wise 8-bit quantization (bitsandbytes' {@code quantize_blockwise} / {@code dequantize_blockwise}): a block of
 * up to {@link #BLOCK} values is stored as one FP32 absmax (its largest magnitude) and one byte per value, the code of
 * the {@link DynamicMap} value nearest to value / absmax. Decoding is {@code map[code] · absmax}. A block of zeros has
 * absmax 0 and decodes to zeros. Values are divided by absmax (bitsandbytes multiplies by its reciprocal, which can
 * overflow for a tiny absmax), so the largest magnitude lands exactly on ±1 before the nearest code is taken.
 */
public final class Blockwise8 {
    /** Values per block (bitsandbytes' optimizer block size). */
    public static final int BLOCK = 256;

    private Blockwise8() {
    }

    /**
     * Quantizes {@code src[srcOff, srcOff + n)}, one block ({@code n <= BLOCK}): writes n codes at {@code dst[dstOff]}
     * and returns the block's absmax.
     */
    public static float quantizeBlock(float[] src, int srcOff, int n, DynamicMap map, byte[] dst, int dstOff) {
        float absmax = 0f;
        for (int i = 0; i < n; i++) absmax = Math.max(absmax, Math.abs(src[srcOff + i]));
        encode(src, srcOff, n, absmax, map, dst, dstOff);
        return absmax;
    }

    /** Codes of {@code src[srcOff, srcOff + n)} against a given {@code absmax} (clamped to ±1 after the division). */
    public static void encode(float[] src, int srcOff, int n, float absmax, DynamicMap map, byte[] dst, int dstOff) {
        if (absmax == 0f) {
            byte z = (byte) map.zeroCode();
            for (int i = 0; i < n; i++) dst[dstOff + i] = z;
            return;
        }
        for (int i = 0; i < n; i++) dst[dstOff + i] = (byte) map.nearest(src[srcOff + i] / absmax);
    }

    /** {@code dst[dstOff + i] = map[src[srcOff + i]] · absmax} for {@code i < n}. */
    public static void dequantizeBlock(byte[] src, int srcOff, int n, float absmax, DynamicMap map, float[] dst, int dstOff) {
        for (int i = 0; i < n; i++) dst[dstOff + i] = map.value(src[srcOff + i]) * absmax;
    }

    /**
     * Quantizes {@code n} values in blocks of {@link #BLOCK} (the last may be shorter): codes to {@code codes}, one absmax
     * per block to {@code absmax} (⌈n / BLOCK⌉ of them).
     */
    public static void quantize(float[] src, int srcOff, int n, DynamicMap map, byte[] codes, int codesOff, float[] absmax, int absOff) {
        Objects.checkFromIndexSize(srcOff, n, src.length);
        Objects.checkFromIndexSize(codesOff, n, codes.length);
        Objects.checkFromIndexSize(absOff, blocks(n), absmax.length);
        for (int b = 0, at = 0; at < n; b++, at += BLOCK) {
            absmax[absOff + b] = quantizeBlock(src, srcOff + at, Math.min(BLOCK, n - at), map, codes, codesOff + at);
        }
    }

    /** The inverse of {@link #quantize}. */
    public static void dequantize(byte[] codes, int codesOff, int n, float[] absmax, int absOff, DynamicMap map, float[] dst, int dstOff) {
        Objects.checkFromIndexSize(codesOff, n, codes.length);
        Objects.checkFromIndexSize(dstOff, n, dst.length);
        Objects.checkFromIndexSize(absOff, blocks(n), absmax.length);
        for (int b = 0, at = 0; at < n; b++, at += BLOCK) {
            dequantizeBlock(codes, codesOff + at, Math.min(BLOCK, n - at), absmax[absOff + b], map, dst, dstOff + at);
        }
    }

    /** Blocks of {@code n} values. */
    public static int blocks(int n) {
        return (n + BLOCK - 1) / BLOCK;
    }
}
