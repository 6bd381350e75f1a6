package dev.memwall.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The kernel bodies in explicit SIMD through the incubating Vector API of Java 17 ({@code jdk.incubator.vector}),
 * compiled apart from the rest of the module (src/main/vector, with {@code --add-modules}) and loaded only by
 * {@link Vectorization}, so nothing else links against the incubator module.
 *
 * <p>Rules from Lucene's {@code PanamaVectorUtilSupport}: a range shorter than two vectors runs the scalar loop
 * (inherited from {@link ScalarKernels}); reductions keep four independent accumulators, then a one-vector loop, then
 * a scalar tail; no fused multiply-add, so every elementwise result is bitwise the scalar one (same operations in the
 * same order) and only sums are reordered. The species is a static final constant, which C2 needs to intrinsify the
 * operations: the preferred width, or {@code -Dmemwall.vector.bits}.
 */
final class VectorKernels extends ScalarKernels {
    private static final VectorSpecies<Float> F = species();
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final int L = F.length();
    private static final int ROUND_BITS = Float.floatToIntBits(FastExp.ROUND);
    /**
     * Long ranges run as calls of a block method, so that C2 compiles it as a method after a few kernel calls: a
     * method called a few times per training step with one long loop would run in C1 or on-stack-replacement code for
     * hundreds of steps, and every iteration C1 runs boxes its vectors.
     */
    private static final int BLOCK = 4096;
    // tanh's rational approximation: RationalTanh's coefficients
    private static final float T_CLAMP = RationalTanh.CLAMP;
    private static final float P0 = RationalTanh.P0, P1 = RationalTanh.P1, P2 = RationalTanh.P2, P3 = RationalTanh.P3,
            P4 = RationalTanh.P4, P5 = RationalTanh.P5, P6 = RationalTanh.P6;
    private static final float Q0 = RationalTanh.Q0, Q1 = RationalTanh.Q1, Q2 = RationalTanh.Q2, Q3 = RationalTanh.Q3;

    VectorKernels() {
        int max = FloatVector.SPECIES_MAX.vectorBitSize();
        if (FloatVector.SPECIES_PREFERRED.vectorBitSize() < 128) {
            throw new UnsupportedOperationException("the preferred vector size is "
                    + FloatVector.SPECIES_PREFERRED.vectorBitSize() + " bits, below 128");
        }
        if (F.vectorBitSize() > max) {
            throw new UnsupportedOperationException(F.vectorBitSize() + "-bit vectors asked for, this CPU has " + max);
        }
    }

    private static VectorSpecies<Float> species() {
        int bits = Integer.getInteger(Vectorization.BITS_PROPERTY, 0);
        return bits == 0 ? FloatVector.SPECIES_PREFERRED : VectorSpecies.of(float.class, VectorShape.forBitSize(bits));
    }

    @Override
    public String name() {
        return "Vector API, " + F.vectorBitSize() + "-bit";
    }

    /** tanh(u), the operations of {@link RationalTanh#tanh} lane by lane. */
    private static FloatVector tanh(FloatVector u) {
        FloatVector x = u.min(T_CLAMP).max(-T_CLAMP);
        FloatVector x2 = x.mul(x);
        FloatVector p = x2.mul(P0).add(P1).mul(x2).sub(P2).mul(x2).add(P3).mul(x2).add(P4).mul(x2).add(P5).mul(x2).add(P6).mul(x);
        FloatVector q = x2.mul(Q0).add(Q1).mul(x2).add(Q2).mul(x2).add(Q3);
        return p.div(q);
    }

    /** tanh(C (v + A v³)), as the scalar GELU forms it. */
    private static FloatVector tanhOfInner(FloatVector v) {
        return tanh(v.add(v.mul(Gelu.A).mul(v).mul(v)).mul(Gelu.C));
    }

    @Override
    public void geluForward(float[] x, int offX, float[] y, int offY, int n) {
        for (int s = 0; s < n; s += BLOCK) geluForwardBlock(x, offX + s, y, offY + s, Math.min(BLOCK, n - s));
    }

    private static void geluForwardBlock(float[] x, int offX, float[] y, int offY, int n) {
        int i = 0;
        if (n >= 2 * L) {
            for (int bound = F.loopBound(n); i < bound; i += L) {
                FloatVector v = FloatVector.fromArray(F, x, offX + i);
                v.mul(0.5f).mul(tanhOfInner(v).add(1f)).intoArray(y, offY + i);
            }
        }
        for (; i < n; i++) y[offY + i] = Gelu.value(x[offX + i]);
    }

