package dev.memwall.precision.fp8;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** Delayed and current scaling against a double-precision model of each recipe, bit for bit; SQNR; the edge cases. */
class PerTensorRecipesTest {

    /** Checks codes, scale and dequantized values of {@code q} against the recipe model with multiplier {@code scale}. */
    static void assertMatchesReference(float[] x, Fp8Tensor q, Fp8Format f, float scale) {
        Fp8Reference ref = Fp8Reference.of(f);
        assertThat(Float.floatToRawIntBits((float) q.scale())).isEqualTo(Float.floatToRawIntBits(scale));
        byte[] codes = q.codes().byteData();
        float[] deq = q.dequantize().data();
        for (int k = 0; k < x.length; k++) {
            int want = ref.round((double) x[k] * scale); // float × float is exact in double
            int got = codes[q.codes().offset() + k] & 0xFF;
            if (want < 0) {
                assertThat(f.decode((byte) got)).as("element %d (NaN)", k).isNaN();
                continue;
            }
            assertThat(got).as("code of element %d = %s", k, x[k]).isEqualTo(want);
            float wantDeq = (float) (ref.value(want) / scale);
            assertThat(Float.floatToRawIntBits(deq[k])).as("dequantized element %d", k).isEqualTo(Float.floatToRawIntBits(wantDeq));
        }
    }

    static double maxAbs(float[] x) {
        double m = 0;
        for (float v : x) m = Math.max(m, Math.abs((double) v));
        return m;
    }

    @Test
    void currentScalingMatchesTheReferenceInBothFormats() {
        try (Scope s = Scope.open()) {
            for (Fp8Format f : Fp8Format.values()) {
                float[] x = Fp8Reference.data(11, 4096, 0.02f);
                Fp8Tensor q = Fp8Quantizer.tiled(Tensor.of(x, 64, 64), f, Tiling.PER_TENSOR, ScaleRule.CURRENT);
                float scale = (float) (Fp8Reference.of(f).max() / Math.max(maxAbs(x), 1e-12));
                assertMatchesReference(x, q, f, scale);
                // Noise of a uniform relative error of half an ulp: 10·log10(3·4^(m+1)) dB, 28.9 (E4M3), 22.8 (E5M2).
                double theory = 10 * Math.log10(3 * Math.pow(4, Fp8Reference.of(f).manBits() + 1));
                assertThat(Fp8Reference.sqnrDb(x, q.dequantize().data())).as("SQNR of %s", f).isGreaterThan(theory - 1.5);
            }
        }
    }

    @Test
    void delayedScalingUsesTheScaleOfEarlierAmaxesAndRollsItsWindow() {
        DelayedScaling recipe = new DelayedScaling(Format.HYBRID, 3, AmaxAlgo.MAX, 1);
        AmaxHistory h = new AmaxHistory(recipe, Fp8Format.E4M3);
        List<Double> amaxes = new ArrayList<>();
        float[] stds = {1f, 3f, 0.5f, 0.25f, 0.25f, 0.25f, 2f};
        try (Scope s = Scope.open()) {
            for (int step = 0; step < stds.length; step++) {
                float[] x = Fp8Reference.data(100 + step, 1024, stds[step]);
                // The model: scale 1 until something is recorded, then (448 / max of the last 3 amaxes) / 2^margin.
                float scale = 1f;
                if (!amaxes.isEmpty()) {
                    double m = 0;
                    for (int k = Math.max(0, amaxes.size() - 3); k < amaxes.size(); k++) m = Math.max(m, amaxes.get(k));
                    scale = (float) (448.0 / m / 2);
                }
                Fp8Tensor q = Fp8Linear.delayed(Tensor.of(x, 1024), Fp8Format.E4M3, h);
                assertMatchesReference(x, q, Fp8Format.E4M3, scale);
                amaxes.add(maxAbs(x));
            }
        }
        assertThat(h.history()).hasSize(3);
        assertThat(h.reducedAmax()).isEqualTo((float) Math.max(amaxes.get(4), Math.max(amaxes.get(5), amaxes.get(6))));
    }

    @Test
    void mostRecentUsesTheLastAmaxOnly() {
        AmaxHistory h = new AmaxHistory(new DelayedScaling(Format.HYBRID, 8, AmaxAlgo.MOST_RECENT, 0), Fp8Format.E5M2);
        h.record(100f);
        h.record(2f);
        assertThat(h.reducedAmax()).isEqualTo(2f);
        assertThat(h.scale()).isEqualTo((float) (57344.0 / 2));
    }

    @Test
    void aSpikeAboveTheDelayedAmaxSaturatesInsteadOfBecomingNan() {
        AmaxHistory h = new AmaxHistory(new DelayedScaling(), Fp8Format.E4M3);
        try (Scope s = Scope.open()) {
            float[] first = Fp8Reference.data(1, 512, 1f);
            Fp8Linear.delayed(Tensor.of(first, 512), Fp8Format.E4M3, h);
            float[] spike = Fp8Reference.data(2, 512, 10f); // ten times the recorded amax
            Fp8Tensor q = Fp8Linear.delayed(Tensor.of(spike, 512), Fp8Format.E4M3, h);
            assertMatchesReference(spike, q, Fp8Format.E4M3, (float) (448.0 / maxAbs(first)));
            int saturated = 0;
            for (int k = 0; k < spike.length; k++) {
                float v = Fp8Format.E4M3.decode(q.codes().byteData()[k]);
                assertThat(v).isNotNaN();
                if (Math.abs(v) == 448f) saturated++;
            }
            assertThat(saturated).as("values beyond the stale range clamp to ±448").isGreaterThan(100);
            assertThat(h.reducedAmax()).as("and the window learns the spike").isEqualTo((float) maxAbs(spike));
        }
    }

