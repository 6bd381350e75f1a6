package dev.memwall;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.kernels.AdamWKernel;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.rng.Rng;

public class StepProbe {
    public static void main(String[] args) {
        GptConfig c = GptConfig.benchmark();
        int b = 16;
        Gpt m = new Gpt(c, new Rng(1));
        FlatParameters flat = m.flatten();
        int n = flat.length();
        float[] mom = new float[n], vel = new float[n];
        Rng r = new Rng(2);
        int[] ids = new int[b * c.context()], tg = new int[b * c.context()];
        for (int i = 0; i < ids.length; i++) { ids[i] = r.nextInt(256); tg[i] = r.nextInt(256); }
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 8;
        for (int s = 0; s < steps; s++) {
            long t0 = System.nanoTime();
            float lossV;
            long t1;
            try (Scope sc = Scope.open()) {
                Tensor loss = m.loss(Tensor.ints(ids, b, c.context()), Tensor.ints(tg, b, c.context()));
                lossV = loss.item();
                t1 = System.nanoTime();
                loss.backward();
            }
            long t2 = System.nanoTime();
            AdamWKernel.step(flat.values().whole().data(), 0, flat.grads().whole().data(), 0, mom, 0, vel, 0, n, 3e-4f, 0.9f, 0.999f, 1e-8f, 0.01f, s + 1);
            m.zeroGrad();
            long t3 = System.nanoTime();
            System.out.printf("step %d loss %.4f fwd %.0f ms bwd %.0f ms opt %.0f ms total %.0f ms%n", s, lossV, (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6, (t3 - t0) / 1e6);
        }
        System.out.println(MemoryTracker.current());
    }
}
