package dev.memwall.optim;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.OpStats;
import dev.memwall.autograd.Tensor;
import dev.memwall.kernels.Parallel;
import dev.memwall.memory.Category;
import dev.memwall.nn.FlatParameters;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * AdaHessian (Yao et al., AAAI 2021) as its reference implementation computes it: Adam's first moment over the
 * gradient, and in place of Adam's second moment an exponential average of D², D the Hutchinson estimate of the
 * Hessian diagonal, |z ⊙ Hz| for Rademacher z (averaged over {@code nSamples} draws before the absolute value),
 * averaged over blocks of {@code blockLength} along the last dimension of matrices:
 * <pre>
 *   m ← β1·m + (1−β1)·g;   v ← β2·v + (1−β2)·D²
 *   denom = (√v)^k / (√(1−β2^t))^k + ε
 *   p ← p − lr·((m / (1−β1^t)) / denom + wd·p)
 * </pre>
 * With {@code updateEach} &gt; 1, D is recomputed on steps 1, 1 + updateEach, … and the stale estimate is reused in
 * between (v keeps being updated with it), as davda54/ada-hessian's delayed Hessian does.
 *
 * <p>State over the owned range or shard, each FP32 per element and counted as OPTIMIZER_STATE: exp_avg,
 * exp_hessian_diag_sq and hessian (D, kept for the steps that reuse it), so a sharded job splits all three. During a
 * step that recomputes D, the signed sums of z ⊙ Hz take one more full-length FP32 buffer (GRADIENT, a second
 * gradient in effect), released by the update. The protocol for producing them is {@link SecondOrder}'s.
 */
public final class AdaHessian extends Optimizer implements SecondOrder {
    /** Hyper-parameters; {@link #defaults()} are the reference's. */
    public record Config(double lr, double beta1, double beta2, double eps, double weightDecay, double hessianPower,
                         int blockLength, int nSamples, int updateEach, long seed) {
        public Config {
            if (!(lr >= 0)) throw new IllegalArgumentException("learning rate must be >= 0, got " + lr);
            if (beta1 < 0 || beta1 >= 1 || beta2 < 0 || beta2 >= 1) throw new IllegalArgumentException("betas must be in [0, 1)");
            if (!(eps >= 0)) throw new IllegalArgumentException("eps must be >= 0, got " + eps);
            if (weightDecay < 0) throw new IllegalArgumentException("weight decay must be >= 0");
            if (!(hessianPower > 0 && hessianPower <= 1)) throw new IllegalArgumentException("hessian power must be in (0, 1], got " + hessianPower);
            if (blockLength < 1) throw new IllegalArgumentException("block length must be >= 1, got " + blockLength);
            if (nSamples < 1) throw new IllegalArgumentException("n samples must be >= 1, got " + nSamples);
            if (updateEach < 1) throw new IllegalArgumentException("update each must be >= 1, got " + updateEach);
        }

        /** lr 0.15, betas (0.9, 0.999), eps 1e-4, no weight decay, power 1, block 1, one draw, every step, seed 0. */
        public static Config defaults() {
            return new Config(0.15, 0.9, 0.999, 1e-4, 0, 1, 1, 1, 1, 0);
        }

        public Config withLr(double v) {
            return new Config(v, beta1, beta2, eps, weightDecay, hessianPower, blockLength, nSamples, updateEach, seed);
        }

        public Config withHessian(double power, int block, int samples, int each) {
            return new Config(lr, beta1, beta2, eps, weightDecay, power, block, samples, each, seed);
        }

        public Config withSeed(long s) {
            return new Config(lr, beta1, beta2, eps, weightDecay, hessianPower, blockLength, nSamples, updateEach, s);
        }
    }

    /** m and v updates (3 + 4), bias corrections, sqrt, power and eps (4), the division, lr and weight decay (4). */
    static final double FLOPS_PER_ELEMENT = 15;
    private final Config config;
    private final Tensor expAvg, expHessianDiagSq, hessian;
    /** Σ over micro-batches and draws of weight·z ⊙ Hz, full flat length; null outside a step that recomputes D. */
    private Tensor sums;

