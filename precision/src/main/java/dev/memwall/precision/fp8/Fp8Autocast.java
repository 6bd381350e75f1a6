package dev.memwall.precision.fp8;

import dev.memwall.autograd.Guard;
import dev.memwall.ops.LinearAutocast;

/**
 * FP8 autocast (Transformer Engine's {@code fp8_autocast}): inside the scope every {@code Linear} layer's GEMMs run in
 * FP8 through {@link Fp8Linear} under {@code state}'s recipe. Everything else (attention scores, softmax, layer norm,
 * losses, the tied output head, which is a matmul) stays FP32, as Transformer Engine keeps only its own layers in FP8.
 * The state outlives the scope: delayed scaling's histories carry over from step to step.
 *
 * <pre>{@code
 * Fp8State fp8 = new Fp8State(new DelayedScaling());
 * try (Guard g = Fp8Autocast.enable(fp8)) { loss = model.forward(batch); loss.backward(); }
 * }</pre>
 */
public final class Fp8Autocast {
    private Fp8Autocast() {
    }

    /** FP8 linear layers on this thread until the guard closes. */
    public static Guard enable(Fp8State state) {
        return LinearAutocast.push(policy(state));
    }

    /** The policy itself, for a general autocast that composes several (e.g. BF16 elsewhere, FP8 for linear layers). */
    public static LinearAutocast.Policy policy(Fp8State state) {
        java.util.Objects.requireNonNull(state, "state");
        return (x, w, b) -> Fp8Linear.linear(x, w, b, state);
    }
}
