package dev.memwall.rop;

import dev.memwall.autograd.Tensor;
import dev.memwall.kernels.Parallel;

/**
 * Layer norm over the last axis, y = x̂·γ + β with x̂ = (x − μ)·r, r = 1/√(var + ε), and its tangents. Forward:
 * ẋ̂ = r·(ẋ − mean ẋ) − x̂·s with s = r·mean(x̂·ẋ) (so ṙ = −r·s), ẏ = ẋ̂·γ + x̂·γ̇ + β̇. Backward from (ȳ, ẏ̄), with
 * ĝ = ȳ·γ: x̄ = r·(ĝ − mean ĝ − x̂·mean(ĝ·x̂)) and, differentiating that along the tangent,
 * x̄̇ = −s·x̄ + r·(ĝ̇ − mean ĝ̇ − ẋ̂·mean(ĝ·x̂) − x̂·mean(ĝ̇·x̂ + ĝ·ẋ̂)) with ĝ̇ = ẏ̄·γ + ȳ·γ̇; γ̄ = Σ ȳ·x̂, β̄ = Σ ȳ,
 * (H·z)_γ = Σ (ẏ̄·x̂ + ȳ·ẋ̂), (H·z)_β = Σ ẏ̄. Saved: (x̂, ẋ̂) and (r, s) per row.
 */
final class LayerNormRop {
    static final float EPS = 1e-5f;
    /** Rows whose mean and variance are summed side by side. */
    private static final int GROUP = 4;

    /** What the backward reads: the normalized input and its tangent, r and s per row. */
    record Saved(Dual xhat, Tensor stats, int rows, int n) {
        Saved keep() {
            Tensor s = stats.saveForBackward();
            stats.release();
            return new Saved(xhat.keep(), s, rows, n);
        }

        void release() {
            xhat.release();
            if (stats.isReleased()) return;
            if (xhat.kept()) stats.releaseSavedForBackward();
            else stats.release();
        }
    }

    private LayerNormRop() {
    }

    /** Returns y and its tangent; {@code saved[0]} receives what the backward needs. */
    static Dual forward(Dual x, Param gamma, Param beta, int rows, int n, int[] shape, Saved[] saved) {
        // every element of these is written below
        Tensor y = Tensor.forOverwrite("rop.layer_norm", shape), yd = Tensor.forOverwrite("rop.layer_norm.tangent", shape);
        Dual xh = Dual.forOverwrite("layer_norm.xhat", shape);
        Tensor stats = Tensor.forOverwrite("rop.layer_norm.stats", 2, rows);
        float[] st = stats.data();
        int so = stats.offset();
        float[] xv = x.va(), xt = x.ta(), hv = xh.va(), ht = xh.ta(), yv = y.data(), ydv = yd.data();
        float[] g = gamma.w(), b = beta.w(), gz = gamma.z(), bz = beta.z();
        int xo = x.vo(), xto = x.to(), ho = xh.vo(), hto = xh.to(), yo = y.offset(), ydo = yd.offset();
        int go = gamma.wo(), bo = beta.wo(), gzo = gamma.zOffset(), bzo = beta.zOffset();
        // One pass over the rows for y, x̂, ẋ̂ and ẏ: y's arithmetic is the scalar first-order kernel's
        // (LayerNormKernel: sum, mean, centred sum of squares, r, then (x − μ)·r·γ + β), so y is bit for bit what the
        // first-order forward gives on the scalar path, and x̂ is exactly the (x − μ)·r inside it.
        Parallel.range(rows, 8L * n, (from, to) -> {
            float[] mr = new float[2 * GROUP]; // mean, then r, of the rows of a group
            for (int r0 = from; r0 < to; r0 += GROUP) {
                int count = Math.min(GROUP, to - r0);
                if (count == GROUP) meansAndRstd4(xv, xo + r0 * n, n, mr);
                else for (int k = 0; k < count; k++) meanAndRstd(xv, xo + (r0 + k) * n, n, mr, k);
                for (int k = 0; k < count; k++) {
                    int r = r0 + k;
                    int xi = xo + r * n, ti = xto + r * n, hi = ho + r * n, hti = hto + r * n, yi = yo + r * n, ydi = ydo + r * n;
                    float mean = mr[k], rstd = mr[GROUP + k];
                    float tmean = 0f, dot = 0f;
                    for (int j = 0; j < n; j++) {
                        float h = (xv[xi + j] - mean) * rstd;
                        hv[hi + j] = h;
                        yv[yi + j] = h * g[go + j] + b[bo + j];
                        tmean += xt[ti + j];
                        dot += h * xt[ti + j];
                    }
                    tmean /= n;
                    float s = rstd * dot / n;
                    for (int j = 0; j < n; j++) {
                        float hd = rstd * (xt[ti + j] - tmean) - hv[hi + j] * s;
                        ht[hti + j] = hd;
                        ydv[ydi + j] = hd * g[go + j] + hv[hi + j] * gz[gzo + j] + bz[bzo + j];
                    }
                    st[so + r] = rstd;
                    st[so + rows + r] = s;
                }
            }
        });
        saved[0] = new Saved(xh, stats, rows, n);
        return new Dual(y, yd, false);
    }