    @Override
    public void geluBackward(float[] x, int offX, float[] g, int offG, float[] dx, int offDx, int n) {
        for (int s = 0; s < n; s += BLOCK) geluBackwardBlock(x, offX + s, g, offG + s, dx, offDx + s, Math.min(BLOCK, n - s));
    }

    private static void geluBackwardBlock(float[] x, int offX, float[] g, int offG, float[] dx, int offDx, int n) {
        int i = 0;
        if (n >= 2 * L) {
            FloatVector one = FloatVector.broadcast(F, 1f);
            for (int bound = F.loopBound(n); i < bound; i += L) {
                FloatVector v = FloatVector.fromArray(F, x, offX + i), gv = FloatVector.fromArray(F, g, offG + i);
                FloatVector t = tanhOfInner(v);
                FloatVector vc = v.min(16f).max(-16f);
                FloatVector d = t.mul(0.5f).add(0.5f)
                        .add(one.sub(t.mul(t)).mul(vc).mul(vc.mul(Gelu.THREE_HALVES_AC).mul(vc).add(Gelu.HALF_C)));
                gv.mul(d).intoArray(dx, offDx + i);
            }
        }
        for (; i < n; i++) dx[offDx + i] = Gelu.gradient(x[offX + i], g[offG + i]);
    }

    @Override
    public void layerNormForward(float[] x, int offX, float[] w, int offW, float[] b, int offB, float eps,
                                 float[] y, int offY, float[] mean, float[] rstd, int offStat, int from, int to, int n) {
        if (n < 2 * L) {
            super.layerNormForward(x, offX, w, offW, b, offB, eps, y, offY, mean, rstd, offStat, from, to, n);
            return;
        }
        // missing weight or bias as 1 and 0, multiplied and added as the scalar body does (bitwise the same y)
        float[] wl = w, bl = b;
        int ow = offW, ob = offB;
        if (w == null) {
            wl = new float[n];
            java.util.Arrays.fill(wl, 1f);
            ow = 0;
        }
        if (b == null) {
            bl = new float[n];
            ob = 0;
        }
        for (int r = from; r < to; r++) layerNormForwardRow(x, offX + r * n, wl, ow, bl, ob, eps, y, offY + r * n, mean, rstd, offStat + r, n);
    }

    private static void layerNormForwardRow(float[] x, int xo, float[] wl, int ow, float[] bl, int ob, float eps,
                                            float[] y, int yo, float[] mean, float[] rstd, int stat, int n) {
        int bound = F.loopBound(n);
        float mu = sum(x, xo, n) / n;
        float rs = (float) (1.0 / Math.sqrt(sumSquaredDeviations(x, xo, n, mu) / n + eps));
        mean[stat] = mu;
        rstd[stat] = rs;
        int j = 0;
        for (; j < bound; j += L) {
            FloatVector.fromArray(F, x, xo + j).sub(mu).mul(rs).mul(FloatVector.fromArray(F, wl, ow + j))
                    .add(FloatVector.fromArray(F, bl, ob + j)).intoArray(y, yo + j);
        }
        for (; j < n; j++) y[yo + j] = (x[xo + j] - mu) * rs * wl[ow + j] + bl[ob + j];
    }

    @Override
    public void layerNormBackward(float[] x, int offX, float[] w, int offW, float[] mean, float[] rstd, int offStat,
                                  float[] g, int offG, float[] dx, int offDx, float[] lw, float[] lb,
                                  int from, int to, int n) {
        if (n < 2 * L) {
            super.layerNormBackward(x, offX, w, offW, mean, rstd, offStat, g, offG, dx, offDx, lw, lb, from, to, n);
            return;
        }
        float[] wl = w;
        int ow = offW;
        if (w == null) {
            wl = new float[n];
            java.util.Arrays.fill(wl, 1f);
            ow = 0;
        }
        for (int r = from; r < to; r++) {
            layerNormBackwardRow(x, offX + r * n, wl, ow, mean[offStat + r], rstd[offStat + r], g, offG + r * n,
                    dx, dx == null ? 0 : offDx + r * n, lw, lb, n);
        }
    }

