package dev.memwall.rop;

import dev.memwall.autograd.Tensor;
import dev.memwall.kernels.Gelu;
import dev.memwall.kernels.Parallel;
import dev.memwall.kernels.RationalTanh;

/**
 * GELU (tanh approximation) with tangents: ẏ = gelu'(f)·ḟ; backward f̄ = gelu'(f)·ȳ and its tangent
 * gelu'(f)·ẏ̄ + gelu''(f)·ḟ·ȳ, where with t = tanh(u), u = C·(f + A·f³): gelu' = (1 + t)/2 + f·(1 − t²)·u'/2 and
 * gelu'' = (1 − t²)·(u' − f·t·u'² + f·u''/2), u' = C·(1 + 3A·f²), u'' = 6A·C·f. One tanh per element serves every
 * output of a call: the loops run over blocks, tanh first and the rest second, each small enough for the JIT to
 * unroll and vectorize (as in {@link Gelu}); f is clamped to ±16 in the derivatives (beyond it t = ±1 exactly).
 */
final class GeluRop {
    private static final int BLOCK = 512;
    private static final float C = Gelu.C, A = Gelu.A, HALF_C = 0.5f * C, THREE_HALVES_AC = 1.5f * A * C,
            THREE_A = 3f * A, SIX_AC = 6f * A * C;

    private GeluRop() {
    }

    static Dual forward(Dual f, int[] shape) {
        int n = f.v().numel();
        Dual y = Dual.forOverwrite("gelu", shape); // every element is written
        float[] fv = f.va(), ft = f.ta(), yv = y.va(), yt = y.ta();
        int fo = f.vo(), fto = f.to(), yo = y.vo(), yto = y.to();
        Parallel.range(n, 16, (from, to) -> {
            float[] t = new float[BLOCK], x = new float[BLOCK], dx = new float[BLOCK], out = new float[BLOCK], outT = new float[BLOCK];
            for (int s = from; s < to; s += BLOCK) {
                int len = Math.min(BLOCK, to - s);
                System.arraycopy(fv, fo + s, x, 0, len);
                System.arraycopy(ft, fto + s, dx, 0, len);
                tanhOfInner(x, t, len);
                for (int i = 0; i < len; i++) {
                    float v = x[i], ti = t[i], vc = Math.max(-16f, Math.min(16f, v));
                    out[i] = 0.5f * v * (1f + ti);
                    outT[i] = dx[i] * (0.5f + 0.5f * ti + (1f - ti * ti) * vc * (HALF_C + THREE_HALVES_AC * vc * vc));
                }
                System.arraycopy(out, 0, yv, yo + s, len);
                System.arraycopy(outT, 0, yt, yto + s, len);
            }
        });
        return y;
    }

    static Dual backward(Dual f, Dual ybar, int[] shape) {
        int n = f.v().numel();
        Dual xb = Dual.forOverwrite("gelu.grad", shape); // every element is written
        float[] fv = f.va(), ft = f.ta(), gv = ybar.va(), gt = ybar.ta(), bv = xb.va(), bt = xb.ta();
        int fo = f.vo(), fto = f.to(), go = ybar.vo(), gto = ybar.to(), bo = xb.vo(), bto = xb.to();
        Parallel.range(n, 24, (from, to) -> {
            float[] t = new float[BLOCK], x = new float[BLOCK], dx = new float[BLOCK], g = new float[BLOCK], gd = new float[BLOCK];
            for (int s = from; s < to; s += BLOCK) {
                int len = Math.min(BLOCK, to - s);
                System.arraycopy(fv, fo + s, x, 0, len);
                System.arraycopy(ft, fto + s, dx, 0, len);
                System.arraycopy(gv, go + s, g, 0, len);
                System.arraycopy(gt, gto + s, gd, 0, len);
                tanhOfInner(x, t, len);
                for (int i = 0; i < len; i++) {
                    float vc = Math.max(-16f, Math.min(16f, x[i])), ti = t[i], sech2 = 1f - ti * ti;
                    float u1 = C + THREE_A * C * vc * vc;
                    float d1 = 0.5f + 0.5f * ti + sech2 * vc * (HALF_C + THREE_HALVES_AC * vc * vc);
                    float d2 = sech2 * (u1 - vc * ti * u1 * u1 + 0.5f * vc * SIX_AC * vc);
                    float gi = g[i];
                    g[i] = d1 * gi;
                    gd[i] = d1 * gd[i] + d2 * dx[i] * gi;
                }
                System.arraycopy(g, 0, bv, bo + s, len);
                System.arraycopy(gd, 0, bt, bto + s, len);
            }
        });
        return xb;
    }

    /** gelu''(v), one value: the formula of {@link #backward}. */
    static float secondDerivative(float v) {
        float[] x = {v}, t = new float[1];
        tanhOfInner(x, t, 1);
        float vc = Math.max(-16f, Math.min(16f, v)), ti = t[0], u1 = C + THREE_A * C * vc * vc;
        return (1f - ti * ti) * (u1 - vc * ti * u1 * u1 + 0.5f * vc * SIX_AC * vc);
    }

    private static void tanhOfInner(float[] x, float[] t, int n) {
        for (int i = 0; i < n; i++) {
            float v = x[i];
            t[i] = RationalTanh.tanh(C * (v + A * v * v * v));
        }
    }
}
