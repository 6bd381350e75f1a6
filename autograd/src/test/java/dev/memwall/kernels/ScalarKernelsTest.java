package dev.memwall.kernels;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The scalar bodies' own numerics (the Vector API bodies are checked against them in {@link VectorKernelsTest}): the
 * eight-way partial sums against double precision within the bound of a reordered float sum (n·2⁻²⁴ of the sum of
 * absolute values), layer norm within 1e-5 of a double-precision layer norm, and the blocked AdamW bitwise the plain
 * per-element update at lengths around its block size and at four different offsets.
 */
class ScalarKernelsTest {
    private static float[] random(long seed, int n, float scale, float shift) {
        Random r = new Random(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian() * scale + shift;
        return a;
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 7, 8, 9, 15, 16, 17, 255, 256, 257, 1027})
    void partialSumsAreWithinTheReorderedSumBound(int n) {
        float[] a = random(n, n, 3f, 0.5f), b = random(n + 1, n, 2f, 0f);
        float mu = 0.25f;
        double s = 0, abs = 0, d2 = 0, d2abs = 0, dot = 0, dotAbs = 0;
        for (int j = 0; j < n; j++) {
            s += a[j];
            abs += Math.abs(a[j]);
            double d = (double) (a[j] - mu) * (a[j] - mu); // the float difference, squared exactly
            d2 += d;
            d2abs += d;
            dot += (double) a[j] * b[j];
            dotAbs += Math.abs((double) a[j] * b[j]);
        }
        double bound = Math.max(1, n) * 0x1p-23;
        assertThat((double) ScalarKernels.sum(a, n)).isCloseTo(s, org.assertj.core.data.Offset.offset(bound * abs + 1e-30));
        assertThat((double) ScalarKernels.sumSquaredDeviations(a, n, mu))
                .isCloseTo(d2, org.assertj.core.data.Offset.offset(2 * bound * d2abs + 1e-30));
        assertThat((double) ScalarKernels.dot(a, b, n)).isCloseTo(dot, org.assertj.core.data.Offset.offset(2 * bound * dotAbs + 1e-30));
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 7, 8, 9, 33, 256, 1000})
    void layerNormIsWithinRoundingOfDoublePrecision(int n) {
        int rows = 3;
        float[] x = random(7, 2 + rows * n, 4f, 0f), w = random(8, n + 1, 0.5f, 1f), b = random(9, n + 2, 0.5f, 0f);
        for (int j = 0; j < n; j++) x[2 + n + j] += 100f; // a row far from zero: the mean's rounding shows
        float[] y = new float[rows * n], mean = new float[rows], rstd = new float[rows];
        ScalarKernels.INSTANCE.layerNormForward(x, 2, w, 1, b, 2, 1e-5f, y, 0, mean, rstd, 0, 0, rows, n);
        for (int r = 0; r < rows; r++) {
            double mu = 0, var = 0;
            for (int j = 0; j < n; j++) mu += x[2 + r * n + j];
            mu /= n;
            for (int j = 0; j < n; j++) var += Math.pow(x[2 + r * n + j] - mu, 2);
            double rs = 1 / Math.sqrt(var / n + 1e-5);
            for (int j = 0; j < n; j++) {
                double ref = (x[2 + r * n + j] - mu) * rs * w[1 + j] + b[2 + j];
                assertThat((double) y[r * n + j]).as("row %d, column %d", r, j).isCloseTo(ref, org.assertj.core.data.Offset.offset(1e-5 * (1 + Math.abs(ref))));
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 17, 1023, 1024, 1025, 3001})
    void blockedAdamwIsBitwiseThePlainUpdate(int n) {
        float[] p = random(1, n + 1, 0.1f, 0f), g = random(2, n + 2, 0.05f, 0f), m = random(3, n + 3, 0.01f, 0f);
        float[] v = random(4, n + 4, 0.001f, 0f);
        for (int i = 0; i < v.length; i++) v[i] = Math.abs(v[i]);
        float[] pr = p.clone(), mr = m.clone(), vr = v.clone();
        float stepSize = 3e-4f, bc2Sqrt = 0.3f, decay = 0.99997f, b1 = 0.9f, c1 = 0.1f, b2 = 0.95f, c2 = 0.05f, eps = 1e-8f;
        ScalarKernels.INSTANCE.adamw(p, 1, g, 2, m, 3, v, 4, n, stepSize, bc2Sqrt, decay, b1, c1, b2, c2, eps);
        for (int i = 0; i < n; i++) { // PyTorch's AdamW, one element at a time
            float gi = g[2 + i];
            float mi = b1 * mr[3 + i] + c1 * gi, vi = b2 * vr[4 + i] + c2 * gi * gi;
            mr[3 + i] = mi;
            vr[4 + i] = vi;
            pr[1 + i] = pr[1 + i] * decay - stepSize * mi / ((float) Math.sqrt(vi) / bc2Sqrt + eps);
        }
        assertThat(p).containsExactly(pr);
        assertThat(m).containsExactly(mr);
        assertThat(v).containsExactly(vr);
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 17, 1000})
    void addAndMulAtOneOffsetAreTheElementwiseResults(int n) {
        float[] a = random(5, n + 3, 2f, 0f), b = random(6, n + 3, 2f, 0f);
        float[] sum = new float[n + 3], prod = new float[n + 3], inPlace = a.clone();
        ScalarKernels.INSTANCE.add(a, 3, b, 3, sum, 3, n);
        ScalarKernels.INSTANCE.mul(a, 3, b, 3, prod, 3, n);
        ScalarKernels.INSTANCE.add(inPlace, 3, b, 3, inPlace, 3, n);
        for (int j = 0; j < 3; j++) assertThat(sum[j]).as("before the offset").isZero();
        for (int j = 3; j < n + 3; j++) {
            assertThat(sum[j]).isEqualTo(a[j] + b[j]);
            assertThat(prod[j]).isEqualTo(a[j] * b[j]);
            assertThat(inPlace[j]).isEqualTo(a[j] + b[j]);
        }
    }
}
