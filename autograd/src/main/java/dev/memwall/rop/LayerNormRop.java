package dev.memwall.rop;

import dev.memwall.autograd.Tensor;
import dev.memwall.kernels.LayerNormKernel;
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
        Tensor y = Tensor.empty("rop.layer_norm", shape), yd = Tensor.empty("rop.layer_norm.tangent", shape);
        Dual xh = Dual.zeros("layer_norm.xhat", shape);
        Tensor stats = Tensor.empty("rop.layer_norm.stats", 2, rows), means = Tensor.empty("rop.layer_norm.mean", rows);
        float[] st = stats.data();
        int so = 0; // fresh tensors start at offset 0, which the kernel's one stats offset needs
        // y as the first-order op computes it; x̂, r and s (row 0 and 1 of stats) are recomputed below
        LayerNormKernel.forward(x.va(), x.vo(), gamma.w(), gamma.wo(), beta.w(), beta.wo(), EPS, y.data(), y.offset(),
                means.data(), st, so, rows, n);
        means.release();
        float[] xv = x.va(), xt = x.ta(), hv = xh.va(), ht = xh.ta(), g = gamma.w(), gz = gamma.z(), bz = beta.z(), ydv = yd.data();
        int xo = x.vo(), xto = x.to(), ho = xh.vo(), hto = xh.to(), go = gamma.wo(), gzo = gamma.zOffset(), bzo = beta.zOffset(), ydo = yd.offset();
        Parallel.range(rows, 8L * n, (from, to) -> {
            for (int r = from; r < to; r++) {
                int xi = xo + r * n, ti = xto + r * n, hi = ho + r * n, hti = hto + r * n, yi = ydo + r * n;
                float mean = 0f;
                for (int j = 0; j < n; j++) mean += xv[xi + j];
                mean /= n;
                float var = 0f;
                for (int j = 0; j < n; j++) {
                    float c = xv[xi + j] - mean;
                    var += c * c;
                }
                float rstd = (float) (1.0 / Math.sqrt(var / n + EPS));
                float tmean = 0f, dot = 0f;
                for (int j = 0; j < n; j++) {
                    float h = (xv[xi + j] - mean) * rstd;
                    hv[hi + j] = h;
                    tmean += xt[ti + j];
                    dot += h * xt[ti + j];
                }
                tmean /= n;
                float s = rstd * dot / n;
                for (int j = 0; j < n; j++) {
                    float hd = rstd * (xt[ti + j] - tmean) - hv[hi + j] * s;
                    ht[hti + j] = hd;
                    ydv[yi + j] = hd * g[go + j] + hv[hi + j] * gz[gzo + j] + bz[bzo + j];
                }
                st[so + r] = rstd;
                st[so + rows + r] = s;
            }
        });
        saved[0] = new Saved(xh, stats, rows, n);
        return new Dual(y, yd, false);
    }

    /** Returns (x̄, its tangent); γ's and β's gradient and H·z go to {@code sink}. */
    static Dual backward(Saved sv, Dual ybar, Param gamma, Param beta, int[] shape, Products sink) {
        int rows = sv.rows(), n = sv.n();
        Dual xbar = Dual.zeros("layer_norm.grad", shape);
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
        Tensor hg = Products.hzFor(gamma), hb = Products.hzFor(beta);
        float[] a = hg.data(), c = hb.data();
        int ao = hg.offset(), co = hb.offset();
        // columns split over the cores, rows summed in order: the same result whatever the split
        Parallel.range(n, 6L * rows, (c0, c1) -> {
            for (int r = 0; r < rows; r++) {
                int hi = ho + r * n, hti = hto + r * n, yi = gvo + r * n, yti = gto + r * n;
                for (int j = c0; j < c1; j++) {
                    if (grad) {
                        dg[dgo + j] += gv[yi + j] * hv[hi + j];
                        db[dbo + j] += gv[yi + j];
                    }
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