    /** One row of {@link #layerNormBackward}; dxo is the row's offset in dx (ignored when dx is null). */
    private static void layerNormBackwardRow(float[] x, int xo, float[] wl, int ow, float mu, float rs, float[] g, int go,
                                             float[] dx, int dxo, float[] lw, float[] lb, int n) {
        int bound = F.loopBound(n);
        // pass 1: the weight and bias gradients, and the two row sums dx needs
        FloatVector s1v = FloatVector.zero(F), s2v = FloatVector.zero(F);
        int j = 0;
        for (; j < bound; j += L) {
            FloatVector xh = FloatVector.fromArray(F, x, xo + j).sub(mu).mul(rs);
            FloatVector gv = FloatVector.fromArray(F, g, go + j);
            FloatVector dxh = gv.mul(FloatVector.fromArray(F, wl, ow + j));
            FloatVector.fromArray(F, lw, j).add(gv.mul(xh)).intoArray(lw, j);
            FloatVector.fromArray(F, lb, j).add(gv).intoArray(lb, j);
            s1v = s1v.add(dxh);
            s2v = s2v.add(dxh.mul(xh));
        }
        float s1 = s1v.reduceLanes(VectorOperators.ADD), s2 = s2v.reduceLanes(VectorOperators.ADD);
        for (; j < n; j++) {
            float xh = (x[xo + j] - mu) * rs, gj = g[go + j], dxh = gj * wl[ow + j];
            lw[j] += gj * xh;
            lb[j] += gj;
            s1 += dxh;
            s2 += dxh * xh;
        }
        if (dx == null) return;
        // pass 2: dx from x and g again (still in L1) rather than from a stored row
        float m1 = s1 / n, m2 = s2 / n;
        for (j = 0; j < bound; j += L) {
            FloatVector xh = FloatVector.fromArray(F, x, xo + j).sub(mu).mul(rs);
            FloatVector dxh = FloatVector.fromArray(F, g, go + j).mul(FloatVector.fromArray(F, wl, ow + j));
            dxh.sub(m1).sub(xh.mul(m2)).mul(rs).intoArray(dx, dxo + j);
        }
        for (; j < n; j++) {
            float xh = (x[xo + j] - mu) * rs, dxh = g[go + j] * wl[ow + j];
            dx[dxo + j] = rs * (dxh - m1 - xh * m2);
        }
    }

    @Override
    public void adamw(float[] p, int offP, float[] g, int offG, float[] m, int offM, float[] v, int offV, int n,
                      float stepSize, float bc2Sqrt, float decay, float b1, float c1, float b2, float c2, float eps) {
        for (int s = 0; s < n; s += BLOCK) {
            adamwBlock(p, offP + s, g, offG + s, m, offM + s, v, offV + s, Math.min(BLOCK, n - s), stepSize, bc2Sqrt, decay, b1, c1, b2, c2, eps);
        }
    }

    private void adamwBlock(float[] p, int offP, float[] g, int offG, float[] m, int offM, float[] v, int offV, int n,
                            float stepSize, float bc2Sqrt, float decay, float b1, float c1, float b2, float c2, float eps) {
        int i = 0;
        if (n >= 2 * L) {
            for (int bound = F.loopBound(n); i < bound; i += L) {
                FloatVector gv = FloatVector.fromArray(F, g, offG + i);
                FloatVector mi = FloatVector.fromArray(F, m, offM + i).mul(b1).add(gv.mul(c1));
                FloatVector vi = FloatVector.fromArray(F, v, offV + i).mul(b2).add(gv.mul(c2).mul(gv));
                mi.intoArray(m, offM + i);
                vi.intoArray(v, offV + i);
                FloatVector denom = vi.sqrt().div(bc2Sqrt).add(eps);
                FloatVector.fromArray(F, p, offP + i).mul(decay).sub(mi.mul(stepSize).div(denom)).intoArray(p, offP + i);
            }
        }
        if (i < n) super.adamw(p, offP + i, g, offG + i, m, offM + i, v, offV + i, n - i, stepSize, bc2Sqrt, decay, b1, c1, b2, c2, eps);
    }

    /** Float sums over runs of this many elements (16 per lane accumulator at 512 bits), added up in double. */
    private static final int SQUARES_RUN = 1024;

    @Override
    public double sumOfSquares(float[] x, int off, int n) {
        if (n < 2 * L) return super.sumOfSquares(x, off, n);
        double total = 0;
        int i = 0;
        for (; i + SQUARES_RUN <= n; i += SQUARES_RUN) total += dot(x, off + i, x, off + i, SQUARES_RUN);
        if (i < n) total += n - i >= 2 * L ? dot(x, off + i, x, off + i, n - i) : super.sumOfSquares(x, off + i, n - i);
        return total;
    }

    @Override
    public void add(float[] a, int offA, float[] b, int offB, float[] out, int offOut, int n) {
        for (int s = 0; s < n; s += BLOCK) addBlock(a, offA + s, b, offB + s, out, offOut + s, Math.min(BLOCK, n - s));
    }