    public AdaHessian(FlatParameters params, Config config) {
        this(params, 0, params.length(), config);
    }

    public AdaHessian(FlatParameters params, int from, int to, Config config) {
        this(params, checked(params, from, to), config);
    }

    /** Over the segments of {@code shard}; D is still estimated from the whole model, then kept for the shard only. */
    public AdaHessian(FlatParameters params, Shard shard, Config config) {
        super(params, shard, config.lr());
        this.config = config;
        this.expAvg = Tensor.empty(DType.FP32, Category.OPTIMIZER_STATE, "adahessian.exp_avg", shard.size());
        this.expHessianDiagSq = Tensor.empty(DType.FP32, Category.OPTIMIZER_STATE, "adahessian.exp_hessian_diag_sq", shard.size());
        this.hessian = Tensor.empty(DType.FP32, Category.OPTIMIZER_STATE, "adahessian.hessian", shard.size());
    }

    private static Shard checked(FlatParameters params, int from, int to) {
        if (from < 0 || to > params.length() || from > to) {
            throw new IllegalArgumentException("optimizer range [" + from + ", " + to + ") outside [0, " + params.length() + ")");
        }
        return Shard.range(from, to);
    }

    public Config config() {
        return config;
    }

    @Override
    public boolean needsHessian() {
        return stepCount() % config.updateEach() == 0;
    }

    @Override
    public void accumulateHessian(List<Tensor> parameters) {
        long draw0 = stepCount() / config.updateEach() * config.nSamples();
        for (int s = 0; s < config.nSamples(); s++) {
            float[] z = Hutchinson.rademacher(config.seed(), draw0 + s, params.count(), params.length());
            accumulate(parameters, z, 1.0 / config.nSamples(), s < config.nSamples() - 1);
        }
    }

    @Override
    public List<float[]> hessianDirections() {
        long draw0 = stepCount() / config.updateEach() * config.nSamples();
        List<float[]> zs = new java.util.ArrayList<>();
        for (int s = 0; s < config.nSamples(); s++) zs.add(Hutchinson.rademacher(config.seed(), draw0 + s, params.count(), params.length()));
        return zs;
    }

    @Override
    public void addHessianProduct(float[] z, int offset, Tensor hz) {
        requireDue(z);
        if (offset < 0 || offset + hz.numel() > params.length()) {
            throw new IllegalArgumentException("product of " + hz.numel() + " elements at offset " + offset + " outside the flat buffer of " + params.length());
        }
        float[] s = sums.data(), h = hz.data();
        int ho = hz.offset();
        double weight = 1.0 / config.nSamples();
        Parallel.range(hz.numel(), 2, (from, to) -> {
            if (weight == 1.0) {
                // one draw: z is ±1 (0 on padding), so z·h is exact in float and equals the double product rounded
                for (int i = from; i < to; i++) s[offset + i] += z[offset + i] * h[ho + i];
            } else {
                for (int i = from; i < to; i++) s[offset + i] += (float) (weight * z[offset + i] * h[ho + i]);
            }
        });
    }

    /** Adds weight · z ⊙ Hz for a given z (full flat length): what {@link #accumulateHessian(List)} does per draw. */
    void accumulate(List<Tensor> parameters, float[] z, double weight, boolean retainGraph) {
        requireDue(z);
        Hutchinson.accumulate(params, parameters, z, weight, retainGraph, sums.data());
    }

    /** Checks that products are due this step and z fits; allocates the sums on the first product of a step. */
    private void requireDue(float[] z) {
        if (!needsHessian()) {
            throw new IllegalStateException("AdaHessian step " + (stepCount() + 1) + " reuses the estimate of step "
                    + (stepCount() / config.updateEach() * config.updateEach() + 1) + " (update each " + config.updateEach()
                    + "): no Hessian-vector products are due");
        }
        if (z.length != params.length()) throw new IllegalArgumentException("z has " + z.length + " elements, the flat buffer " + params.length());
        if (sums == null) sums = Tensor.empty(DType.FP32, Category.GRADIENT, "adahessian.hz_sums", params.length());
    }

