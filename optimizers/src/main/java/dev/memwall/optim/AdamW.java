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
 * moments, eps added after the square root of the corrected second moment. State: two FP32 moments over the range,
 * counted as OPTIMIZER_STATE.
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
    private final Tensor expAvg, expAvgSq;

    public AdamW(FlatParameters params, Config config) {
        this(params, 0, params.length(), config);
    }

    public AdamW(FlatParameters params, int from, int to, Config config) {
        this(params, checked(params, from, to), config);
    }

    /** Over the segments of {@code shard} (ZeRO stage 2: one piece of every gradient bucket). */
    public AdamW(FlatParameters params, Shard shard, Config config) {
        super(params, shard, config.lr());
        this.config = config;
        this.expAvg = Tensor.empty(DType.FP32, Category.OPTIMIZER_STATE, "adamw.exp_avg", shard.size());
        this.expAvgSq = Tensor.empty(DType.FP32, Category.OPTIMIZER_STATE, "adamw.exp_avg_sq", shard.size());
    }

    private static Shard checked(FlatParameters params, int from, int to) {
        if (from < 0 || to > params.length() || from > to) {
            throw new IllegalArgumentException("optimizer range [" + from + ", " + to + ") outside [0, " + params.length() + ")");
        }
        return Shard.range(from, to);
    }

    @Override
    protected void update(float[] values, float[] grads) {
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

    @Override
    public Map<String, Tensor> stateTensors() {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("exp_avg", expAvg);
        m.put("exp_avg_sq", expAvgSq);
        return m;
    }
}