    /**
     * μ and r of one row (into {@code mr[k]} and {@code mr[GROUP + k]}): the sum, then the centred sum of squares, each
     * added in index order as the scalar first-order kernel does.
     */
    private static void meanAndRstd(float[] x, int xi, int n, float[] mr, int k) {
        float sum = 0f;
        for (int j = 0; j < n; j++) sum += x[xi + j];
        float mean = sum / n;
        float var = 0f;
        for (int j = 0; j < n; j++) {
            float c = x[xi + j] - mean;
            var += c * c;
        }
        mr[k] = mean;
        mr[GROUP + k] = (float) (1.0 / Math.sqrt(var / n + EPS));
    }

    /**
     * {@link #meanAndRstd} of four consecutive rows at once: each row's sums in the same order (so the same bits), the
     * four independent additions interleaved so that they overlap instead of each waiting on the one before.
     */
    private static void meansAndRstd4(float[] x, int xi, int n, float[] mr) {
        int x1 = xi + n, x2 = xi + 2 * n, x3 = xi + 3 * n;
        float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
        for (int j = 0; j < n; j++) {
            s0 += x[xi + j];
            s1 += x[x1 + j];
            s2 += x[x2 + j];
            s3 += x[x3 + j];
        }
        float m0 = s0 / n, m1 = s1 / n, m2 = s2 / n, m3 = s3 / n;
        float v0 = 0f, v1 = 0f, v2 = 0f, v3 = 0f;
        for (int j = 0; j < n; j++) {
            float c0 = x[xi + j] - m0, c1 = x[x1 + j] - m1, c2 = x[x2 + j] - m2, c3 = x[x3 + j] - m3;
            v0 += c0 * c0;
            v1 += c1 * c1;
            v2 += c2 * c2;
            v3 += c3 * c3;
        }
        mr[0] = m0;
        mr[1] = m1;
        mr[2] = m2;
        mr[3] = m3;
        mr[GROUP] = (float) (1.0 / Math.sqrt(v0 / n + EPS));
        mr[GROUP + 1] = (float) (1.0 / Math.sqrt(v1 / n + EPS));
        mr[GROUP + 2] = (float) (1.0 / Math.sqrt(v2 / n + EPS));
        mr[GROUP + 3] = (float) (1.0 / Math.sqrt(v3 / n + EPS));
    }

