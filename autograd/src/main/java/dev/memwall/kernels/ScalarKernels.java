package dev.memwall.kernels;

/**
 * The kernel bodies as plain Java loops: the default when the Vector API is not in use, and the oracle the vector
 * implementation is tested against. Whether C2 vectorizes these loops depends on how it sees them (see
 * docs/architecture.md, "Vectorization"): loops that index two arrays at different offsets stay scalar, so the
 * compute-heavy ones (GELU, layer norm, exp) work through small local blocks that every array indexes alike.
 */
public class ScalarKernels implements KernelBodies {
    static final ScalarKernels INSTANCE = new ScalarKernels();
    private static final int BLOCK = 2048;
    /** AdamW's local blocks: four of them (16 KB) stay in L1. */
    private static final int ADAMW_BLOCK = 1024;

    protected ScalarKernels() {
    }

    @Override
    public String name() {
        return "scalar";
    }

    @Override
    public void geluForward(float[] x, int offX, float[] y, int offY, int n) {
        if (offX == offY) {
            Gelu.forwardSame(x, y, offX, offX + n);
            return;
        }
        float[] buf = new float[Math.min(BLOCK, n)];
        for (int s = 0; s < n; s += BLOCK) {
            int len = Math.min(BLOCK, n - s);
            System.arraycopy(x, offX + s, buf, 0, len);
            Gelu.forwardSame(buf, buf, 0, len);
            System.arraycopy(buf, 0, y, offY + s, len);
        }
    }

    @Override
    public void geluBackward(float[] x, int offX, float[] g, int offG, float[] dx, int offDx, int n) {
        int cap = Math.min(BLOCK, n);
        float[] xb = new float[cap], tb = new float[cap], gb = new float[cap];
        for (int s = 0; s < n; s += BLOCK) {
            int len = Math.min(BLOCK, n - s);
            System.arraycopy(x, offX + s, xb, 0, len);
            System.arraycopy(g, offG + s, gb, 0, len);
            Gelu.tanhOfInner(xb, tb, len);
            Gelu.scaleByDerivative(xb, tb, gb, len);
            System.arraycopy(gb, 0, dx, offDx + s, len);
        }
    }

    /**
     * Layer norm row by row in local arrays (every loop indexes its arrays alike, so C2 vectorizes the elementwise
     * ones). The row sums are not left to C2: a float sum in one accumulator is a chain of dependent adds (4 cycles
     * each), which C2 17 keeps in order even where it vectorizes the loads, so they run as eight independent partial
     * sums ({@link #sum}, {@link #sumSquaredDeviations}, {@link #dot}), on any CPU. The order of the additions
     * differs from one running sum, hence from the Vector API body too: both within float rounding of the exact sums.
     */
    @Override
    public void layerNormForward(float[] x, int offX, float[] w, int offW, float[] b, int offB, float eps,
                                 float[] y, int offY, float[] mean, float[] rstd, int offStat, int from, int to, int n) {
        float[] wl = new float[n], bl = new float[n], row = new float[n];
        if (w != null) System.arraycopy(w, offW, wl, 0, n);
        else java.util.Arrays.fill(wl, 1f);
        if (b != null) System.arraycopy(b, offB, bl, 0, n);
        for (int r = from; r < to; r++) {
            System.arraycopy(x, offX + r * n, row, 0, n);
            float mu = sum(row, n) / n;
            float rs = (float) (1.0 / Math.sqrt(sumSquaredDeviations(row, n, mu) / n + eps));
            mean[offStat + r] = mu;
            rstd[offStat + r] = rs;
            for (int j = 0; j < n; j++) row[j] = (row[j] - mu) * rs * wl[j] + bl[j];
            System.arraycopy(row, 0, y, offY + r * n, n);
        }
    }

