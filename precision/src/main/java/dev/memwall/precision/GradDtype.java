package dev.memwall.precision;

import dev.memwall.autograd.DType;

import java.util.Locale;

/**
 * The {@code --grad-dtype} setting: the format the parameters' gradients are held in between backward and the update.
 * FP32 is the flat FP32 gradient buffer; BF16 and FP16 hold them in 2 bytes per element (GRADIENT bytes halved) and
 * decode them into FP32 for unscaling, clipping and the optimizer (training's {@code LowPrecisionGradients}).
 */
public enum GradDtype {
    FP32(DType.FP32), BF16(DType.BF16), FP16(DType.FP16);

    private final DType dtype;

    GradDtype(DType dtype) {
        this.dtype = dtype;
    }

    /** The storage format. */
    public DType dtype() {
        return dtype;
    }

    /** Bytes per gradient element. */
    public int bytes() {
        return this == FP32 ? 4 : 2;
    }

    /** fp32, bf16 or fp16 (case-insensitive), with a clear error for anything else. */
    public static GradDtype parse(String s) {
        String v = s == null ? "" : s.trim().toLowerCase(Locale.ROOT);
        for (GradDtype g : values()) if (g.label().equals(v)) return g;
        throw new IllegalArgumentException("unknown gradient format '" + s + "': --grad-dtype must be fp32, bf16 or fp16");
    }

    /** The name on the command line and in JSON. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
