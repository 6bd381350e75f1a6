package dev.memwall.precision.fp8;

import dev.memwall.autograd.Guard;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.nn.Linear;
import dev.memwall.ops.F;
import dev.memwall.ops.LinearAutocast;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** Fp8Autocast routes nn.Linear through the FP8 op inside its scope and nowhere else. */
class Fp8AutocastTest {

    @Test
    void linearLayersRunInFp8InsideTheScopeOnly() {
        Linear layer = new Linear(64, 32, true, new Rng(3));
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(Fp8Reference.data(4, 8 * 64, 1f), 8, 64);
            float[] fp32 = layer.forward(x).toFloatArray();
            float[] direct = Fp8Linear.linear(x, layer.weight(), layer.namedParameters().get("bias"), new Fp8State(new CurrentScaling())).toFloatArray();
            float[] cast;
            try (Guard g = Fp8Autocast.enable(new Fp8State(new CurrentScaling()))) {
                cast = layer.forward(x).toFloatArray();
            }
            assertThat(cast).isEqualTo(direct);
            assertThat(cast).isNotEqualTo(fp32);
            assertThat(layer.forward(x).toFloatArray()).as("after the scope").isEqualTo(fp32);
        }
    }

    @Test
    void aPolicyMayFallBackToFp32WithoutRecursingAndScopesNest() {
        Linear layer = new Linear(16, 4, false, new Rng(5));
        int[] calls = {0};
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(Fp8Reference.data(6, 2 * 16, 1f), 2, 16);
            float[] fp32 = layer.forward(x).toFloatArray();
            try (Guard outer = Fp8Autocast.enable(new Fp8State(new DelayedScaling()))) {
                try (Guard inner = LinearAutocast.push((a, w, b) -> {
                    calls[0]++;
                    return F.linear(a, w, b); // the FP32 op, not this policy again
                })) {
                    assertThat(layer.forward(x).toFloatArray()).isEqualTo(fp32);
                }
                assertThat(LinearAutocast.current()).as("the outer policy is back").isNotNull();
                assertThat(layer.forward(x).toFloatArray()).isNotEqualTo(fp32);
            }
            assertThat(LinearAutocast.current()).isNull();
        }
        assertThat(calls[0]).isEqualTo(1);
    }
}
