package dev.memwall.kernels;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas_nolapack;

import static org.bytedeco.openblas.global.openblas_nolapack.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasTrans;

/**
 * The staging GEMM, for where the no-copy binding is not built: operands are copied into this thread's native
 * buffers ({@link GemmWorkspace}, counted as WORKSPACE), one bulk copy per operand in (per row when a leading
 * dimension leaves gaps), the result copied out, C copied in only when beta is not 0. The staged copies are dense,
 * so OpenBLAS sees leading dimensions equal to the stored widths. Passing heap arrays through JavaCPP's own
 * {@code float[]} overloads would copy too, but whole arrays in both directions and without offsets.
 */
final class StagedGemm {
    private StagedGemm() {
    }

    static void run(GemmCall g, GemmSplit split, int parts) {
        int m = g.m(), n = g.n(), k = g.k(), batch = g.batch();
        boolean transA = g.transA(), transB = g.transB();
        float alpha = g.alpha(), beta = g.beta();
        GemmWorkspace st = GemmWorkspace.forThisThread();
        long sizeA = (long) m * k, sizeB = (long) k * n, sizeC = (long) m * n;
        int batchesA = g.strideA() == 0 ? 1 : batch, batchesB = g.strideB() == 0 ? 1 : batch;
        st.a = st.ensure(st.a, sizeA * batchesA);
        st.b = st.ensure(st.b, sizeB * batchesB);
        st.c = st.ensure(st.c, sizeC * batch);
        for (int i = 0; i < batchesA; i++) stage(st.a, i * sizeA, g.a(), g.offA() + i * g.strideA(), g.rowsA(), g.colsA(), g.lda());
        for (int i = 0; i < batchesB; i++) stage(st.b, i * sizeB, g.b(), g.offB() + i * g.strideB(), g.rowsB(), g.colsB(), g.ldb());
        if (beta != 0f) for (int i = 0; i < batch; i++) stage(st.c, i * sizeC, g.c(), g.offC() + i * g.strideC(), m, n, g.ldc());
        FloatPointer pa = st.a.position(0), pb = st.b.position(0), pc = st.c.position(0);
        int lda = g.colsA(), ldb = g.colsB(); // of the dense staged copies
        float[] c = g.c();
        int ldc = g.ldc();
        switch (split) {
            case BATCH -> Parallel.range(batch, sizeC * k, (from, to) -> {
                FloatPointer ta = new FloatPointer(pa), tb = new FloatPointer(pb), tc = new FloatPointer(pc);
                for (int i = from; i < to; i++) {
                    ta.position(g.strideA() == 0 ? 0 : i * sizeA);
                    tb.position(g.strideB() == 0 ? 0 : i * sizeB);
                    tc.position(i * sizeC);
                    call(transA, transB, m, n, k, alpha, ta, lda, tb, ldb, beta, tc, n);
                    unstage(tc, i * sizeC, c, g.offC() + i * g.strideC(), m, n, ldc);
                }
            });
            case ROWS -> {
                int rowsPer = (m + parts - 1) / parts;
                Parallel.range(parts, Parallel.GRAIN, (p0, p1) -> {
                    FloatPointer ta = new FloatPointer(pa), tb = new FloatPointer(pb), tc = new FloatPointer(pc);
                    for (int p = p0; p < p1; p++) {
                        int r0 = p * rowsPer, r1 = Math.min(m, r0 + rowsPer);
                        if (r0 >= r1) continue;
                        // op(A) rows r0..r1: rows of A, or columns of A (stored k×m) when transposed.
                        ta.position(transA ? r0 : (long) r0 * k);
                        tb.position(0);
                        tc.position((long) r0 * n);
                        call(transA, transB, r1 - r0, n, k, alpha, ta, lda, tb, ldb, beta, tc, n);
                        unstage(tc, (long) r0 * n, c, g.offC() + r0 * ldc, r1 - r0, n, ldc);
                    }
                });
            }
            case COLUMNS -> {
                int colsPer = (n + parts - 1) / parts;
                Parallel.range(parts, Parallel.GRAIN, (p0, p1) -> {
                    FloatPointer ta = new FloatPointer(pa), tb = new FloatPointer(pb), tc = new FloatPointer(pc);
                    for (int p = p0; p < p1; p++) {
                        int c0 = p * colsPer, c1 = Math.min(n, c0 + colsPer);
                        if (c0 >= c1) continue;
                        // op(B) columns c0..c1: columns of B (stored k×n), or rows of B (stored n×k) when transposed.
                        ta.position(0);
                        tb.position(transB ? (long) c0 * k : c0);
                        tc.position(c0);
                        call(transA, transB, m, c1 - c0, k, alpha, ta, lda, tb, ldb, beta, tc, n);
                    }
                });
                unstage(pc, 0, c, g.offC(), m, n, ldc);
            }
            case INNER -> splitK(g, pa, pb, pc, parts);
        }
    }

