package dev.memwall.cli;

import dev.memwall.autograd.GradMode;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.data.AdditionTask;
import dev.memwall.data.Batch;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.optim.AdamW;
import dev.memwall.optim.LrSchedule;
import dev.memwall.rng.Rng;
import dev.memwall.train.Trainer;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The default {@code memwall train} run must not depend on the last bit of a GEMM. With the former 0.02 init of Linear
 * and Embedding it sat for hundreds of steps on a plateau at loss 3·ln 10 / 5 ≈ 1.38 (terminator and carry-out digit
 * learned, the three sum digits at chance) because the attention heads started uniform, and a sum digit is independent
 * of either operand digit alone; where it left the plateau moved with rounding, and under OpenBLAS's SkylakeX kernel
 * seed 0 ended at 0.863 held-out exact match. These tests take the model shape and hyper-parameters from
 * {@link TrainCommand}'s defaults, so a change there is tested too.
 */
class DefaultTrainingRunTest {
    private static final double PLATEAU = 3 * Math.log(10) / 5;

    /**
     * The cause, measured without training: q·kᵀ/√hd of the first block for unit-variance inputs (what ln1 feeds it).
     * With weights of std σ the scores have std σ²·dim: 0.05 with σ = 0.02 (softmax of such scores is uniform within
     * 5%, and the gradient that would break the symmetry is proportional to those small weights), 1 with σ = 1/√dim.
     * Fails if the init scale of Linear shrinks again, or if the default width grows without it following.
     */
    @Test
    void attentionScoresOfTheDefaultModelStartSpreadOut() {
        TrainCommand defaults = new TrainCommand();
        int dim = defaults.dim, heads = defaults.heads, hd = dim / heads;
        AdditionTask task = new AdditionTask(defaults.digits);
        Gpt model = new Gpt(new GptConfig(256, task.context(), dim, heads, defaults.layers, 0f), new Rng(defaults.seed));
        float[] w = model.namedParameters().get("blocks.0.qkv.weight").toFloatArray(); // [3·dim, dim]: q rows, k rows, v rows
        Random random = new Random(7);
        int tokens = 64;
        double[][] q = new double[tokens][dim], k = new double[tokens][dim];
        for (int t = 0; t < tokens; t++) {
            double[] x = new double[dim];
            for (int i = 0; i < dim; i++) x[i] = random.nextGaussian();
            for (int o = 0; o < dim; o++) {
                for (int i = 0; i < dim; i++) {
                    q[t][o] += w[o * dim + i] * x[i];
                    k[t][o] += w[(dim + o) * dim + i] * x[i];
                }
            }
        }
        double sum = 0, sumSq = 0;
        int n = 0;
        for (int h = 0; h < heads; h++) {
            for (int a = 0; a < tokens; a++) {
                for (int b = 0; b < tokens; b++) {
                    double s = 0;
                    for (int c = h * hd; c < (h + 1) * hd; c++) s += q[a][c] * k[b][c];
                    s /= Math.sqrt(hd);
                    sum += s;
                    sumSq += s * s;
                    n++;
                }
            }
        }
        double std = Math.sqrt(sumSq / n - (sum / n) * (sum / n));
        assertThat(std).as("std of the initial attention scores").isBetween(0.5, 2.0);
    }

    /**
     * The second half of the cause: what the second block reads is the embeddings plus the first block's output. With
     * embeddings of std 0.02 and blocks of unit scale (Linear at 1/√in), token and position would be ~2% of it; with
     * std 1 they are comparable. Measured as ‖embedding‖ / ‖block 0's contribution‖ on held-out prompts.
     */
    @Test
    void embeddingsAreNotDrownedByTheFirstBlock() {
        TrainCommand d = new TrainCommand();
        AdditionTask task = new AdditionTask(d.digits);
        Gpt model = new Gpt(new GptConfig(256, task.context(), d.dim, d.heads, d.layers, 0f), new Rng(d.seed));
        double ratio;
        try (Scope scope = Scope.open(); var g = GradMode.noGrad()) {
            Tensor x = model.embed(task.evalBatch(0, 64).idsTensor());
            float[] e = x.toFloatArray(), y = model.blocks().get(0).forward(x).toFloatArray();
            double embedding = 0, block = 0;
            for (int i = 0; i < e.length; i++) {
                embedding += (double) e[i] * e[i];
                block += (double) (y[i] - e[i]) * (y[i] - e[i]);
            }
            ratio = Math.sqrt(embedding / block);
        }
        assertThat(ratio).as("‖embedding‖ / ‖first block's output‖").isBetween(0.3, 3.0);
    }

    /**
     * The symptom, on the default run itself (seed 0, the first 250 of its 1,500 steps, same schedule and data stream
     * as {@code memwall train}): by then the held-out loss must be well below the plateau. With the 0.02 init it was
     * 1.37 at step 250 on this machine's default kernel (the run left the plateau near step 400); with the current init
     * it is about 0.55. The run is deterministic on one machine but GEMM kernels round differently, so the figure moves
     * between CPUs; it fails when a change brings back a late, rounding-dependent escape — the fragility it guards.
     */
    @Test
    void defaultRunLeavesThePlateauWithinItsFirst250Steps() {
        TrainCommand d = new TrainCommand();
        AdditionTask task = new AdditionTask(d.digits);
        Gpt model = new Gpt(new GptConfig(256, task.context(), d.dim, d.heads, d.layers, d.dropout), new Rng(d.seed));
        FlatParameters flat = model.flatten();
        // As TrainCommand.call builds them.
        AdamW adamw = new AdamW(flat, new AdamW.Config(d.lr, 0.9, 0.95, 1e-8, 0.01));
        Trainer trainer = new Trainer(model, flat, adamw,
                LrSchedule.warmupCosine(d.lr, Math.min(d.warmup, d.steps), d.steps, d.lr / 10), d.clip);
        Rng data = new Rng(d.seed + 1);
        List<Batch> heldOut = new ArrayList<>();
        for (int i = 0; i < 4; i++) heldOut.add(task.evalBatch(i, 64));
        assertThat(trainer.evalLoss(heldOut)).as("held-out loss at init").isGreaterThan(PLATEAU);
        while (trainer.completedSteps() < 250) trainer.step(task.trainBatch(d.batch, data));
        assertThat(trainer.evalLoss(heldOut)).as("held-out loss after 250 steps (plateau at %.3f)", PLATEAU).isLessThan(1.0);
    }
}
