package dev.memwall.optim;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import dev.memwall.autograd.OpStats;
import dev.memwall.kernels.AdamWKernel;
import dev.memwall.memory.Category;
import dev.memwall.nn.FlatParameters;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * AdamW with PyTorch's semantics: decoupled weight decay (p ← p·(1 − lr·wd)), bias-corrected first and second
 * moments, eps added after the square root of the corrected second moment. State: two moments over the range, counted
 * as OPTIMIZER_STATE: FP32 by default, or compact ({@link StateFormat}: BF16, or block-wise 8-bit as in bitsandbytes'
 * 8-bit Adam; {@link CompressedMoments}), decoded and encoded again block by block inside the update.
 */
public final class AdamW extends Optimizer {
    /** Hyper-parameters; {@link #defaults(double)} are PyTorch's. */
    public record Config(double lr, double beta1, double beta2, double eps, double weightDecay) {
        public Config {
            if (beta1 < 0 || beta1 >= 1 || beta2 < 0 || beta2 >= 1) throw new IllegalArgumentException("betas must be in [0, 1)");
            if (!(eps > 0)) throw new IllegalArgumentException("eps must be > 0");
            if (weightDecay < 0) throw new IllegalArgumentException("weight decay must be >= 0");
        }

        public static Config defaults(double lr) {
            return new Config(lr, 0.9, 0.999, 1e-8, 0.01);
        }
    }

    /** m and v updates (3 + 4), bias corrections (2), sqrt and eps (2), the division, lr and weight decay (4). */
    static final double FLOPS_PER_ELEMENT = 15;
    private final Config config;
    private final StateFormat format;
    /** FP32 moments (null when compressed). */
    private final Tensor expAvg, expAvgSq;
    /** Compressed moments (null for FP32). */
    private final CompressedMoments moments;

    public AdamW(FlatParameters params, Config config) {
        this(params, 0, params.length(), config);
    }

    public AdamW(FlatParameters params, int from, int to, Config config) {
        this(params, checked(params, from, to), config);
    }

    /** Over the segments of {@code shard} (ZeRO stage 2: one piece of every gradient bucket). */
    public AdamW(FlatParameters params, Shard shard, Config config) {
        this(params, shard, config, StateFormat.FP32);
    }

    /** Over the segments of {@code shard}, with the moments kept in {@code format}. */
    public AdamW(FlatParameters params, Shard shard, Config config, StateFormat format) {
        super(params, shard, config.lr());
        this.config = config;
        this.format = java.util.Objects.requireNonNull(format, "format");
        if (format == StateFormat.FP32) {
            this.expAvg = Tensor.empty(DType.FP32, Category.OPTIMIZER_STATE, "adamw.exp_avg", shard.size());
            this.expAvgSq = Tensor.empty(DType.FP32, Category.OPTIMIZER_STATE, "adamw.exp_avg_sq", shard.size());
            this.moments = null;
        } else {
            this.expAvg = null;
            this.expAvgSq = null;
            this.moments = new CompressedMoments(params, shard, format);
        }
    }

    /** Over all of {@code params}, with the moments kept in {@code format}. */
    public AdamW(FlatParameters params, Config config, StateFormat format) {
        this(params, Shard.range(0, params.length()), config, format);
    }

    private static Shard checked(FlatParameters params, int from, int to) {
        if (from < 0 || to > params.length() || from > to) {
            throw new IllegalArgumentException("optimizer range [" + from + ", " + to + ") outside [0, " + params.length() + ")");
        }
        return Shard.range(from, to);
    }

    @Override
    protected void update(float[] values, float[] grads) {
        if (moments != null) {
            OpStats.Frame frame = OpStats.begin("adamw_" + format.label());
            moments.update(values, grads, lr, config.beta1(), config.beta2(), config.eps(), config.weightDecay(), step);
            // reads parameter and gradient (FP32) and both moments, writes parameter and moments
            if (frame != null) frame.end(FLOPS_PER_ELEMENT * shard.size(), 12.0 * shard.size() + 2.0 * moments.bytes());
            return;
        }
        OpStats.Frame frame = OpStats.begin("adamw");
        int state = 0;
        for (int k = 0; k < shard.starts().length; k++) {
            int len = shard.lengths()[k];
            AdamWKernel.step(values, shard.starts()[k], grads, shard.gradStarts()[k], expAvg.data(), state, expAvgSq.data(), state,
                    len, lr, config.beta1(), config.beta2(), config.eps(), config.weightDecay(), step);
            state += len;
        }
        // reads parameter, gradient and both moments, writes parameter and moments: 7 FP32 values per element
        if (frame != null) frame.end(FLOPS_PER_ELEMENT * shard.size(), 28.0 * shard.size());
    }

    public Config config() {
        return config;
    }

    public StateFormat stateFormat() {
        return format;
    }

    /** The FP32 moments; empty when they are compressed ({@link #savedState()} gives their values then). */
    @Override
    public Map<String, Tensor> stateTensors() {
        Map<String, Tensor> m = new LinkedHashMap<>();
        if (moments != null) return m;
        m.put("exp_avg", expAvg);
        m.put("exp_avg_sq", expAvgSq);
        return m;
    }

    /**
     * FP32 moments for a checkpoint: the tensors themselves, or for compressed moments temporaries (released by the
     * enclosing scope) holding what they decode to — exp_avg and exp_avg_sq, and under INT8 also exp_avg_absmax and
     * exp_avg_sq_absmax (each element's block absmax, 0 where the moments are FP32), from which
     * {@link #loadSavedState} rebuilds the same bytes.
     */
    @Override
    public Map<String, Tensor> savedState() {
        if (moments == null) return stateTensors();
        Map<String, Tensor> m = new LinkedHashMap<>();
        for (String name : savedNames()) m.put(name, Tensor.empty("adamw.saved_state", shard.size()));
        float[][] arrays = arrays(m);
        moments.exportTo(arrays);
        return m;
    }

    @Override
    public void loadSavedState(Map<String, Tensor> filled) {
        if (moments == null) return; // filled in place
        moments.importFrom(arrays(filled));
    }

    private java.util.List<String> savedNames() {
        return format == StateFormat.INT8 ? java.util.List.of("exp_avg", "exp_avg_sq", "exp_avg_absmax", "exp_avg_sq_absmax")
                : java.util.List.of("exp_avg", "exp_avg_sq");
    }

    private float[][] arrays(Map<String, Tensor> m) {
        java.util.List<String> names = savedNames();
        float[][] out = new float[4][];
        for (int k = 0; k < names.size(); k++) {
            Tensor t = m.get(names.get(k));
            if (t == null || t.offset() != 0 || t.numel() != shard.size()) {
                throw new IllegalArgumentException("saved state " + names.get(k) + " missing or not F32[" + shard.size() + "]");
            }
            out[k] = t.data();
        }
        return out;
    }

    @Override
    public void release() {
        if (moments != null) moments.release();
        else super.release();
    }

    /** Bytes of the moments, as the tracker counts them. */
    public long stateBytes() {
        return moments != null ? moments.bytes() : expAvg.bytes() + expAvgSq.bytes();
    }

    /** Elements whose moments are 8-bit (0 unless INT8). */
    public int eightBitElements() {
        return moments == null ? 0 : moments.eightBitElements();
    }
}
