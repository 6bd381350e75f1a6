package dev.memwall.kernels;

/**
 * exp for the softmax family, in a form the JIT vectorizes. {@link Math#exp} is an intrinsic but a scalar one (about
 * 5 ns per element here), and it made softmax the slowest kernel by far (1% of the copy roof, BENCHMARKS.md).
 *
 * <p>exp(a) = 2^k · e^r with k = round(a / ln 2) and r = a − k·ln 2 (Cody–Waite: ln 2 in two parts, so r is exact to
 * float precision), e^r by its Taylor polynomial to degree 7 (|r| ≤ ln2/2, truncation below 5e-9). The polynomial
 * loop runs over a thread-local block that every array in it indexes the same way, which is what HotSpot 17 needs to
 * vectorize it; the scaling by 2^k (a float-to-int conversion, which it does not vectorize) and the sum run in a
 * second, scalar loop that costs about as much as the copy. Arguments are clamped to [−88, 88], so −∞ gives 0 and
 * +∞ a large finite value; results that would be subnormal (below e^−87.3) may come out as 0, within one smallest
 * normal float of the truth, which no softmax can tell apart. Accuracy: within 2 ulp of the correctly rounded exp for
 * every float in [−88, 0] (tested exhaustively over their bit patterns) and for samples up to 88.
 */
public final class FastExp {
    private static final int BLOCK = 256;
    static final float LOG2E = 1.44269504088896341f;
    static final float LN2_HI = 0.693145751953125f, LN2_LO = 1.42860677e-6f;
    static final float ROUND = 12582912f; // 1.5·2^23: adding and subtracting it rounds to an integer
    static final float C2 = 1f / 2, C3 = 1f / 6, C4 = 1f / 24, C5 = 1f / 120, C6 = 1f / 720, C7 = 1f / 5040;
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(FastExp::scratch);

    private FastExp() {
    }

    /** exp(a) for one value, by the same formula as the block kernel (bitwise the same result). */
    public static float exp(float a) {
        float t = Math.max(-88f, Math.min(88f, a));
        float k = (t * LOG2E + ROUND) - ROUND;
        float r = (t - k * LN2_HI) - k * LN2_LO;
        float p = 1f + r * (1f + r * (C2 + r * (C3 + r * (C4 + r * (C5 + r * (C6 + r * C7))))));
        return p * Float.intBitsToFloat(((int) k + 127) << 23);
    }

    /**
     * y[yo + j] = exp(x[xo + j]·scale − shift) for j in [0, n), and returns their sum (in order, as a scalar loop
     * would). With {@code y == null} only the sum is computed.
     */
    public static float expSum(float[] x, int xo, float scale, float shift, float[] y, int yo, int n) {
        return expSum(x, xo, scale, shift, y, yo, n, SCRATCH.get());
    }

    /** Working blocks for {@link #expSum(float[], int, float, float, float[], int, int, float[][])}, for one thread. */
    public static float[][] scratch() {
        return new float[][]{new float[BLOCK], new float[BLOCK]};
    }

    /**
     * {@link #expSum(float[], int, float, float, float[], int, int)} with the caller's {@link #scratch()}: a loop over
     * many short rows (attention's softmax, one call per row) takes it once instead of a thread-local lookup per row.
     */
    public static float expSum(float[] x, int xo, float scale, float shift, float[] y, int yo, int n, float[][] scratch) {
        float[] a = scratch[0], k = scratch[1];
        float sum = 0f;
        for (int b = 0; b < n; b += BLOCK) {
            int m = Math.min(BLOCK, n - b);
            System.arraycopy(x, xo + b, a, 0, m);
            polynomial(a, k, m, scale, shift);
            if (y == null) {
                for (int j = 0; j < m; j++) sum += a[j] * Float.intBitsToFloat(((int) k[j] + 127) << 23);
            } else {
                for (int j = 0; j < m; j++) {
                    float v = a[j] * Float.intBitsToFloat(((int) k[j] + 127) << 23);
                    y[yo + b + j] = v;
                    sum += v;
                }
            }
        }
        return sum;
    }

    /** a[j] ← e^r of (a[j]·scale − shift), k[j] ← its power of two: every array indexed by j alone, so it vectorizes. */
    private static void polynomial(float[] a, float[] k, int m, float scale, float shift) {
        for (int j = 0; j < m; j++) {
            float t = Math.max(-88f, Math.min(88f, a[j] * scale - shift));
            float kj = (t * LOG2E + ROUND) - ROUND;
            float r = (t - kj * LN2_HI) - kj * LN2_LO;
            a[j] = 1f + r * (1f + r * (C2 + r * (C3 + r * (C4 + r * (C5 + r * (C6 + r * C7))))));
            k[j] = kj;
        }
    }
}
