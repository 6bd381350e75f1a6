package dev.memwall.autograd;

import dev.memwall.format.Fp8E4M3;
import dev.memwall.format.Overflow;
import dev.memwall.kernels.Bf16Arrays;
import dev.memwall.kernels.Parallel;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Saved-tensor hooks that keep FP32 activations in a compact format between forward and backward (PyTorch's
 * {@code saved_tensors_hooks} packing to a low precision): BF16 (round to nearest even; halves the ACTIVATION bytes)
 * or FP8 E4M3 with one scale per tensor (Transformer Engine's current scaling: scale = 448 / amax, saturating;
 * quarters them). Backward decodes a fresh FP32 copy, which the node releases once its rule has run.
 *
 * <p>Kept exact, saved as they are: tensors that are not floating (INT32 ids and targets, BOOL masks), BF16 and FP16
 * ones under BF16 (under FP8 they are recompressed: autocast's saved operands), persistent tensors (parameters and gradients: a node saving a weight holds
 * no activation bytes, and a compressed copy would add some), layer-norm statistics (mean and 1/σ: a few bytes per
 * row, each scaling a whole row of the gradient), and, in FP8, a tensor holding an infinity or NaN (E4M3 has no
 * infinity; the tensor stays FP32 so the non-finite values reach the gradients unchanged). A storage saved by several
 * nodes is compressed once and shared, as an uncompressed one is counted once.
 *
 * <p>Under {@code createGraph} the decoded copy carries the saved tensor's autograd identity (its producer, or its
 * leaf), as PyTorch restores a hook-unpacked tensor's grad_fn: higher-order gradients flow through it, evaluated at
 * the rounded values. Checkpointed regions push their own hooks inside these, and keep their inputs exact (the
 * recomputation restarts from them); selective recomputation hands what it keeps (its recipes' inputs and plain saves)
 * to these hooks and recomputes from the compressed values.
 */
public final class CompressedActivations implements SavedTensorHooks {
    /** How saved FP32 activations are kept; {@link #bytes} per element. */
    public enum Format {
        FP32(4), BF16(2), FP8(1);

        public final int bytes;

        Format(int bytes) {
            this.bytes = bytes;
        }

        /** Bytes per element against FP32's: what the budget planner scales compressible activations by. */
        public double ratio() {
            return bytes / 4.0;
        }

        /** The name on the command line and in {@code --json}. */
        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** fp32, bf16 or fp8 (case-insensitive). */
        public static Format parse(String text) {
            for (Format f : values()) if (f.label().equalsIgnoreCase(text.trim())) return f;
            throw new IllegalArgumentException("unknown saved-activation format '" + text + "' (fp32, bf16, fp8)");
        }
    }

    /** Ops whose saved outputs stay exact whatever the format (see the class comment). */
    private static final Set<String> EXACT_OPS = Set.of("layer_norm.mean", "layer_norm.rstd");

    private final Format format;
    /** Compressed copies alive, per source storage, so a storage saved twice is compressed once. */
    private final Map<Storage, List<Packed>> live = new IdentityHashMap<>();

    private CompressedActivations(Format format) {
        this.format = format;
    }

    /** The hooks for {@code format}; FP32 is accepted and compresses nothing. */
    public static CompressedActivations of(Format format) {
        if (format == null) throw new IllegalArgumentException("format must not be null");
        return new CompressedActivations(format);
    }

    /**
     * Pushes the hooks of {@code format} on this thread until the guard closes (FP32: nothing is pushed, so saving is
     * exactly as without hooks). Push them around the forward passes of training.
     */
    public static Guard install(Format format) {
        if (format == Format.FP32) return () -> { };
        return SavedTensorHooks.push(of(format));
    }

    public Format format() {
        return format;
    }

    /** One compressed saved tensor, shared by every node that saved the same view. */
    static final class Packed {
        final Storage source;
        final int offset;
        final int[] shape;
        final boolean requiresGrad;
        final Node gradFn;
        final Object gradKey;
        Tensor held; // BF16 or FP8 copy, counted as ACTIVATION while held
        float scaleInv = 1f;
        int refs = 1;

        Packed(Tensor t) {
            source = t.storage();
            offset = t.offset();
            shape = t.shape();
            requiresGrad = t.requiresGrad;
            gradFn = t.gradFn;
            gradKey = t.gradKey;
        }

        boolean sameView(Tensor t) {
            return t.offset() == offset && java.util.Arrays.equals(t.shape(), shape);
        }
    }

    @Override
    public synchronized Object pack(Tensor t) {
        if (format == Format.FP32 || !compressible(t, format)) return t;
        List<Packed> same = live.get(t.storage());
        if (same != null) {
            for (Packed p : same) {
                if (p.sameView(t)) {
                    p.refs++;
                    return p;
                }
            }
        }
        Packed p = new Packed(t);
        Tensor copy;
        if (t.dtype() == DType.FP32) {
            copy = format == Format.BF16 ? toBf16(t) : toFp8(t, p);
        } else { // FP8 of a BF16/FP16 activation (autocast's): from its exact FP32 value
            Tensor wide = t.to(DType.FP32, Overflow.NON_SATURATE);
            copy = toFp8(wide, p);
            wide.release();
        }
        if (copy == null) return t; // FP8 of a tensor with non-finite values: kept exact
        p.held = copy.saveForBackward();
        copy.release();
        live.computeIfAbsent(t.storage(), k -> new ArrayList<>(1)).add(p);
        return p;
    }

    @Override
    public synchronized Tensor unpack(Object packed) {
        if (packed instanceof Tensor t) return t; // kept exact: the node's own saved handle
        Packed p = (Packed) packed;
        Tensor c = p.held;
        Tensor out = Tensor.empty("unpack_" + format.label(), p.shape);
        float[] dst = out.data();
        int n = out.numel(), off = c.offset();
        if (format == Format.BF16) {
            short[] src = c.shortData();
            Bf16Arrays.decode(src, off, dst, 0, n);
        } else {
            byte[] src = c.byteData();
            float inv = p.scaleInv;
            Parallel.range(n, 2, (from, to) -> {
                for (int i = from; i < to; i++) dst[i] = Fp8E4M3.toFloat(src[off + i]) * inv;
            });
        }
        // The saved tensor's autograd identity: under createGraph, ops on the copy are recorded into its history.
        out.requiresGrad = p.requiresGrad;
        out.gradFn = p.gradFn;
        out.gradKey = p.requiresGrad ? p.gradKey : out;
        return out;
    }

    @Override
    public synchronized void release(Object packed) {
        Packed p = (Packed) packed;
        if (--p.refs > 0) return;
        p.held.releaseSavedForBackward();
        p.held = null;
        List<Packed> same = live.get(p.source);
        same.remove(p);
        if (same.isEmpty()) live.remove(p.source);
    }

    /** Whether {@code t} is saved compressed; see the class comment for what stays exact. */
    /**
     * FP32 activations in either format; under FP8 also BF16 and FP16 ones (what autocast saves: the GEMM operands and
     * its low-format activations), which BF16 would keep as they are.
     */
    static boolean compressible(Tensor t, Format format) {
        boolean low = t.dtype() == DType.BF16 || t.dtype() == DType.FP16;
        return (t.dtype() == DType.FP32 || (low && format == Format.FP8)) && !t.storage().category().persistent()
                && !EXACT_OPS.contains(t.storage().op()) && t.numel() > 0;
    }

    private static Tensor toBf16(Tensor t) {
        Tensor out = Tensor.empty(DType.BF16, dev.memwall.memory.Category.TEMPORARY, "save_bf16", t.shape());
        float[] src = t.data();
        short[] dst = out.shortData();
        int off = t.offset();
        // NON_SATURATE keeps an infinity infinite (values beyond BF16's largest, within 0.4% of float's, become one too).
        Bf16Arrays.encode(src, off, dst, 0, t.numel(), Overflow.NON_SATURATE);
        return out;
    }

    /** E4M3 codes of t·scale with scale = 448 / amax, or null when t holds a non-finite value. */
    private static Tensor toFp8(Tensor t, Packed p) {
        float amax = amax(t);
        if (!Float.isFinite(amax)) return null;
        float scale = fp8Scale(amax);
        p.scaleInv = 1f / scale;
        Tensor out = Tensor.empty(DType.FP8_E4M3, dev.memwall.memory.Category.TEMPORARY, "save_fp8", t.shape());
        float[] src = t.data();
        byte[] dst = out.byteData();
        int off = t.offset();
        Parallel.range(t.numel(), 4, (from, to) -> {
            for (int i = from; i < to; i++) dst[i] = Fp8E4M3.fromFloat(src[off + i] * scale, Overflow.SATURATE);
        });
        return out;
    }

    /**
     * Transformer Engine's current scaling for E4M3: 448 / amax, so the largest magnitude lands on the largest finite
     * code; 1 for an all-zero tensor; capped at float's largest value for a tiny amax.
     */
    static float fp8Scale(float amax) {
        if (amax == 0f) return 1f;
        float s = Fp8E4M3.MAX / amax;
        return Float.isFinite(s) ? s : Float.MAX_VALUE;
    }

    /** Largest magnitude; NaN or infinity when the tensor holds one. */
    static float amax(Tensor t) {
        float[] a = t.data();
        int off = t.offset(), n = t.numel();
        float m = 0f;
        for (int i = 0; i < n; i++) {
            float v = Math.abs(a[off + i]);
            if (!(v <= m)) { // also true for NaN, which then stays
                if (Float.isNaN(v)) return Float.NaN;
                m = v;
            }
        }
        return m;
    }
}
