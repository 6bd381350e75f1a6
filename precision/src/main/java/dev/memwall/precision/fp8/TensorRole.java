package dev.memwall.precision.fp8;

/** What a quantized tensor is to its GEMM; each role of each layer has its own delayed-scaling history. */
public enum TensorRole {
    INPUT("input"), WEIGHT("weight"), GRAD_OUTPUT("grad_output");

    public final String key;

    TensorRole(String key) {
        this.key = key;
    }

    /** The format of this role under {@code format}: gradients use the backward format. */
    public Fp8Format formatUnder(Format format) {
        return this == GRAD_OUTPUT ? format.backward() : format.forward();
    }
}