    @Override
    public float[] hessianSums() {
        return sums == null ? null : sums.data();
    }

    @Override
    public void discardHessianSums() {
        if (sums != null) sums.release();
        sums = null;
    }

    @Override
    protected void update(float[] values, float[] grads) {
        float[] fresh = null; // this step's signed sums when D is recomputed in the update loop itself (block length 1)
        if ((step - 1) % config.updateEach() == 0) {
            if (sums == null) {
                throw new IllegalStateException("AdaHessian step " + step + " recomputes the Hessian estimate but no "
                        + "Hessian-vector products were accumulated: run backward with createGraph, then accumulateHessian");
            }
            if (config.blockLength() == 1) fresh = sums.data();
            else Hutchinson.diagonal(params, sums.data(), config.blockLength(), shard, hessian.data());
        }
        OpStats.Frame frame = OpStats.begin("adahessian");
        double b1 = config.beta1(), b2 = config.beta2(), k = config.hessianPower(), eps = config.eps();
        double bc1 = 1 - Math.pow(b1, step), bc2k = Math.pow(Math.sqrt(1 - Math.pow(b2, step)), k);
        double wd = config.weightDecay(), rate = lr;
        float[] m = expAvg.data(), v = expHessianDiagSq.data(), d = hessian.data(), sumsOrNull = fresh;
        int j = 0; // state index: the segments one after another
        for (int seg = 0; seg < shard.starts().length; seg++) {
            int start = shard.starts()[seg], gStart = shard.gradStarts()[seg], len = shard.lengths()[seg], state = j;
            // element by element, so any split over the cores gives the same bits
            Parallel.range(len, 16, (from, to) -> {
                if (sumsOrNull != null) {
                    // D = |z ⊙ Hz| (Hutchinson.diagonal with blocks of 1), written to the state as it is used
                    for (int e = from; e < to; e++) d[state + e] = Math.abs(sumsOrNull[start + e]);
                }
                if (k == 1) {
                    for (int e = from; e < to; e++) {
                        int i = start + e, s = state + e;
                        double mj = b1 * m[s] + (1 - b1) * grads[gStart + e];
                        double vj = b2 * v[s] + (1 - b2) * (double) d[s] * d[s];
                        m[s] = (float) mj;
                        v[s] = (float) vj;
                        double denom = Math.sqrt(vj) / bc2k + eps;
                        values[i] = (float) (values[i] - rate * (mj / bc1 / denom + wd * values[i]));
                    }
                } else {
                    for (int e = from; e < to; e++) {
                        int i = start + e, s = state + e;
                        double mj = b1 * m[s] + (1 - b1) * grads[gStart + e];
                        double vj = b2 * v[s] + (1 - b2) * (double) d[s] * d[s];
                        m[s] = (float) mj;
                        v[s] = (float) vj;
                        double denom = Math.pow(Math.sqrt(vj), k) / bc2k + eps;
                        values[i] = (float) (values[i] - rate * (mj / bc1 / denom + wd * values[i]));
                    }
                }
            });
            j += len;
        }
        if (sums != null && (step - 1) % config.updateEach() == 0) {
            sums.release();
            sums = null;
        }
        // reads parameter, gradient, m, v and D, writes parameter, m and v: 8 FP32 values per element
        if (frame != null) frame.end(FLOPS_PER_ELEMENT * shard.size(), 32.0 * shard.size());
    }

    @Override
    public Map<String, Tensor> stateTensors() {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("exp_avg", expAvg);
        m.put("exp_hessian_diag_sq", expHessianDiagSq);
        m.put("hessian", hessian);
        return m;
    }

    @Override
    public void release() {
        super.release();
        if (sums != null) sums.releaseIfAlive();
        sums = null;
    }
}
