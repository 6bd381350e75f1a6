package dev.memwall.precision;

import dev.memwall.autograd.CastPolicy;
import dev.memwall.autograd.DType;
import dev.memwall.autograd.GradMode;
import dev.memwall.autograd.Guard;
import dev.memwall.autograd.Tensor;
import dev.memwall.ops.F;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A mixed-precision region, PyTorch's {@code torch.autocast}: while open on a thread, the GEMM ops (see
 * {@link AutocastOps}) take their operands in the region's low format and accumulate in FP32.
 *
 * <pre>{@code
 * try (Autocast ac = Autocast.bf16()) {
 *     Tensor loss = model.loss(ids, targets);   // linear, matmul, attention on BF16 operands
 *     loss.backward();                           // backward GEMMs under the same policy
 * }                                              // the BF16 weight copies are released here
 * }</pre>
 *
 * <p>Why decoding to FP32 and calling sgemm is exact: every product of two BF16 (or FP16) values is exactly
 * representable in FP32 (8 + 8 significand bits ≤ 24; FP16's 11 + 11 ≤ 24), so sgemm on the decoded operands computes
 * exactly the low-precision products, accumulated in FP32 — what a BF16 GEMM with an FP32 accumulator (PyTorch's
 * CPU autocast, cuBLAS with FP32 compute) computes, up to the order of the sums.
 *
 * <p><b>Weight cache.</b> A weight (a leaf that requires a gradient, in FP32) is cast once per region: the copy is
 * kept until the region closes and reused by every later use — one per parameter per training step when the trainer
 * opens one region per step, never one per call. Copies are counted under PARAMETER and released at {@link #close()}
 * (a node that saved one keeps it until that node is freed). Copies made with and without grad mode are kept apart,
 * so a copy without a graph never reaches a training forward. Activations are cast per use, as TEMPORARY.
 *
 * <p>Regions nest (the innermost policy applies, each region owns its cache) and belong to the thread that opened
 * them. Close them innermost first.
 */
public final class Autocast implements CastPolicy, AutoCloseable {
    private final LowPrecisionCast cast;
    private final Map<Tensor, Tensor> withGrad = new IdentityHashMap<>(), withoutGrad = new IdentityHashMap<>();
    private final Guard installed;
    private boolean closed;

    private Autocast(LowPrecisionCast cast) {
        this.cast = cast;
        this.installed = CastPolicy.install(this);
    }

    /** A BF16 region. */
    public static Autocast bf16() {
        return new Autocast(FormatCast.BF16);
    }

    /** An FP16 region: use with loss scaling ({@link GradScaler}), since small gradients underflow FP16. */
    public static Autocast fp16() {
        return new Autocast(FormatCast.FP16);
    }

    /**
     * A region that casts GEMM operands with {@code cast}: another per-operand format. The FP8 recipes do not come
     * through here: they take whole Linear layers over through {@link dev.memwall.precision.fp8.Fp8Autocast}.
     */
    public static Autocast with(LowPrecisionCast cast) {
        if (cast == null) throw new IllegalArgumentException("autocast needs a cast");
        return new Autocast(cast);
    }

    /** The name of the region's cast ({@code "bf16"}, {@code "fp16"}). */
    public String name() {
        return cast.name();
    }

    @Override
    public Tensor operand(String op, int index, Tensor input) {
        if (closed) throw new IllegalStateException("autocast region used after it was closed");
        if (!input.dtype().isFloating()) return input;
        return switch (AutocastOps.classOf(op)) {
            case LOWER -> isWeight(input) ? cachedWeight(op, index, input).share() : cast.castActivation(op, index, input);
            case FP32, PROMOTE -> input.dtype() == DType.FP32 ? input : F.cast(input, DType.FP32);
            case UNLISTED -> input;
        };
    }

    /**
     * Saved activations of the ops in {@link AutocastOps#keepsSavedLow} are kept as BF16 copies (round to nearest
     * even, an overflow stays infinite) under BF16 and FP16 regions alike: BF16 has FP32's range, and nothing
     * loss-scales a saved activation. Parameters and other persistent tensors are saved as they are.
     */
    @Override
    public Tensor saved(String op, String producedBy, Tensor t) {
        if (closed || t.dtype() != DType.FP32 || t.numel() == 0 || t.storage().category().persistent()
                || !AutocastOps.keepsSavedLow(op, producedBy)) {
            return t;
        }
        return t.to(DType.BF16, dev.memwall.format.Overflow.NON_SATURATE);
    }

    /** PyTorch's rule for the cache: an FP32 leaf that requires a gradient. */
    private static boolean isWeight(Tensor t) {
        return t.dtype() == DType.FP32 && t.isLeaf() && t.requiresGrad();
    }

    private Tensor cachedWeight(String op, int index, Tensor w) {
        Map<Tensor, Tensor> cache = GradMode.isEnabled() ? withGrad : withoutGrad;
        Tensor c = cache.get(w);
        if (c == null || c.isReleased()) {
            c = cast.castWeight(op, index, w);
            cache.put(w, c);
        }
        return c;
    }

    /** Bytes of the weight copies this region holds (what it adds to PARAMETER while open). */
    public long cachedBytes() {
        long n = 0;
        for (Tensor t : withGrad.values()) n += t.bytes();
        for (Tensor t : withoutGrad.values()) n += t.bytes();
        return n;
    }

    /** Removes the policy from this thread and releases the weight copies. Closing twice does nothing. */
    @Override
    public void close() {
        if (closed) return;
        installed.close(); // throws, changing nothing, when an inner region is still open
        closed = true;
        List<Tensor> copies = new ArrayList<>(withGrad.values());
        copies.addAll(withoutGrad.values());
        withGrad.clear();
        withoutGrad.clear();
        for (Tensor t : copies) t.releaseIfAlive();
    }
}
