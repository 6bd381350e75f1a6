package dev.memwall.precision.fp8;

import java.util.Objects;

/**
 * Per-tensor scaling from the amax of the tensor being quantized (Transformer Engine's {@code Float8CurrentScaling},
 * torchao's dynamic scaling): one extra pass over the tensor, no state, no stale amax.
 */
public record CurrentScaling(Format format) implements Fp8Recipe {
    public CurrentScaling {
        Objects.requireNonNull(format, "format");
    }

    public CurrentScaling() {
        this(Format.HYBRID);
    }

    @Override
    public String name() {
        return "current";
    }
}
