package dev.memwall.optim;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.nn.FlatParameters;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * SGD with PyTorch's semantics: d = g + wd·p; with momentum, buf = μ·buf + (1 − dampening)·d (buf = d on the first
 * step), then d = d + μ·buf (Nesterov) or d = buf; p ← p − lr·d. The momentum buffer exists only when μ > 0.
 */
public final class Sgd extends Optimizer {
    public record Config(double lr, double momentum, double dampening, double weightDecay, boolean nesterov) {
        public Config {
            if (momentum < 0) throw new IllegalArgumentException("momentum must be >= 0");
            if (weightDecay < 0) throw new IllegalArgumentException("weight decay must be >= 0");
            if (nesterov && (momentum <= 0 || dampening != 0)) {
                throw new IllegalArgumentException("Nesterov momentum requires a momentum > 0 and zero dampening");
            }
        }

        public static Config plain(double lr) {
            return new Config(lr, 0, 0, 0, false);
        }
    }

    private final Config config;
    private final Tensor buf;

    public Sgd(FlatParameters params, Config config) {
        this(params, 0, params.length(), config);
    }

    public Sgd(FlatParameters params, int from, int to, Config config) {
        this(params, checked(params, from, to), config);
    }

    /** Over the segments of {@code shard} (ZeRO stage 2: one piece of every gradient bucket). */
    public Sgd(FlatParameters params, Shard shard, Config config) {
        super(params, shard, config.lr());
        this.config = config;
        this.buf = config.momentum() > 0 ? Tensor.empty(DType.FP32, Category.OPTIMIZER_STATE, "sgd.momentum", shard.size()) : null;
    }

    private static Shard checked(FlatParameters params, int from, int to) {
        if (from < 0 || to > params.length() || from > to) {
            throw new IllegalArgumentException("optimizer range [" + from + ", " + to + ") outside [0, " + params.length() + ")");
        }
        return Shard.range(from, to);
    }

    @Override
    protected void update(float[] p, float[] g) {
        float lrF = (float) lr, wd = (float) config.weightDecay(), mu = (float) config.momentum();
        float damp = 1f - (float) config.dampening();
        boolean first = step == 1, nesterov = config.nesterov();
        float[] b = buf == null ? null : buf.data();
        int j = 0; // state index: the segments one after another
        for (int k = 0; k < shard.starts().length; k++) {
            int start = shard.starts()[k], gStart = shard.gradStarts()[k], len = shard.lengths()[k];
            for (int e = 0; e < len; e++, j++) {
                int i = start + e;
                float d = g[gStart + e] + wd * p[i];
                if (b != null) {
                    b[j] = first ? d : mu * b[j] + damp * d;
                    d = nesterov ? d + mu * b[j] : b[j];
                }
                p[i] -= lrF * d;
            }
        }
    }

    @Override
    public Map<String, Tensor> stateTensors() {
        Map<String, Tensor> m = new LinkedHashMap<>();
        if (buf != null) m.put("momentum_buffer", buf);
        return m;
    }
}
