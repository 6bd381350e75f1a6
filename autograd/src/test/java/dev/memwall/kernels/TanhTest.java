package dev.memwall.kernels;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class TanhTest {
    @Test
    void withinFourTenMillionthsOfExactEverywhere() {
        double worst = 0;
        // every float in [-16, 16] at a stride, plus the extremes
        for (int bits = 0; bits < 0x41800000; bits += 97) {
            float x = Float.intBitsToFloat(bits);
            worst = Math.max(worst, Math.abs(Elementwise.tanh(x) - Math.tanh(x)));
            worst = Math.max(worst, Math.abs(Elementwise.tanh(-x) - Math.tanh(-x)));
        }
        assertThat(worst).isLessThan(4e-7);
        assertThat(Elementwise.tanh(Float.MAX_VALUE)).isEqualTo(1f, org.assertj.core.data.Offset.offset(4e-7f));
        assertThat(Elementwise.tanh(-Float.MAX_VALUE)).isEqualTo(-1f, org.assertj.core.data.Offset.offset(4e-7f));
        assertThat(Elementwise.tanh(0f)).isZero();
        assertThat(Elementwise.tanh(1e-20f)).isEqualTo(1e-20f, org.assertj.core.data.Offset.offset(1e-26f));
    }
}
