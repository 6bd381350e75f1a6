package dev.memwall.kernels;

import dev.memwall.memory.Category;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.openblas.global.openblas_nolapack;

import static org.bytedeco.openblas.global.openblas_nolapack.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasTrans;

/**
 * Single-precision GEMM through OpenBLAS, on heap arrays with offsets.
 *
 * <p>Operands are staged through per-thread native buffers: one bulk copy per operand in, one for the result out.
 * They are counted as {@link Category#WORKSPACE} while held and freed when the thread's outermost {@code Scope} closes
 * (or by {@link #releaseWorkspace()}).
 * Passing the heap arrays to JavaCPP directly would copy them too (JNI array pinning copies on HotSpot), but whole
 * arrays in both directions and without offsets — a parameter that is a view into a flat buffer would drag the whole
 * buffer across. Staging copies exactly the operand ranges and skips the copy-in of C when beta is 0.
 *
 * <p>OpenBLAS runs single-threaded and the project splits each GEMM over its own kernel threads ({@link Parallel}):
 * by batch entry, or by rows of C. OpenBLAS's own worker threads spin for a while after each call, and on two cores
 * that spinning stole the core the next Java kernel wanted (GELU's backward ran up to ten times slower right after a
 * GEMM); with one set of threads for everything that contention is gone, and the row split measured as fast as
 * OpenBLAS's own threading at the large shapes and faster at 2048×256×256 (BENCHMARKS.md).
 */
public final class Gemm {
    /** Below this many multiply-adds a GEMM is not split. */
    private static final long SPLIT_WORK = 1L << 21;

    static {
        Loader.load(openblas_nolapack.class);
        org.bytedeco.openblas.presets.openblas_nolapack.blas_set_num_threads(Integer.getInteger("memwall.blas.threads", 1));
    }

    private Gemm() {
    }

    /**
     * Frees this thread's staging buffers and stops counting them; {@code Scope} does it when a thread's outermost
     * scope closes. See {@link GemmWorkspace}.
     */
    public static void releaseWorkspace() {
        GemmWorkspace.release();
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
        GemmWorkspace st = GemmWorkspace.forThisThread();
        long sizeA = (long) m * k, sizeB = (long) k * n, sizeC = (long) m * n;
        int batchesA = strideA == 0 ? 1 : batch, batchesB = strideB == 0 ? 1 : batch;
        st.a = st.ensure(st.a, sizeA * batchesA);
        st.b = st.ensure(st.b, sizeB * batchesB);
        st.c = st.ensure(st.c, sizeC * batch);
        for (int i = 0; i < batchesA; i++) st.a.position(i * sizeA).put(a, offA + i * strideA, (int) sizeA);
        for (int i = 0; i < batchesB; i++) st.b.position(i * sizeB).put(b, offB + i * strideB, (int) sizeB);
        if (beta != 0f) for (int i = 0; i < batch; i++) st.c.position(i * sizeC).put(c, offC + i * strideC, (int) sizeC);
        FloatPointer pa = st.a.position(0), pb = st.b.position(0), pc = st.c.position(0);
        long work = sizeC * k * batch;
        int parts = work < SPLIT_WORK ? 1 : Parallel.threads();
        if (batch >= parts) { // whole batch entries per thread
            Parallel.range(batch, sizeC * k, (from, to) -> {
                FloatPointer ta = new FloatPointer(pa), tb = new FloatPointer(pb), tc = new FloatPointer(pc);
                for (int i = from; i < to; i++) {
                    ta.position(strideA == 0 ? 0 : i * sizeA);
                    tb.position(strideB == 0 ? 0 : i * sizeB);
                    tc.position(i * sizeC);
                    call(transA, transB, m, n, k, alpha, ta, transA ? m : k, tb, transB ? k : n, beta, tc, n);
                    tc.position(i * sizeC).get(c, offC + i * strideC, (int) sizeC);
                }
            });
        } else if (transA && !transB && k >= 4L * Math.max(m, n) && beta == 0f) {
            splitK(m, n, k, alpha, pa, pb, pc, c, offC, parts);
        } else if (m >= n) { // one GEMM, rows of C split over the threads
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
                    call(transA, transB, r1 - r0, n, k, alpha, ta, transA ? m : k, tb, transB ? k : n, beta, tc, n);
                    tc.position((long) r0 * n).get(c, offC + r0 * n, (r1 - r0) * n);
                }
            });
        } else { // one GEMM, columns of C split over the threads (wide outputs, e.g. weight gradients [256, 1024])
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
                    call(transA, transB, m, c1 - c0, k, alpha, ta, transA ? m : k, tb, transB ? k : n, beta, tc, n);
                }
            });
            pc.position(0).get(c, offC, (int) sizeC);
        }
    }

    /**
     * Weight gradients (Aᵀ·B with a long inner dimension and a small output) are split along k: each thread multiplies
     * its own contiguous rows of A and B into its own partial C, and the partials are summed. Splitting the small
     * output instead left each thread a thin slice of C to stream all of A and B against.
     */
    private static void splitK(int m, int n, int k, float alpha, FloatPointer pa, FloatPointer pb, FloatPointer pc,
                               float[] c, int offC, int parts) {
        int size = m * n, kPer = (k + parts - 1) / parts;
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
        pc.position(0).get(c, offC, size);
        float[] q = st.scratch(size);
        for (int p = 1; p < parts; p++) {
            rest.position((long) (p - 1) * size).get(q, 0, size);
            for (int i = 0; i < size; i++) c[offC + i] += q[i];
        }
        rest.position(0);
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

    private static void scaleC(int batch, int m, int n, float beta, float[] c, int offC, int strideC) {
        for (int i = 0; i < batch; i++) {
            int o = offC + i * strideC;
            for (int j = 0; j < m * n; j++) c[o + j] = beta == 0f ? 0f : beta * c[o + j];
        }
    }
}
