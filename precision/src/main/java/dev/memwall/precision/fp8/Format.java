package dev.memwall.precision.fp8;

/**
 * Which 8-bit format each pass uses (Transformer Engine's {@code Format}): E4M3 or E5M2 everywhere, or HYBRID, E4M3 in
 * the forward pass (weights, activations) and E5M2 in the backward pass (gradients), whose values span a wider range.
 */
public enum Format {
    E4M3(Fp8Format.E4M3, Fp8Format.E4M3),
    E5M2(Fp8Format.E5M2, Fp8Format.E5M2),
    HYBRID(Fp8Format.E4M3, Fp8Format.E5M2);

    private final Fp8Format forward, backward;

    Format(Fp8Format forward, Fp8Format backward) {
        this.forward = forward;
        this.backward = backward;
    }

    /** Format of the forward GEMM operands: inputs and weights. */
    public Fp8Format forward() {
        return forward;
    }

    /** Format of gradients in the backward GEMMs. */
    public Fp8Format backward() {
        return backward;
    }
}
