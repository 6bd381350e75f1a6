package dev.memwall.examples;

import dev.memwall.checkpoint.Checkpointing;
import dev.memwall.checkpoint.Policy;
import dev.memwall.data.Batch;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.optim.AdaHessian;
import dev.memwall.optim.AdamW;
import dev.memwall.optim.LrSchedule;
import dev.memwall.optim.Optimizer;
import dev.memwall.optim.Shard;
import dev.memwall.precision.MixedPrecision;
import dev.memwall.precision.Precision;
import dev.memwall.rng.Rng;
import dev.memwall.train.HessianDtype;
import dev.memwall.train.HessianPath;
import dev.memwall.train.Trainer;

import java.lang.management.ManagementFactory;

/**
 * Process CPU time per training step on the GPT benchmark model (batch 16): AdamW, and AdaHessian on the fused
 * forward-over-reverse route and on the earlier one (region by region under a policy, createGraph without), under NONE
 * and EVERY_LAYER. CPU time, unlike wall time, hardly moves when other processes share the cores, so its ratios are
 * what a loaded machine can tell about step-time ratios (both cores busy through a step either way). {@code fused-bf16/1}
 * is the fused route with BF16 tangent GEMMs ({@code --hessian-dtype bf16}); {@code bf16-fused/1} and
 * {@code bf16-earlier/1} run under BF16 autocast ({@code --precision bf16}) on the fused and the earlier route. Arguments:
 * timed steps per run (default 2), then optionally the runs, comma-separated (default
 * {@code adamw,fused/1,fused-bf16/1,earlier/1,fused/5}).
 * {@code mvn -q -pl examples -am test-compile exec:java -Dexample=dev.memwall.examples.HessianStepCpuTime}
 */
public final class HessianStepCpuTime {
    private HessianStepCpuTime() {
    }

    public static void main(String[] args) {
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 2;
        String[] runs = (args.length > 1 ? args[1] : "adamw,fused/1,fused-bf16/1,earlier/1,fused/5").split(",");
        GptConfig c = GptConfig.benchmark();
        int rows = 16, t = c.context();
        Rng r = new Rng(1);
        int[] ids = new int[rows * t], targets = new int[rows * t];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = r.nextInt(c.vocab());
            targets[i] = r.nextInt(c.vocab());
        }
        Batch batch = new Batch(ids, targets, rows, t);
        for (Policy policy : new Policy[]{Policy.none(c.layers()), Policy.everyLayer(c.layers())}) {
            for (String run : runs) {
                Gpt model = new Gpt(c, new Rng(0));
                Checkpointing.install(model, policy);
                FlatParameters flat = model.flatten();
                int each = run.endsWith("/5") ? 5 : 1;
                Optimizer opt = run.equals("adamw") ? new AdamW(flat, AdamW.Config.defaults(3e-4))
                        : new AdaHessian(flat, Shard.range(0, flat.length()),
                        AdaHessian.Config.defaults().withLr(3e-4).withHessian(1, 1, 1, each).withSeed(0));
                Trainer trainer = new Trainer(model, flat, opt, LrSchedule.constant(3e-4), 0);
                if (!run.equals("adamw")) trainer.hessianPath(run.contains("fused") ? HessianPath.FORWARD_OVER_REVERSE : HessianPath.REGIONS);
                if (run.startsWith("bf16-")) trainer.mixedPrecision(MixedPrecision.of(Precision.BF16));
                if (run.startsWith("fused-bf16")) trainer.hessianDtype(HessianDtype.BF16);
                trainer.step(batch); // warm-up: a Hessian step for AdaHessian
                if (each == 5) for (int i = 0; i < 4; i++) trainer.step(batch); // the next 5 steps hold one Hessian step
                int n = each == 5 ? 5 : steps;
                long c0 = cpuNanos(), w0 = System.nanoTime();
                for (int i = 0; i < n; i++) trainer.step(batch);
                System.out.printf("%s %s cpu_ms_per_step %.0f wall_ms_per_step %.0f%n", policy.name(), run,
                        (cpuNanos() - c0) / 1e6 / n, (System.nanoTime() - w0) / 1e6 / n);
            }
        }
    }

    private static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }
}
