package dev.memwall.kernels;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;

class FastExpTest {
    /** Error of {@code got} against exp(a) in ulps of the correctly rounded float; results below the normal range count as 0 ulp when within MIN_NORMAL. */
    private static double ulps(float a, float got) {
        double ref = Math.exp(a);
        if (ref < Float.MIN_NORMAL) return Math.abs(got - ref) <= Float.MIN_NORMAL ? 0 : Double.POSITIVE_INFINITY;
        return Math.abs(got - ref) / Math.ulp((float) ref);
    }

    /** Every float in [−88, 0] (about 1.1 billion bit patterns) through the vectorized block kernel: at most 2 ulp. */
    @Test
    void everyNonPositiveFloatDownToMinus88IsWithinTwoUlp() {
        int first = Float.floatToRawIntBits(-0f), last = Float.floatToRawIntBits(-88f); // negative floats grow in magnitude with their bits
        int chunk = 1 << 20;
        long count = (long) last - first + 1;
        int chunks = (int) ((count + chunk - 1) / chunk);
        AtomicLong worst = new AtomicLong(Double.doubleToLongBits(0));
        AtomicLong checked = new AtomicLong();
        IntStream.range(0, chunks).parallel().forEach(c -> {
            int from = first + c * chunk, n = (int) Math.min(chunk, (long) last - from + 1);
            float[] x = new float[n], y = new float[n];
            for (int i = 0; i < n; i++) x[i] = Float.intBitsToFloat(from + i);
            FastExp.expSum(x, 0, 1f, 0f, y, 0, n);
            double w = 0;
            for (int i = 0; i < n; i++) w = Math.max(w, ulps(x[i], y[i]));
            double wf = w;
            worst.getAndUpdate(prev -> Double.doubleToLongBits(Math.max(Double.longBitsToDouble(prev), wf)));
            checked.addAndGet(n);
        });
        assertThat(checked.get()).isEqualTo(count).isGreaterThan(1_000_000_000L);
        assertThat(Double.longBitsToDouble(worst.get())).isLessThanOrEqualTo(2.0);
    }

    @Test
    void positiveArgumentsScalesAndShiftsAgreeWithTheScalarForm() {
        java.util.Random r = new java.util.Random(7);
        float[] x = new float[1000], y = new float[1000];
        for (int i = 0; i < x.length; i++) x[i] = (float) (r.nextDouble() * 176 - 88);
        float sum = FastExp.expSum(x, 0, 1f, 0f, y, 0, x.length);
        float expected = 0f;
        for (int i = 0; i < x.length; i++) {
            assertThat(y[i]).isEqualTo(FastExp.exp(x[i])); // the block kernel and the scalar form are bitwise the same
            assertThat(ulps(x[i], y[i])).as("exp(%s)", x[i]).isLessThanOrEqualTo(2.0);
            expected += y[i];
        }
        assertThat(sum).isEqualTo(expected);
        assertThat(FastExp.expSum(x, 0, 1f, 0f, null, 0, x.length)).isEqualTo(expected);
        // scale and shift: exp(x·s − m), across a block boundary and at an offset
        float[] shifted = new float[700];
        FastExp.expSum(x, 3, 0.125f, 2f, shifted, 0, 700);
        for (int i = 0; i < 700; i++) assertThat(shifted[i]).isEqualTo(FastExp.exp(x[3 + i] * 0.125f - 2f));
    }

    @Test
    void edgesSaturateInsteadOfOverflowingAndNanPropagates() {
        assertThat(FastExp.exp(0f)).isEqualTo(1f);
        assertThat(FastExp.exp(Float.NEGATIVE_INFINITY)).isZero();
        assertThat(FastExp.exp(-1000f)).isZero();
        assertThat(FastExp.exp(Float.POSITIVE_INFINITY)).isFinite().isGreaterThan(1e38f);
        assertThat(FastExp.exp(Float.NaN)).isNaN();
    }

    /** The caller's scratch gives the bits of the thread-local one, for rows shorter and longer than a block, in place too. */
    @Test
    void callerScratchGivesTheSameBitsAsTheThreadLocalOne() {
        float[][] scratch = FastExp.scratch();
        java.util.Random r = new java.util.Random(5);
        for (int n : new int[]{0, 1, 7, 255, 256, 257, 700}) {
            float[] x = new float[n + 3];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian() * 4;
            float[] y1 = new float[n + 5], y2 = new float[n + 5], inPlace = x.clone();
            float s1 = FastExp.expSum(x, 3, 0.7f, 1.5f, y1, 5, n);
            float s2 = FastExp.expSum(x, 3, 0.7f, 1.5f, y2, 5, n, scratch);
            float s3 = FastExp.expSum(inPlace, 3, 0.7f, 1.5f, inPlace, 3, n, scratch);
            assertThat(s2).isEqualTo(s1);
            assertThat(s3).isEqualTo(s1);
            assertThat(y2).containsExactly(y1);
            assertThat(java.util.Arrays.copyOfRange(inPlace, 3, n + 3)).containsExactly(java.util.Arrays.copyOfRange(y1, 5, n + 5));
        }
    }
}