    @Test
    void nonFiniteAmaxKeepsThePreviousScaleAndStaysOutOfTheWindow() {
        AmaxHistory h = new AmaxHistory(new DelayedScaling(), Fp8Format.E4M3);
        h.record(4f);
        float before = h.scale();
        try (Scope s = Scope.open()) {
            float[] x = {1f, Float.POSITIVE_INFINITY, -2f, Float.NaN};
            Fp8Tensor q = Fp8Linear.delayed(Tensor.of(x, 4), Fp8Format.E4M3, h);
            assertThat(h.scale()).isEqualTo(before);
            assertThat(h.history()).containsExactly(4f);
            assertThat(h.nonFinite()).isEqualTo(1);
            assertMatchesReference(x, q, Fp8Format.E4M3, before);
            assertThat(Fp8Format.E4M3.decode(q.codes().byteData()[1])).as("infinity saturates").isEqualTo(448f);
        }
    }

    @Test
    void currentScalingOfANonFiniteOrZeroTensorUsesScaleOne() {
        try (Scope s = Scope.open()) {
            float[] x = {0.5f, Float.NEGATIVE_INFINITY, 3f};
            Fp8Tensor q = Fp8Quantizer.tiled(Tensor.of(x, 3), Fp8Format.E5M2, Tiling.PER_TENSOR, ScaleRule.CURRENT);
            assertMatchesReference(x, q, Fp8Format.E5M2, 1f);
            assertThat(Fp8Format.E5M2.decode(q.codes().byteData()[1])).isEqualTo(-57344f);
            Fp8Tensor z = Fp8Quantizer.tiled(Tensor.zeros(4), Fp8Format.E4M3, Tiling.PER_TENSOR, ScaleRule.CURRENT);
            assertThat(z.scale()).isEqualTo(1.0);
        }
    }

    @Test
    void scaleRulesFollowTheFormulaInDouble() {
        // (fp8_max / amax) / 2^margin, EPS floor, zero or non-finite amax keeps the previous scale.
        assertThat(ScaleMath.delayed(3.0, 448f, 0, 7f)).isEqualTo((float) (448.0 / 3.0));
        assertThat(ScaleMath.delayed(3.0, 448f, 2, 7f)).isEqualTo((float) (448.0 / 3.0 / 4));
        assertThat(ScaleMath.delayed(1e-20, 448f, 0, 7f)).isEqualTo((float) (448.0 / 1e-12));
        assertThat(ScaleMath.delayed(0.0, 448f, 0, 7f)).isEqualTo(7f);
        assertThat(ScaleMath.delayed(Double.NaN, 448f, 0, 7f)).isEqualTo(7f);
        assertThat(ScaleMath.delayed(Double.POSITIVE_INFINITY, 448f, 0, 7f)).isEqualTo(7f);
        assertThat(ScaleMath.current(1e-40, 57344f)).isEqualTo((float) (57344.0 / 1e-12));
        // Power-of-two scales round down, also where fp8_max / amax rounds up onto a power of two in double.
        double amax = Math.nextUp(448.0 / 1024); // 448/amax is just below 1024
        assertThat(ScaleMath.powerOfTwoDown(amax, 448f)).isEqualTo(512f);
        assertThat(ScaleMath.powerOfTwoDown(448.0 / 1024, 448f)).isEqualTo(1024f);
    }

    @Test
    void roundingIsFromTheExactProductEvenNearTies() {
        // x · scale landing within half a float ulp of a midpoint between two FP8 values: rounding the product to float
        // first would make it an exact tie and round to even, the exact product is on one side of it.
        java.util.Random r = new java.util.Random(5);
        Fp8Reference ref = Fp8Reference.E4M3;
        int checked = 0;
        try (Scope s = Scope.open()) {
            for (int t = 0; t < 4000; t++) {
                int code = 8 + r.nextInt(0x7E - 8);
                double mid = (ref.value(code) + ref.value(code + 1)) / 2;
                float scale = 1 + r.nextFloat();
                float x0 = (float) (mid / scale);
                float[] x = {Math.nextDown(x0), x0, Math.nextUp(x0)};
                Fp8Tensor q = Fp8Quantizer.perTensor(Tensor.of(x, 3), Fp8Format.E4M3, scale);
                for (int k = 0; k < 3; k++) {
                    assertThat(q.codes().byteData()[k] & 0xFF).as("x=%s scale=%s", x[k], scale).isEqualTo(ref.round((double) x[k] * scale));
                    checked++;
                }
            }
        }
        assertThat(checked).isEqualTo(12000);
    }
}
