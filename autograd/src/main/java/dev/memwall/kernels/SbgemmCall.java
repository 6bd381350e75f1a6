package dev.memwall.kernels;

import java.util.Objects;

/**
 * The arguments of one BF16 GEMM, validated: C = alpha · op(A) · op(B) + beta · C, row-major, op(A) m×k and op(B)
 * k×n. A and B hold bfloat16 bit patterns ({@code short[]}, see {@code dev.memwall.format.Bf16}), C is FP32. A is
 * stored m×k (k×m when transposed), B k×n (n×k when transposed), C m×n, with rows {@code lda}, {@code ldb},
 * {@code ldc} elements apart, starting at the given offsets.
 *
 * <p>{@link #validate()} checks every index the call will touch before any native code runs (the native call runs in
 * a JNI critical region, where a bad index would corrupt the heap, not throw).
 */
record SbgemmCall(boolean transA, boolean transB, int m, int n, int k, float alpha,
                  short[] a, int offA, int lda, short[] b, int offB, int ldb,
                  float beta, float[] c, int offC, int ldc) {

    int rowsA() {
        return transA ? k : m;
    }

    /** Columns of A as stored: k, or m when A is stored transposed (k×m). */
    int colsA() {
        return transA ? m : k;
    }

    int rowsB() {
        return transB ? n : k;
    }

    /** Columns of B as stored: n, or k when B is stored transposed (n×k). */
    int colsB() {
        return transB ? k : n;
    }

    /** Multiply-adds of the call. */
    long work() {
        return (long) m * n * k;
    }

    /** Throws {@link IllegalArgumentException} or {@link IndexOutOfBoundsException} naming what is wrong. */
    SbgemmCall validate() {
        Objects.requireNonNull(a, "BF16 GEMM operand A is null");
        Objects.requireNonNull(b, "BF16 GEMM operand B is null");
        Objects.requireNonNull(c, "BF16 GEMM output C is null");
        if (m < 0 || n < 0 || k < 0) {
            throw new IllegalArgumentException("BF16 GEMM sizes must be >= 0: m=" + m + " n=" + n + " k=" + k);
        }
        // C is always checked; A and B only when they are read (k > 0), as BLAS does.
        if (m > 0 && n > 0 && k > 0) {
            check("A", a.length, offA, lda, rowsA(), colsA());
            check("B", b.length, offB, ldb, rowsB(), colsB());
        }
        if (m > 0 && n > 0) check("C", c.length, offC, ldc, m, n);
        return this;
    }

    private static void check(String name, int length, int off, int ld, int rows, int cols) {
        if (ld < Math.max(1, cols)) {
            throw new IllegalArgumentException("BF16 GEMM operand " + name + ": leading dimension " + ld + " < " + cols
                    + " columns (stored " + rows + "x" + cols + ")");
        }
        if (off < 0) throw new IndexOutOfBoundsException("BF16 GEMM operand " + name + ": negative offset " + off);
        long last = (long) off + GemmCall.extent(rows, cols, ld);
        if (last > length) {
            throw new IndexOutOfBoundsException("BF16 GEMM operand " + name + " out of bounds: stored " + rows + "x"
                    + cols + " (ld=" + ld + ") from offset " + off + " needs " + last + " elements, the array has " + length);
        }
    }
}