    private static void addBlock(float[] a, int offA, float[] b, int offB, float[] out, int offOut, int n) {
        int i = 0;
        if (n >= 2 * L) {
            for (int bound = F.loopBound(n); i < bound; i += L) {
                FloatVector.fromArray(F, a, offA + i).add(FloatVector.fromArray(F, b, offB + i)).intoArray(out, offOut + i);
            }
        }
        for (; i < n; i++) out[offOut + i] = a[offA + i] + b[offB + i];
    }

    @Override
    public void mul(float[] a, int offA, float[] b, int offB, float[] out, int offOut, int n) {
        int i = 0;
        if (n >= 2 * L) {
            for (int bound = F.loopBound(n); i < bound; i += L) {
                FloatVector.fromArray(F, a, offA + i).mul(FloatVector.fromArray(F, b, offB + i)).intoArray(out, offOut + i);
            }
        }
        for (; i < n; i++) out[offOut + i] = a[offA + i] * b[offB + i];
    }

    @Override
    public void affine(float[] x, int offX, float scale, float shift, float[] out, int offOut, int n) {
        for (int s = 0; s < n; s += BLOCK) affineBlock(x, offX + s, scale, shift, out, offOut + s, Math.min(BLOCK, n - s));
    }

    private static void affineBlock(float[] x, int offX, float scale, float shift, float[] out, int offOut, int n) {
        int i = 0;
        if (n >= 2 * L) {
            for (int bound = F.loopBound(n); i < bound; i += L) {
                FloatVector.fromArray(F, x, offX + i).mul(scale).add(shift).intoArray(out, offOut + i);
            }
        }
        for (; i < n; i++) out[offOut + i] = x[offX + i] * scale + shift;
    }

    @Override
    public void scale(float[] x, int off, int n, float s) {
        int i = 0;
        if (n >= 2 * L) {
            for (int bound = F.loopBound(n); i < bound; i += L) {
                FloatVector.fromArray(F, x, off + i).mul(s).intoArray(x, off + i);
            }
        }
        for (; i < n; i++) x[off + i] *= s;
    }

    @Override
    public void columnSums(float[] x, int offX, int len, int inner, int from, int to, float[] acc) {
        int w = to - from;
        if (w < 2 * L) {
            super.columnSums(x, offX, len, inner, from, to, acc);
            return;
        }
        for (int a = 0; a < len; a++) add(acc, 0, x, offX + a * inner + from, acc, 0, w); // row by row, in order
    }

