package dev.memwall.kernels;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** The shared tanh: its accuracy against {@link Math#tanh}, and that the kernels which use tanh compute with it. */
class RationalTanhTest {
    @Test
    void withinFourTenMillionthsOfExactAndOdd() {
        double worst = 0;
        for (int bits = 0; bits < 0x41800000; bits += 89) { // every 89th float in [0, 16)
            float x = Float.intBitsToFloat(bits);
            float t = RationalTanh.tanh(x);
            worst = Math.max(worst, Math.abs(t - Math.tanh(x)));
            assertThat(RationalTanh.tanh(-x)).isEqualTo(-t);
        }
        assertThat(worst).isLessThan(4e-7);
        assertThat(RationalTanh.tanh(Float.POSITIVE_INFINITY)).isEqualTo(RationalTanh.tanh(RationalTanh.CLAMP));
        assertThat(RationalTanh.tanh(Float.NaN)).isNaN();
    }

    @Test
    void elementwiseTanhAndGeluUseIt() {
        Random r = new Random(11);
        int n = 3001;
        float[] x = new float[n], y = new float[n], g = new float[n], dx = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian() * 3;
            g[i] = (float) r.nextGaussian();
        }
        ScalarKernels.INSTANCE.geluForward(x, 0, y, 0, n);
        ScalarKernels.INSTANCE.geluBackward(x, 0, g, 0, dx, 0, n);
        for (int i = 0; i < n; i++) {
            float v = x[i], t = RationalTanh.tanh(Gelu.C * (v + Gelu.A * v * v * v));
            assertThat(Elementwise.tanh(v)).isEqualTo(RationalTanh.tanh(v));
            assertThat(y[i]).as("gelu(%s)", v).isEqualTo(0.5f * v * (1f + t));
            float vc = Math.max(-16f, Math.min(16f, v));
            float d = 0.5f + 0.5f * t + (1f - t * t) * vc * (Gelu.HALF_C + Gelu.THREE_HALVES_AC * vc * vc);
            assertThat(dx[i]).as("gelu'(%s)", v).isEqualTo(g[i] * d);
        }
    }
}
