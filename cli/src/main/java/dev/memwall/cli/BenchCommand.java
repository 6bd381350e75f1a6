package dev.memwall.cli;

import dev.memwall.checkpoint.Checkpointing;
import dev.memwall.checkpoint.Policy;
import dev.memwall.data.Batch;
import dev.memwall.kernels.Gemm;
import dev.memwall.memory.Category;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.autograd.CompressedActivations;
import dev.memwall.optim.AdamW;
import dev.memwall.optim.StateFormat;
import dev.memwall.optim.LrSchedule;
import dev.memwall.rng.Rng;
import dev.memwall.train.StepStats;
import dev.memwall.train.Trainer;
import org.apache.commons.math3.stat.descriptive.rank.Median;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * Times training steps of the GPT benchmark model (random tokens, AdamW lr 3e-4, FP32), the workload that BENCHMARKS.md
 * compares with the same model in PyTorch.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, description = {"Time training steps of the GPT benchmark model.",
        "Its default model (L6 D256 H4 ctx128, batch 16) is larger than train's; the first line printed names the model that runs."})
final class BenchCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model = new ModelOptions();
    @Mixin
    OptimizerOptions optimizerOptions = new OptimizerOptions();
    @Option(names = "--warmup", description = "untimed steps first (default: ${DEFAULT-VALUE})")
    int warmup = 3;
    @Option(names = "--steps", description = "timed steps (default: ${DEFAULT-VALUE})")
    int steps = 10;
    @Option(names = "--seed", description = "seed (default: ${DEFAULT-VALUE})")
    long seed = 0;
    @Option(names = "--checkpoint", paramLabel = "POLICY", description = CheckpointOption.DESCRIPTION + " (default: ${DEFAULT-VALUE})")
    String checkpoint = "NONE";
    @Option(names = "--no-sgemm-peak", description = "skip timing the sgemm peak (48 MiB of arrays; mfu is then null)")
    boolean noSgemmPeak;
    @Option(names = "--save-activations", paramLabel = "FORMAT", description = "keep saved activations as fp32, bf16 or fp8 "
            + "(E4M3, one scale per tensor) between forward and backward (default: ${DEFAULT-VALUE})")
    String saveActivations = "fp32";
    @Option(names = "--optimizer-state", paramLabel = "FORMAT", description = "AdamW's moments in fp32, bf16 or int8 "
            + "(block-wise 8-bit) (default: ${DEFAULT-VALUE})")
    String optimizerState = "fp32";
    @Option(names = "--json", description = "print one JSON object")
    boolean json;
    @picocli.CommandLine.Mixin
    PrecisionOptions precisionOptions = new PrecisionOptions();
    @Option(names = "--verbose", description = "stack traces on errors")
    boolean verbose;
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        model.validate(spec.commandLine());
        optimizerOptions.validate(spec.commandLine());
        if (warmup < 0 || steps < 1) throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--steps must be >= 1 and --warmup >= 0");
        GptConfig c = model.config(256, 0f);
        CheckpointOption.validate(checkpoint, c.layers(), spec.commandLine(), "train --save");
        String text = checkpoint;
        CompressedActivations.Format saved;
        StateFormat state;
        try {
            saved = CompressedActivations.Format.parse(saveActivations);
            state = StateFormat.parse(optimizerState);
        } catch (IllegalArgumentException e) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        dev.memwall.precision.MixedPrecision mixed = precisionOptions.build(spec.commandLine());
        Result r;
        try (var hooks = CompressedActivations.install(saved)) {
        r = run(c, model.batch, warmup, steps, seed, (gpt, b) -> {
            System.err.println(ModelLine.of(gpt.config(), gpt.parameterCount(), String.format(", batch %d; %d warm-up and %d timed "
                    + "steps, --checkpoint %s", model.batch, warmup, steps, text)));
            try {
                // run() has made the optimizer, so its state (in any format) is already counted
                return CheckpointOption.install(text, gpt, b, 0, System.err, saved);
            } catch (IllegalArgumentException e) { // an infeasible BUDGET is a bad argument, as in train
                throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--checkpoint: " + e.getMessage());
            }
        }, json ? null : System.out, !noSgemmPeak, optimizerFactory(optimizerOptions, spec.commandLine(), seed, state),
                optimizerOptions.name(spec.commandLine()), mixed, optimizerOptions.hessianDtype(spec.commandLine(), mixed));
        }
        if (json) {
            Map<String, Object> out = r.toJson();
            out.put("save_activations", saved.label());
            out.put("optimizer_state", state.label());
            PrecisionOptions.putJson(out, mixed);
            out.put("hessian_dtype", optimizerOptions.hessianDtype(spec.commandLine()).label());
            System.out.println(Json.line(out));
        } else {
            System.out.println(r.summary());
        }
        return 0;
    }

    /** The measurement, callable from other commands and tests. */
    record Result(GptConfig config, int batch, long params, Policy policy, double[] stepMs, double stepMsMedian,
                  double tokensPerS, double modelGflops, double sgemmPeakGflops, StepStats last, long jvmHeapPeak,
                  String optimizer) {
        Map<String, Object> toJson() {
            Map<String, Object> cfg = new LinkedHashMap<>();
            cfg.put("vocab", config.vocab());
            cfg.put("ctx", config.context());
            cfg.put("dim", config.dim());
            cfg.put("heads", config.heads());
            cfg.put("layers", config.layers());
            cfg.put("batch", batch);
            cfg.put("params", params);
            cfg.put("dtype", "fp32");
            cfg.put("optimizer", optimizer);
            cfg.put("threads", dev.memwall.kernels.Parallel.threads());
            cfg.put("checkpoint", policy.describe());
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("config", cfg);
            m.put("step_ms_median", round(stepMsMedian));
            m.put("step_ms_mean", round(Arrays.stream(stepMs).average().orElse(Double.NaN))); // what a delayed Hessian averages to
            m.put("step_ms", Arrays.stream(stepMs).map(BenchCommand::round).toArray());
            m.put("tokens_per_s", Math.round(tokensPerS));
            m.put("model_gflops_per_s", round(modelGflops));
            m.put("sgemm_peak_gflops", Double.isNaN(sgemmPeakGflops) ? null : round(sgemmPeakGflops));
            m.put("mfu", Double.isNaN(sgemmPeakGflops) ? null : Math.round(modelGflops / sgemmPeakGflops * 1000) / 1000.0);
            m.put("peak_bytes", Json.bytes(last.peakBytes(), last.peakTotalBytes()));
            m.put("jvm_heap_peak_bytes", jvmHeapPeak);
            m.put("array_cache_bytes", dev.memwall.memory.ArrayCache.cachedBytes());
            return m;
        }

        String summary() {
            String mfu = Double.isNaN(sgemmPeakGflops) ? "" : String.format("sgemm peak %.1f GFLOP/s, MFU %.1f%%, ",
                    sgemmPeakGflops, 100 * modelGflops / sgemmPeakGflops);
            return String.format("GPT L=%d D=%d H=%d B=%d T=%d (%,d params), %s: %.1f ms/step median, %,.0f tokens/s, "
                            + "%.1f model GFLOP/s, %speak %s MiB (activations %s MiB), JVM heap peak %s MiB",
                    config.layers(), config.dim(), config.heads(), batch, config.context(), params, policy.name(), stepMsMedian,
                    tokensPerS, modelGflops, mfu, mib(last.peakTotalBytes()), mib(last.peakBytes().get(Category.ACTIVATION)),
                    mib(jvmHeapPeak));
        }
    }

    static Result run(GptConfig c, int batch, int warmup, int steps, long seed, Policy policy, java.io.PrintStream progress) {
        return run(c, batch, warmup, steps, seed, (gpt, b) -> {
            Checkpointing.install(gpt, policy);
            return policy;
        }, progress, true, optimizerFactory(null, null, seed, StateFormat.FP32), OptimizerOptions.ADAMW);
    }

    /**
     * The benchmark's optimizer at its rate 3e-4: AdamW (PyTorch's defaults, its moments in {@code state}) unless
     * {@code options} name another (whose state is FP32 only).
     */
    static java.util.function.Function<FlatParameters, dev.memwall.optim.Optimizer> optimizerFactory(OptimizerOptions options,
                                                                                                   picocli.CommandLine cl, long seed,
                                                                                                   StateFormat state) {
        if (options == null || options.name(cl).equals(OptimizerOptions.ADAMW)) {
            return flat -> new AdamW(flat, AdamW.Config.defaults(3e-4), state);
        }
        if (state != StateFormat.FP32) {
            throw new picocli.CommandLine.ParameterException(cl, "--optimizer-state " + state.label() + " applies to AdamW only, not --optimizer "
                    + options.name(cl));
        }
        return flat -> options.build(cl, flat, dev.memwall.optim.Shard.range(0, flat.length()), 3e-4, seed);
    }

    /** The benchmark's input: {@code batch} windows of uniformly random tokens and targets (what profile trains on too). */
    static Batch randomBatch(GptConfig c, int batch, long seed) {
        Rng data = new Rng(seed);
        int n = batch * c.context();
        int[] ids = new int[n], targets = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = data.nextInt(c.vocab());
            targets[i] = data.nextInt(c.vocab());
        }
        return new Batch(ids, targets, batch, c.context());
    }

    /** {@code checkpointing} installs a policy on the fresh model, given the batch every step trains on. */
    static Result run(GptConfig c, int batch, int warmup, int steps, long seed,
                      java.util.function.BiFunction<Gpt, Batch, Policy> checkpointing, java.io.PrintStream progress,
                      boolean timeSgemmPeak, java.util.function.Function<FlatParameters, dev.memwall.optim.Optimizer> optimizer,
                      String optimizerName) {
        return run(c, batch, warmup, steps, seed, checkpointing, progress, timeSgemmPeak, optimizer, optimizerName, null);
    }

    /** {@link #run} in mixed precision ({@code bench --precision}); null trains in FP32. */
    static Result run(GptConfig c, int batch, int warmup, int steps, long seed,
                      java.util.function.BiFunction<Gpt, Batch, Policy> checkpointing, java.io.PrintStream progress,
                      boolean timeSgemmPeak, java.util.function.Function<FlatParameters, dev.memwall.optim.Optimizer> optimizer,
                      String optimizerName, dev.memwall.precision.MixedPrecision mixed) {
        return run(c, batch, warmup, steps, seed, checkpointing, progress, timeSgemmPeak, optimizer, optimizerName, mixed,
                dev.memwall.train.HessianDtype.FP32);
    }

    /** {@link #run} with the fused Hessian pass's tangent GEMMs in {@code hessian} ({@code --hessian-dtype}). */
    static Result run(GptConfig c, int batch, int warmup, int steps, long seed,
                      java.util.function.BiFunction<Gpt, Batch, Policy> checkpointing, java.io.PrintStream progress,
                      boolean timeSgemmPeak, java.util.function.Function<FlatParameters, dev.memwall.optim.Optimizer> optimizer,
                      String optimizerName, dev.memwall.precision.MixedPrecision mixed, dev.memwall.train.HessianDtype hessian) {
        Gpt gpt = new Gpt(c, new Rng(seed));
        FlatParameters flat = gpt.flatten();
        dev.memwall.optim.Optimizer opt = optimizer.apply(flat);
        // with a delayed Hessian, steps that estimate it and steps that reuse it differ: the figures are the largest step's
        boolean uniformSteps = !(opt instanceof dev.memwall.optim.AdaHessian ah) || ah.config().updateEach() == 1;
        Trainer trainer = new Trainer(gpt, flat, opt, LrSchedule.constant(3e-4), 0);
        trainer.mixedPrecision(mixed).hessianDtype(hessian);
        Batch b = randomBatch(c, batch, seed + 1);
        int n = batch * c.context(); // tokens per step
        Policy policy = checkpointing.apply(gpt, b);
        if (opt instanceof dev.memwall.optim.SecondOrder) OutOfMemoryAdvice.watchSecondOrder(OutOfMemoryAdvice.stateBytes(opt), 4L * flat.length());
        for (int i = 0; i < warmup; i++) {
            StepStats s = trainer.step(b);
            if (progress != null) progress.printf("warm-up %d/%d: %.1f ms%n", i + 1, warmup, s.millis());
        }
        resetHeapPeaks();
        double[] ms = new double[steps];
        long peakTotal = 0;
        StepStats last = null;
        for (int i = 0; i < steps; i++) {
            StepStats s = trainer.step(b);
            if (uniformSteps && i > 0 && s.peakTotalBytes() != peakTotal) throw new IllegalStateException("memory figures differ between steps");
            if (last == null || s.peakTotalBytes() > peakTotal) {
                last = s;
                peakTotal = s.peakTotalBytes();
            }
            ms[i] = s.millis();
            if (progress != null) progress.printf("step %d/%d: %.1f ms, loss %.4f%n", i + 1, steps, ms[i], s.loss());
        }
        long heapPeak = heapPeak();
        double median = median(ms);
        long params = gpt.parameterCount();
        double flops = 6.0 * params * n + 12.0 * c.layers() * batch * (double) c.context() * c.context() * c.dim();
        opt.release();
        flat.values().release();
        flat.grads().release();
        double peak = timeSgemmPeak ? sgemmPeakGflops() : Double.NaN;
        return new Result(c, batch, params, policy, ms, median, n / (median / 1000), flops / (median / 1000) / 1e9, peak, last, heapPeak, optimizerName);
    }

    /** The median (the mean of the middle two for an even count), by Commons Math. */
    static double median(double[] v) {
        return new Median().evaluate(v);
    }

    /** Best of several 2048³ OpenBLAS sgemms through the project's kernel, in GFLOP/s. */
    static double sgemmPeakGflops() {
        int n = 2048;
        float[] a = new float[n * n], b = new float[n * n], c = new float[n * n];
        Rng r = new Rng(3);
        r.fillUniform(a, 0, a.length, -1, 1);
        r.fillUniform(b, 0, b.length, -1, 1);
        double best = Double.MAX_VALUE;
        for (int i = 0; i < 6; i++) {
            long t0 = System.nanoTime();
            Gemm.sgemm(false, false, n, n, n, 1f, a, 0, b, 0, 0f, c, 0);
            best = Math.min(best, (System.nanoTime() - t0) / 1e9);
        }
        return 2.0 * n * n * n / best / 1e9;
    }

    private static void resetHeapPeaks() {
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) if (p.getType() == MemoryType.HEAP) p.resetPeakUsage();
    }

    /**
     * The sum of each heap pool's peak use since the reset: an upper bound on the heap's peak, since the pools peak at
     * different moments (eden just before a collection, the old generation after promotions), so it can exceed -Xmx.
     */
    private static long heapPeak() {
        long sum = 0;
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
            if (p.getType() == MemoryType.HEAP) sum += p.getPeakUsage().getUsed();
        }
        return sum;
    }

    static double round(double v) {
        return Math.round(v * 100) / 100.0;
    }

    static String mib(Long bytes) {
        return bytes == null ? "?" : String.format("%.1f", bytes / 1048576.0);
    }
}