    @Override
    public float maxScaled(float[] x, int off, int n, float scale) {
        if (n < 2 * L) return super.maxScaled(x, off, n, scale);
        FloatVector m0 = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY), m1 = m0;
        int i = 0;
        for (; i <= n - 2 * L; i += 2 * L) {
            m0 = m0.max(FloatVector.fromArray(F, x, off + i).mul(scale));
            m1 = m1.max(FloatVector.fromArray(F, x, off + i + L).mul(scale));
        }
        for (; i <= n - L; i += L) m0 = m0.max(FloatVector.fromArray(F, x, off + i).mul(scale));
        float max = m0.max(m1).reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) max = Math.max(max, x[off + i] * scale);
        return max;
    }

    /** e^(a·scale − shift) by FastExp's formula, lane by lane (the same operations, so the same bits). */
    private static FloatVector exp(FloatVector a, float scale, float shift) {
        FloatVector t = a.mul(scale).sub(shift).min(88f).max(-88f);
        FloatVector rounded = t.mul(FastExp.LOG2E).add(FastExp.ROUND); // 1.5·2^23 + k: k sits in the low mantissa bits
        FloatVector k = rounded.sub(FastExp.ROUND);
        FloatVector r = t.sub(k.mul(FastExp.LN2_HI)).sub(k.mul(FastExp.LN2_LO));
        FloatVector p = r.mul(FastExp.C7).add(FastExp.C6).mul(r).add(FastExp.C5).mul(r).add(FastExp.C4).mul(r)
                .add(FastExp.C3).mul(r).add(FastExp.C2).mul(r).add(1f).mul(r).add(1f);
        // 2^k as (k + 127) << 23, with k read from the bits of 1.5·2^23 + k rather than by a float-to-int conversion,
        // which JDK 17 does not intrinsify for 16 lanes (it ran 20× slower than the scalar loop)
        IntVector bits = ((IntVector) rounded.reinterpretShape(I, 0)).sub(ROUND_BITS - 127).lanewise(VectorOperators.LSHL, 23);
        return p.mul(bits.reinterpretAsFloats());
    }

    /**
     * One call of {@link #exp} in one loop, with one accumulator: a second inlined copy of exp's ~30 vector operations
     * pushed C2 past its inlining node budget (NodeCountInliningCutoff), and a vector operation left as a call boxes
     * its vectors (2 KB of garbage per row, slower than the scalar loop). The sum's dependency chain is one add per
     * ~30 independent operations, so more accumulators would not help here.
     */
    @Override
    public float expSum(float[] x, int offX, float scale, float shift, float[] y, int offY, int n) {
        if (n < 2 * L) return super.expSum(x, offX, scale, shift, y, offY, n);
        FloatVector s = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            FloatVector e = exp(FloatVector.fromArray(F, x, offX + i), scale, shift);
            if (y != null) e.intoArray(y, offY + i);
            s = s.add(e);
        }
        float sum = s.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            float e = FastExp.exp(x[offX + i] * scale - shift);
            if (y != null) y[offY + i] = e;
            sum += e;
        }
        return sum;
    }

    @Override
    public float dot(float[] a, int offA, float[] b, int offB, int n) {
        if (n < 2 * L) return super.dot(a, offA, b, offB, n);
        FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
        int i = 0;
        for (; i <= n - 4 * L; i += 4 * L) {
            s0 = s0.add(FloatVector.fromArray(F, a, offA + i).mul(FloatVector.fromArray(F, b, offB + i)));
            s1 = s1.add(FloatVector.fromArray(F, a, offA + i + L).mul(FloatVector.fromArray(F, b, offB + i + L)));
            s2 = s2.add(FloatVector.fromArray(F, a, offA + i + 2 * L).mul(FloatVector.fromArray(F, b, offB + i + 2 * L)));
            s3 = s3.add(FloatVector.fromArray(F, a, offA + i + 3 * L).mul(FloatVector.fromArray(F, b, offB + i + 3 * L)));
        }
        for (; i <= n - L; i += L) {
            s0 = s0.add(FloatVector.fromArray(F, a, offA + i).mul(FloatVector.fromArray(F, b, offB + i)));
        }
        float s = s0.add(s1).add(s2.add(s3)).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) s += a[offA + i] * b[offB + i];
        return s;
    }

    /** Σ x over [0, n), four accumulators. */
    private static float sum(float[] x, int off, int n) {
        FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
        int i = 0;
        for (; i <= n - 4 * L; i += 4 * L) {
            s0 = s0.add(FloatVector.fromArray(F, x, off + i));
            s1 = s1.add(FloatVector.fromArray(F, x, off + i + L));
            s2 = s2.add(FloatVector.fromArray(F, x, off + i + 2 * L));
            s3 = s3.add(FloatVector.fromArray(F, x, off + i + 3 * L));
        }
        for (; i <= n - L; i += L) s0 = s0.add(FloatVector.fromArray(F, x, off + i));
        float s = s0.add(s1).add(s2.add(s3)).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) s += x[off + i];
        return s;
    }

    /** Σ (x − mu)² over [0, n), four accumulators. */
    private static float sumSquaredDeviations(float[] x, int off, int n, float mu) {
        FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
        int i = 0;
        for (; i <= n - 4 * L; i += 4 * L) {
            FloatVector d0 = FloatVector.fromArray(F, x, off + i).sub(mu), d1 = FloatVector.fromArray(F, x, off + i + L).sub(mu);
            FloatVector d2 = FloatVector.fromArray(F, x, off + i + 2 * L).sub(mu), d3 = FloatVector.fromArray(F, x, off + i + 3 * L).sub(mu);
            s0 = s0.add(d0.mul(d0));
            s1 = s1.add(d1.mul(d1));
            s2 = s2.add(d2.mul(d2));
            s3 = s3.add(d3.mul(d3));
        }
        for (; i <= n - L; i += L) {
            FloatVector d = FloatVector.fromArray(F, x, off + i).sub(mu);
            s0 = s0.add(d.mul(d));
        }
        float s = s0.add(s1).add(s2.add(s3)).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            float d = x[off + i] - mu;
            s += d * d;
        }
        return s;
    }

    @Override
    public void softmaxGrad(float[] y, int offY, float[] g, int offG, float dot, float scale, float[] dx, int offDx, int n) {
        int i = 0;
        if (n >= 2 * L) {
            for (int bound = F.loopBound(n); i < bound; i += L) {
                FloatVector.fromArray(F, y, offY + i).mul(scale).mul(FloatVector.fromArray(F, g, offG + i).sub(dot))
                        .intoArray(dx, offDx + i);
            }
        }
        for (; i < n; i++) dx[offDx + i] = scale * y[offY + i] * (g[offG + i] - dot);
    }
}