    @Override
    public void layerNormBackward(float[] x, int offX, float[] w, int offW, float[] mean, float[] rstd, int offStat,
                                  float[] g, int offG, float[] dx, int offDx, float[] lw, float[] lb,
                                  int from, int to, int n) {
        float[] wl = new float[n], xh = new float[n], gr = new float[n], dxhat = new float[n];
        if (w != null) System.arraycopy(w, offW, wl, 0, n);
        else java.util.Arrays.fill(wl, 1f);
        for (int r = from; r < to; r++) {
            float mu = mean[offStat + r], rs = rstd[offStat + r];
            System.arraycopy(x, offX + r * n, xh, 0, n);
            System.arraycopy(g, offG + r * n, gr, 0, n);
            for (int j = 0; j < n; j++) xh[j] = (xh[j] - mu) * rs;
            for (int j = 0; j < n; j++) dxhat[j] = gr[j] * wl[j];
            for (int j = 0; j < n; j++) lw[j] += gr[j] * xh[j];
            for (int j = 0; j < n; j++) lb[j] += gr[j];
            if (dx != null) {
                float m1 = sum(dxhat, n) / n, m2 = dot(dxhat, xh, n) / n;
                for (int j = 0; j < n; j++) gr[j] = rs * (dxhat[j] - m1 - xh[j] * m2);
                System.arraycopy(gr, 0, dx, offDx + r * n, n);
            }
        }
    }

    /** a[0] + … + a[n−1] as eight interleaved partial sums (lanes j mod 8), combined pairwise, then the tail in order. */
    static float sum(float[] a, int n) {
        float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f, s4 = 0f, s5 = 0f, s6 = 0f, s7 = 0f;
        int j = 0;
        for (; j + 8 <= n; j += 8) {
            s0 += a[j];
            s1 += a[j + 1];
            s2 += a[j + 2];
            s3 += a[j + 3];
            s4 += a[j + 4];
            s5 += a[j + 5];
            s6 += a[j + 6];
            s7 += a[j + 7];
        }
        float s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
        for (; j < n; j++) s += a[j];
        return s;
    }

    /** Σ (a[j] − mu)², in the order of {@link #sum}. */
    static float sumSquaredDeviations(float[] a, int n, float mu) {
        float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f, s4 = 0f, s5 = 0f, s6 = 0f, s7 = 0f;
        int j = 0;
        for (; j + 8 <= n; j += 8) {
            float d0 = a[j] - mu, d1 = a[j + 1] - mu, d2 = a[j + 2] - mu, d3 = a[j + 3] - mu;
            float d4 = a[j + 4] - mu, d5 = a[j + 5] - mu, d6 = a[j + 6] - mu, d7 = a[j + 7] - mu;
            s0 += d0 * d0;
            s1 += d1 * d1;
            s2 += d2 * d2;
            s3 += d3 * d3;
            s4 += d4 * d4;
            s5 += d5 * d5;
            s6 += d6 * d6;
            s7 += d7 * d7;
        }
        float s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
        for (; j < n; j++) {
            float d = a[j] - mu;
            s += d * d;
        }
        return s;
    }

    /** Σ a[j]·b[j], in the order of {@link #sum}. */
    static float dot(float[] a, float[] b, int n) {
        float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f, s4 = 0f, s5 = 0f, s6 = 0f, s7 = 0f;
        int j = 0;
        for (; j + 8 <= n; j += 8) {
            s0 += a[j] * b[j];
            s1 += a[j + 1] * b[j + 1];
            s2 += a[j + 2] * b[j + 2];
            s3 += a[j + 3] * b[j + 3];
            s4 += a[j + 4] * b[j + 4];
            s5 += a[j + 5] * b[j + 5];
            s6 += a[j + 6] * b[j + 6];
            s7 += a[j + 7] * b[j + 7];
        }
        float s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
        for (; j < n; j++) s += a[j] * b[j];
        return s;
    }

    /**
     * AdamW through local blocks: p, g, m and v sit at four different offsets, so C2 has to assume the stores may
     * overlap the loads and left the plain loop scalar (a sqrt and a divide per element, one at a time); copied into
     * blocks that every loop indexes alike, the update vectorizes. The same operations in the same order per element,
     * so bitwise the plain loop's results.
     */
    @Override
    public void adamw(float[] p, int offP, float[] g, int offG, float[] m, int offM, float[] v, int offV, int n,
                      float stepSize, float bc2Sqrt, float decay, float b1, float c1, float b2, float c2, float eps) {
        int cap = Math.min(ADAMW_BLOCK, n);
        float[] pb = new float[cap], gb = new float[cap], mb = new float[cap], vb = new float[cap];
        for (int s = 0; s < n; s += ADAMW_BLOCK) {
            int len = Math.min(ADAMW_BLOCK, n - s);
            System.arraycopy(p, offP + s, pb, 0, len);
            System.arraycopy(g, offG + s, gb, 0, len);
            System.arraycopy(m, offM + s, mb, 0, len);
            System.arraycopy(v, offV + s, vb, 0, len);
            adamwMoments(gb, mb, vb, len, b1, c1, b2, c2);
            adamwParameters(pb, mb, vb, len, stepSize, bc2Sqrt, decay, eps);
            System.arraycopy(pb, 0, p, offP + s, len);
            System.arraycopy(mb, 0, m, offM + s, len);
            System.arraycopy(vb, 0, v, offV + s, len);
        }
    }