    /** See {@link GemmSplit#INNER}: partial products in native buffers, summed into C on the heap. */
    private static void splitK(GemmCall g, FloatPointer pa, FloatPointer pb, FloatPointer pc, int parts) {
        int m = g.m(), n = g.n(), k = g.k(), size = m * n, kPer = (k + parts - 1) / parts;
        float alpha = g.alpha();
        GemmWorkspace st = GemmWorkspace.forThisThread();
        st.partial = st.ensure(st.partial, (long) size * (parts - 1));
        FloatPointer rest = st.partial;
        Parallel.range(parts, Parallel.GRAIN, (p0, p1) -> {
            for (int p = p0; p < p1; p++) {
                int k0 = p * kPer, k1 = Math.min(k, k0 + kPer);
                FloatPointer ta = new FloatPointer(pa).position((long) k0 * m), tb = new FloatPointer(pb).position((long) k0 * n);
                FloatPointer out = p == 0 ? new FloatPointer(pc).position(0) : new FloatPointer(rest).position((long) (p - 1) * size);
                if (k0 >= k1) { // more threads than rows of k: this part contributes zeros
                    out.put(new float[size], 0, size);
                    continue;
                }
                call(true, false, m, n, k1 - k0, alpha, ta, m, tb, n, 0f, out, n);
            }
        });
        float[] c = g.c();
        unstage(pc, 0, c, g.offC(), m, n, g.ldc());
        float[] q = st.scratch(size);
        for (int p = 1; p < parts; p++) {
            rest.position((long) (p - 1) * size).get(q, 0, size);
            for (int i = 0; i < m; i++) {
                int row = g.offC() + i * g.ldc();
                for (int j = 0; j < n; j++) c[row + j] += q[i * n + j];
            }
        }
        rest.position(0);
    }

    /** Copies a rows×cols operand (rows ld apart) into {@code dst} from {@code pos} on, densely. */
    private static void stage(FloatPointer dst, long pos, float[] src, int off, int rows, int cols, int ld) {
        if (ld == cols) {
            dst.position(pos).put(src, off, rows * cols);
        } else {
            for (int r = 0; r < rows; r++) dst.position(pos + (long) r * cols).put(src, off + r * ld, cols);
        }
    }

    /** Copies a dense rows×cols result at {@code pos} of {@code src} into {@code dst} (rows ld apart). */
    private static void unstage(FloatPointer src, long pos, float[] dst, int off, int rows, int cols, int ld) {
        FloatPointer p = new FloatPointer(src);
        if (ld == cols) {
            p.position(pos).get(dst, off, rows * cols);
        } else {
            for (int r = 0; r < rows; r++) p.position(pos + (long) r * cols).get(dst, off + r * ld, cols);
        }
    }

    private static void call(boolean transA, boolean transB, int m, int n, int k, float alpha, FloatPointer a, int lda,
                             FloatPointer b, int ldb, float beta, FloatPointer c, int ldc) {
        // A wrong leading dimension or offset would make OpenBLAS read outside the staging buffers and crash the JVM;
        // checking costs nothing next to the GEMM and turns such a bug into an exception.
        long needA = transA ? (long) (k - 1) * lda + m : (long) (m - 1) * lda + k;
        long needB = transB ? (long) (n - 1) * ldb + k : (long) (k - 1) * ldb + n;
        long needC = (long) (m - 1) * ldc + n;
        if (a.position() + needA > a.capacity() || b.position() + needB > b.capacity() || c.position() + needC > c.capacity()) {
            throw new IllegalStateException("GEMM operand out of bounds: m=" + m + " n=" + n + " k=" + k + " transA=" + transA + " transB=" + transB
                    + " A " + a.position() + "+" + needA + "/" + a.capacity() + " B " + b.position() + "+" + needB + "/" + b.capacity()
                    + " C " + c.position() + "+" + needC + "/" + c.capacity());
        }
        openblas_nolapack.cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
}