    /** Returns (x̄, its tangent); γ's and β's gradient and H·z go to {@code sink}. */
    static Dual backward(Saved sv, Dual ybar, Param gamma, Param beta, int[] shape, Products sink) {
        int rows = sv.rows(), n = sv.n();
        Dual xbar = Dual.forOverwrite("layer_norm.grad", shape); // every row is written
        float[] hv = sv.xhat().va(), ht = sv.xhat().ta(), st = sv.stats().data(), gv = ybar.va(), gt = ybar.ta();
        float[] g = gamma.w(), gz = gamma.z(), bv = xbar.va(), bt = xbar.ta();
        int ho = sv.xhat().vo(), hto = sv.xhat().to(), so = sv.stats().offset(), gvo = ybar.vo(), gto = ybar.to();
        int go = gamma.wo(), gzo = gamma.zOffset(), bvo = xbar.vo(), bto = xbar.to();
        Parallel.range(rows, 12L * n, (from, to) -> {
            for (int r = from; r < to; r++) {
                int hi = ho + r * n, hti = hto + r * n, yi = gvo + r * n, yti = gto + r * n, xi = bvo + r * n, xti = bto + r * n;
                float rstd = st[so + r], s = st[so + rows + r];
                float m1 = 0f, m2 = 0f, dm1 = 0f, dm2 = 0f;
                for (int j = 0; j < n; j++) {
                    float gh = gv[yi + j] * g[go + j];
                    float ghd = gt[yti + j] * g[go + j] + gv[yi + j] * gz[gzo + j];
                    m1 += gh;
                    m2 += gh * hv[hi + j];
                    dm1 += ghd;
                    dm2 += ghd * hv[hi + j] + gh * ht[hti + j];
                }
                m1 /= n;
                m2 /= n;
                dm1 /= n;
                dm2 /= n;
                for (int j = 0; j < n; j++) {
                    float gh = gv[yi + j] * g[go + j];
                    float ghd = gt[yti + j] * g[go + j] + gv[yi + j] * gz[gzo + j];
                    float xb = rstd * (gh - m1 - hv[hi + j] * m2);
                    bv[xi + j] = xb;
                    bt[xti + j] = -s * xb + rstd * (ghd - dm1 - ht[hti + j] * m2 - hv[hi + j] * dm2);
                }
            }
        });
        boolean grad = sink.addGradient();
        float[] dg = grad ? gamma.grad().data() : null, db = grad ? beta.grad().data() : null;
        int dgo = grad ? gamma.grad().offset() : 0, dbo = grad ? beta.grad().offset() : 0;
        Tensor hg = Products.hzUnfilled(gamma), hb = Products.hzUnfilled(beta);
        float[] a = hg.data(), c = hb.data();
        int ao = hg.offset(), co = hb.offset();
        // columns split over the cores, rows summed in order: the same result whatever the split; the H·z sums start
        // from row 0's terms (+0f: what adding them onto a zero-filled buffer gives, -0 included)
        Parallel.range(n, 6L * rows, (c0, c1) -> {
            for (int j = c0; j < c1; j++) {
                a[ao + j] = 0f + (gt[gto + j] * hv[ho + j] + gv[gvo + j] * ht[hto + j]);
                c[co + j] = 0f + gt[gto + j];
            }
            if (grad) {
                for (int j = c0; j < c1; j++) {
                    dg[dgo + j] += gv[gvo + j] * hv[ho + j];
                    db[dbo + j] += gv[gvo + j];
                }
            }
            for (int r = 1; r < rows; r++) {
                int hi = ho + r * n, hti = hto + r * n, yi = gvo + r * n, yti = gto + r * n;
                if (grad) {
                    for (int j = c0; j < c1; j++) {
                        dg[dgo + j] += gv[yi + j] * hv[hi + j];
                        db[dbo + j] += gv[yi + j];
                    }
                }
                for (int j = c0; j < c1; j++) {
                    a[ao + j] += gt[yti + j] * hv[hi + j] + gv[yi + j] * ht[hti + j];
                    c[co + j] += gt[yti + j];
                }
            }
        });
        sink.emit(gamma, hg);
        sink.emit(beta, hb);
        return xbar;
    }
}
