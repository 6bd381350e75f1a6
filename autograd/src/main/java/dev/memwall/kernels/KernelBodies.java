package dev.memwall.kernels;

/**
 * The inner loops of the non-GEMM kernels, over one contiguous range each: what runs inside one chunk of
 * {@link Parallel#range}. The kernel classes ({@link Gelu}, {@link LayerNormKernel}, {@link Softmax}, ...) split the
 * work and call the implementation {@link Vectorization#bodies()} chose once at start-up: {@link ScalarKernels}
 * (plain loops, the default and the test oracle) or {@code VectorKernels} (the incubating Vector API, explicit SIMD).
 *
 * <p>Every method takes arrays with offsets; arrays may be the same array at different offsets only where a method
 * says so. Elementwise methods give bitwise the same results in both implementations; methods that reduce (sums, dot
 * products, norms, layer-norm statistics) add in a different order and agree within float rounding.
 */
public interface KernelBodies {
    /** What this implementation is, for logs and reports: "scalar" or "Vector API, 512-bit". */
    String name();

    /** y[j] = gelu(x[j]) for j in [0, n): the tanh approximation of {@link Gelu}. x and y may be the same range. */
    void geluForward(float[] x, int offX, float[] y, int offY, int n);

    /** dx[j] = g[j] · gelu'(x[j]); dx may be g's range. */
    void geluBackward(float[] x, int offX, float[] g, int offG, float[] dx, int offDx, int n);

    /**
     * Layer norm of rows [from, to) of x [rows, n]: y = (x − mean) · rstd · w + b, with the row's mean and rstd
     * written at {@code offStat + r}. w and b may be null (1 and 0).
     */
    void layerNormForward(float[] x, int offX, float[] w, int offW, float[] b, int offB, float eps,
                          float[] y, int offY, float[] mean, float[] rstd, int offStat, int from, int to, int n);

    /**
     * Layer-norm backward of rows [from, to): dx (skipped when null) = rstd · (dxhat − mean(dxhat) − xhat ·
     * mean(dxhat · xhat)) with dxhat = g · w, and adds g · xhat into {@code dwAcc[0, n)} and g into
     * {@code dbAcc[0, n)} (per-chunk partial sums, local arrays of length n). w may be null (1).
     */
    void layerNormBackward(float[] x, int offX, float[] w, int offW, float[] mean, float[] rstd, int offStat,
                           float[] g, int offG, float[] dx, int offDx, float[] dwAcc, float[] dbAcc,
                           int from, int to, int n);

    /**
     * One AdamW update of n parameters (see {@link AdamWKernel}): m = b1 m + c1 g, v = b2 v + c2 g², p = p · decay −
     * stepSize · m / (√v / bc2Sqrt + eps).
     */
    void adamw(float[] p, int offP, float[] g, int offG, float[] m, int offM, float[] v, int offV, int n,
               float stepSize, float bc2Sqrt, float decay, float b1, float c1, float b2, float c2, float eps);

    /** Σ x[j]² over [0, n), returned in double; partial sums may be float over short runs. */
    double sumOfSquares(float[] x, int off, int n);

    /** out = a + b over n elements; out may be a's or b's range. */
    void add(float[] a, int offA, float[] b, int offB, float[] out, int offOut, int n);

    /** out = a · b over n elements; out may be a's or b's range. */
    void mul(float[] a, int offA, float[] b, int offB, float[] out, int offOut, int n);

    /** out = x · scale + shift over n elements; out may be x's range. */
    void affine(float[] x, int offX, float scale, float shift, float[] out, int offOut, int n);

    /** x[j] ·= s in place over n elements (exact for every sign, unlike {@link #affine} with shift 0 on −0). */
    void scale(float[] x, int off, int n, float s);

    /**
     * Column sums of x viewed as [len, inner] for columns [from, to): acc[i − from] += Σ_a x[offX + a · inner + i],
     * rows added in order (so both implementations give bitwise the same sums).
     */
    void columnSums(float[] x, int offX, int len, int inner, int from, int to, float[] acc);

    /** max over j in [0, n) of x[off + j] · scale (−∞ for n = 0). */
    float maxScaled(float[] x, int off, int n, float scale);

    /**
     * y[j] = exp(x[j] · scale − shift) by {@link FastExp}'s formula (each value bitwise the same as {@link FastExp#exp}),
     * and returns their sum; y may be null (only the sum), or x's range.
     */
    float expSum(float[] x, int offX, float scale, float shift, float[] y, int offY, int n);

    /** Σ a[j] · b[j] over [0, n). */
    float dot(float[] a, int offA, float[] b, int offB, int n);

    /** dx[j] = scale · y[j] · (g[j] − dot): the softmax backward given dot = Σ g · y. dx may be g's range. */
    void softmaxGrad(float[] y, int offY, float[] g, int offG, float dot, float scale, float[] dx, int offDx, int n);
}
