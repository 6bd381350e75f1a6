package dev.memwall.examples;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.data.AdditionTask;
import dev.memwall.data.Batch;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.optim.AdaHessian;
import dev.memwall.optim.LrSchedule;
import dev.memwall.rng.Rng;
import dev.memwall.train.Trainer;

/**
 * The README's AdaHessian example: the same GPT as {@link TrainGpt} trained with AdaHessian through the Trainer, then
 * one step written out by hand to show the protocol the Trainer follows (run with
 * {@code mvn -q -pl examples -am compile exec:java -Dexample=dev.memwall.examples.AdaHessianGpt}).
 */
public final class AdaHessianGpt {
    public static void main(String[] args) {
        AdditionTask task = new AdditionTask(2);
        Gpt model = new Gpt(new GptConfig(256, task.context(), 128, 4, 2, 0f), new Rng(0));
        FlatParameters params = model.flatten();
        AdaHessian.Config cfg = AdaHessian.Config.defaults()      // lr 0.15, β (0.9, 0.999), ε 1e-4, k 1, block 1
                .withHessian(1, 1, 1, 2);                          // power, block length, z per estimate, update each 2 steps
        AdaHessian opt = new AdaHessian(params, cfg);
        Trainer trainer = new Trainer(model, params, opt, LrSchedule.warmupCosine(0.15, 50, 400, 0.015), 1.0);
        Rng data = new Rng(1);
        for (int step = 0; step < 400; step++) {
            double loss = trainer.step(task.trainBatch(64, data)).loss(); // backward with createGraph on Hessian steps
            if (step % 100 == 99) System.out.printf("step %d loss %.4f%n", step + 1, loss);
        }
        System.out.printf("held-out exact match: %.1f%%%n", 100 * task.exactMatchAccuracy(model, 500, 250));

        // One more step by hand, what Trainer.step does for a SecondOrder optimizer:
        Batch b = task.trainBatch(64, data);
        try (Scope s = Scope.open()) {
            Tensor loss = model.loss(b.idsTensor(), b.targetsTensor());
            if (opt.needsHessian()) {
                loss.backward(Tensor.scalar(1f), false, true);   // createGraph: .grad() carries the gradient's graph
                opt.accumulateHessian(model.parameters());       // z ⊙ Hz for Rademacher z, before the scope frees the graph
            } else {
                loss.backward();                                 // a step that reuses the stale estimate
            }
        }
        opt.step();
        opt.zeroGrad();
    }
}