    /** m ← b1·m + c1·g, v ← b2·v + c2·g·g (a loop of its own: small enough for C2 to unroll, hence to vectorize). */
    private static void adamwMoments(float[] g, float[] m, float[] v, int n, float b1, float c1, float b2, float c2) {
        for (int i = 0; i < n; i++) {
            float gi = g[i];
            m[i] = b1 * m[i] + c1 * gi;
            v[i] = b2 * v[i] + c2 * gi * gi;
        }
    }

    /** p ← p·decay − stepSize·m / (√v / bc2Sqrt + eps). */
    private static void adamwParameters(float[] p, float[] m, float[] v, int n, float stepSize, float bc2Sqrt, float decay,
                                        float eps) {
        for (int i = 0; i < n; i++) {
            float denom = (float) Math.sqrt(v[i]) / bc2Sqrt + eps;
            p[i] = p[i] * decay - stepSize * m[i] / denom;
        }
    }

    @Override
    public double sumOfSquares(float[] x, int off, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) s += (double) x[off + i] * x[off + i];
        return s;
    }

    /**
     * With one offset for all three arrays (the usual case: the residual adds of a step, on tensors that start at 0)
     * every array is indexed by the same expression, which is what lets C2 vectorize the loop; with three offsets it
     * must assume the store overlaps a later load and runs it scalar. Same sums either way.
     */
    @Override
    public void add(float[] a, int offA, float[] b, int offB, float[] out, int offOut, int n) {
        if (offA == offB && offB == offOut) {
            for (int j = offA, end = offA + n; j < end; j++) out[j] = a[j] + b[j];
            return;
        }
        for (int j = 0; j < n; j++) out[offOut + j] = a[offA + j] + b[offB + j];
    }

    /** As {@link #add}: one loop index for the usual case of a single offset. */
    @Override
    public void mul(float[] a, int offA, float[] b, int offB, float[] out, int offOut, int n) {
        if (offA == offB && offB == offOut) {
            for (int j = offA, end = offA + n; j < end; j++) out[j] = a[j] * b[j];
            return;
        }
        for (int j = 0; j < n; j++) out[offOut + j] = a[offA + j] * b[offB + j];
    }

    @Override
    public void affine(float[] x, int offX, float scale, float shift, float[] out, int offOut, int n) {
        for (int i = 0; i < n; i++) out[offOut + i] = x[offX + i] * scale + shift;
    }

    @Override
    public void scale(float[] x, int off, int n, float s) {
        for (int i = 0; i < n; i++) x[off + i] *= s;
    }

    @Override
    public void columnSums(float[] x, int offX, int len, int inner, int from, int to, float[] acc) {
        int w = to - from;
        // Each row is copied into a local array first: acc[i] += x[base + i] indexes two arrays differently, so C2 must
        // assume they overlap and leaves the loop scalar; acc[i] += row[i] vectorizes. Same additions in the same
        // order, so the same bits; 2.1x faster on [2048, 1024] (the benchmark model's fc bias gradient).
        float[] row = new float[w];
        for (int a = 0; a < len; a++) {
            System.arraycopy(x, offX + a * inner + from, row, 0, w);
            for (int i = 0; i < w; i++) acc[i] += row[i];
        }
    }

    @Override
    public float maxScaled(float[] x, int off, int n, float scale) {
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) max = Math.max(max, x[off + j] * scale);
        return max;
    }

    @Override
    public float expSum(float[] x, int offX, float scale, float shift, float[] y, int offY, int n) {
        return FastExp.expSum(x, offX, scale, shift, y, offY, n);
    }

    @Override
    public float dot(float[] a, int offA, float[] b, int offB, int n) {
        float s = 0f;
        for (int j = 0; j < n; j++) s += a[offA + j] * b[offB + j];
        return s;
    }

    @Override
    public void softmaxGrad(float[] y, int offY, float[] g, int offG, float dot, float scale, float[] dx, int offDx, int n) {
        for (int j = 0; j < n; j++) dx[offDx + j] = scale * y[offY + j] * (g[offG + j] - dot);
    }
}
