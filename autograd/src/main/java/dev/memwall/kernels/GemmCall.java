package dev.memwall.kernels;

import java.util.Objects;

/**
 * The arguments of one (batched) GEMM, validated: C_i = alpha · op(A_i) · op(B_i) + beta · C_i for i &lt; batch,
 * row-major, op(A) m×k, op(B) k×n. Operand i of X starts at {@code offX + i * strideX} (a stride of 0 shares one
 * operand across the batch) and its rows are {@code ldX} floats apart. A is stored m×k (k×m when transposed), B k×n
 * (n×k when transposed), C m×n.
 *
 * <p>{@link #validate()} checks every index the call will touch against its array before any native code runs: a
 * wrong offset, stride or leading dimension is an exception naming the operand, never a read or write outside an
 * array (which, on the no-copy path, would corrupt the Java heap).
 */
record GemmCall(int batch, boolean transA, boolean transB, int m, int n, int k, float alpha,
                float[] a, int offA, int lda, int strideA, float[] b, int offB, int ldb, int strideB,
                float beta, float[] c, int offC, int ldc, int strideC) {

    /** Columns of A as stored: k, or m when A is stored transposed (k×m). */
    int colsA() {
        return transA ? m : k;
    }

    int rowsA() {
        return transA ? k : m;
    }

    /** Columns of B as stored: n, or k when B is stored transposed (n×k). */
    int colsB() {
        return transB ? k : n;
    }

    int rowsB() {
        return transB ? n : k;
    }

    /** Floats from the first to one past the last element of a rows×cols operand whose rows are ld apart. */
    static long extent(int rows, int cols, int ld) {
        return rows == 0 || cols == 0 ? 0 : (long) (rows - 1) * ld + cols;
    }

    /** Multiply-adds of the whole call. */
    long work() {
        return (long) batch * m * n * k;
    }

    /** Whether every operand is dense (rows back to back), which the staged path copies in one piece. */
    boolean dense() {
        return lda == colsA() && ldb == colsB() && ldc == n;
    }

    /** Throws {@link IllegalArgumentException} or {@link IndexOutOfBoundsException} naming what is wrong. */
    GemmCall validate() {
        Objects.requireNonNull(a, "GEMM operand A is null");
        Objects.requireNonNull(b, "GEMM operand B is null");
        Objects.requireNonNull(c, "GEMM output C is null");
        if (batch < 0 || m < 0 || n < 0 || k < 0) {
            throw new IllegalArgumentException("GEMM sizes must be >= 0: batch=" + batch + " m=" + m + " n=" + n + " k=" + k);
        }
        // C is always checked; A and B only when they are read (k > 0), as BLAS does.
        boolean reads = batch > 0 && m > 0 && n > 0 && k > 0;
        if (reads) {
            check("A", a, offA, lda, strideA, rowsA(), colsA());
            check("B", b, offB, ldb, strideB, rowsB(), colsB());
        }
        if (batch > 0 && m > 0 && n > 0) {
            check("C", c, offC, ldc, strideC, m, n);
            if (batch > 1 && strideC < extent(m, n, ldc)) {
                throw new IllegalArgumentException("GEMM outputs of the batch overlap: strideC=" + strideC
                        + " < " + extent(m, n, ldc) + " floats of one " + m + "x" + n + " C (ldc=" + ldc + ")");
            }
        }
        return this;
    }

    private void check(String name, float[] x, int off, int ld, int stride, int rows, int cols) {
        if (ld < Math.max(1, cols)) {
            throw new IllegalArgumentException("GEMM operand " + name + ": leading dimension " + ld + " < " + cols
                    + " columns (stored " + rows + "x" + cols + ")");
        }
        if (off < 0 || stride < 0) {
            throw new IndexOutOfBoundsException("GEMM operand " + name + ": negative offset " + off + " or stride " + stride);
        }
        long last = (long) off + (stride == 0 ? 0 : (long) (batch - 1) * stride) + extent(rows, cols, ld);
        if (last > x.length) {
            throw new IndexOutOfBoundsException("GEMM operand " + name + " out of bounds: " + batch + " x stored "
                    + rows + "x" + cols + " (ld=" + ld + ", stride=" + stride + ") from offset " + off + " needs "
                    + last + " floats, the array has " + x.length);
        }
    }
}
