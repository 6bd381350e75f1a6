package dev.memwall.kernels;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas_nolapack;

import static org.bytedeco.openblas.global.openblas_nolapack.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasTrans;

/**
 * Single-precision GEMM through OpenBLAS, on heap arrays with offsets.
 *
 * <p>Operands are staged through per-thread native buffers: one bulk copy per operand in, one for the result out.
 * Passing the heap arrays to JavaCPP directly would copy them too (JNI array pinning copies on HotSpot), but whole
 * arrays in both directions and without offsets — a parameter that is a view into a flat buffer would drag the whole
 * buffer across. Staging copies exactly the operand ranges, skips the copy-in of C when beta is 0, and measured as fast
 * or faster than the direct call (BENCHMARKS.md).
 */
public final class Gemm {
    private static final ThreadLocal<Stage> STAGE = ThreadLocal.withInitial(Stage::new);

    private Gemm() {
    }

    /** Native staging buffers that grow to the largest operand seen on this thread. */
    private static final class Stage {
        FloatPointer a = new FloatPointer(0L), b = new FloatPointer(0L), c = new FloatPointer(0L);

        FloatPointer ensure(FloatPointer p, long n) {
            if (p.capacity() >= n) return p.position(0);
            p.close();
            FloatPointer q = new FloatPointer(Math.max(n, 1L));
            return q;
        }
    }

    /**
     * C[off_c] = alpha * op(A) * op(B) + beta * C, row-major, with op(A) m×k and op(B) k×n. A is stored m×k (k×m when
     * transposed), B k×n (n×k when transposed), C m×n; all dense.
     */
    public static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                             float[] a, int offA, float[] b, int offB, float beta, float[] c, int offC) {
        sgemmBatched(1, transA, transB, m, n, k, alpha, a, offA, 0, b, offB, 0, beta, c, offC, m * n);
    }

    /**
     * {@code batch} independent GEMMs; operand {@code i} starts at {@code off + i * stride}. A stride of 0 reuses the
     * same operand for every batch entry (a weight shared across the batch).
     */
    public static void sgemmBatched(int batch, boolean transA, boolean transB, int m, int n, int k, float alpha,
                                    float[] a, int offA, int strideA, float[] b, int offB, int strideB,
                                    float beta, float[] c, int offC, int strideC) {
        if (m == 0 || n == 0 || batch == 0) return;
        if (k == 0) {
            scaleC(batch, m, n, beta, c, offC, strideC);
            return;
        }
        Stage st = STAGE.get();
        long sizeA = (long) m * k, sizeB = (long) k * n, sizeC = (long) m * n;
        int batchesA = strideA == 0 ? 1 : batch, batchesB = strideB == 0 ? 1 : batch;
        st.a = st.ensure(st.a, sizeA * batchesA);
        st.b = st.ensure(st.b, sizeB * batchesB);
        st.c = st.ensure(st.c, sizeC * batch);
        for (int i = 0; i < batchesA; i++) st.a.position(i * sizeA).put(a, offA + i * strideA, (int) sizeA);
        for (int i = 0; i < batchesB; i++) st.b.position(i * sizeB).put(b, offB + i * strideB, (int) sizeB);
        if (beta != 0f) for (int i = 0; i < batch; i++) st.c.position(i * sizeC).put(c, offC + i * strideC, (int) sizeC);
        int ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans;
        int lda = transA ? m : k, ldb = transB ? k : n;
        for (int i = 0; i < batch; i++) {
            st.a.position(strideA == 0 ? 0 : i * sizeA);
            st.b.position(strideB == 0 ? 0 : i * sizeB);
            st.c.position(i * sizeC);
            openblas_nolapack.cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, st.a, lda, st.b, ldb, beta, st.c, n);
        }
        for (int i = 0; i < batch; i++) st.c.position(i * sizeC).get(c, offC + i * strideC, (int) sizeC);
        st.a.position(0);
        st.b.position(0);
        st.c.position(0);
    }

    private static void scaleC(int batch, int m, int n, float beta, float[] c, int offC, int strideC) {
        for (int i = 0; i < batch; i++) {
            int o = offC + i * strideC;
            for (int j = 0; j < m * n; j++) c[o + j] = beta == 0f ? 0f : beta * c[o + j];
        }
    }
}
