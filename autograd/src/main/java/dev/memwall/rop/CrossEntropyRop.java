package dev.memwall.rop;

import dev.memwall.autograd.Tensor;
import dev.memwall.kernels.CrossEntropyKernel;
import dev.memwall.kernels.Parallel;
import dev.memwall.kernels.Softmax;

/**
 * Mean cross-entropy of logits [rows, V] against targets (ignore index −100, as {@code F.crossEntropy}), seeded with
 * {@code scale}: ȳ = scale/n·(softmax(y) − onehot) through the first-order kernel, and its tangent along ẏ,
 * scale/n·p∘(ẏ − ⟨p, ẏ⟩) (the loss's own adjoint is the constant {@code scale}, so it has no tangent).
 */
final class CrossEntropyRop {
    static final int IGNORE = -100;

    private CrossEntropyRop() {
    }

    static float loss(Dual logits, Tensor targets, int rows, int vocab) {
        return CrossEntropyKernel.forward(logits.va(), logits.vo(), targets.intData(), targets.offset(), rows, vocab, IGNORE);
    }

    static Dual backward(Dual y, Tensor targets, int rows, int vocab, float scale) {
        Dual bar = Dual.zeros("cross_entropy.grad", rows, vocab);
        int[] tg = targets.intData();
        int tgo = targets.offset();
        CrossEntropyKernel.backward(y.va(), y.vo(), tg, tgo, rows, vocab, IGNORE, scale, bar.va(), bar.vo());
        int counted = 0;
        for (int r = 0; r < rows; r++) if (tg[tgo + r] != IGNORE) counted++;
        float s = counted == 0 ? 0f : scale / counted;
        float[] yv = y.va(), yt = y.ta(), out = bar.ta();
        int yo = y.vo(), yto = y.to(), oo = bar.to();
        Softmax.forward(yv, yo, out, oo, rows, vocab); // p, scaled in place below
        Parallel.range(rows, 3L * vocab, (from, to) -> {
            for (int r = from; r < to; r++) {
                int pi = oo + r * vocab, ti = yto + r * vocab;
                if (tg[tgo + r] == IGNORE) {
                    java.util.Arrays.fill(out, pi, pi + vocab, 0f);
                    continue;
                }
                float dot = 0f;
                for (int j = 0; j < vocab; j++) dot += out[pi + j] * yt[ti + j];
                for (int j = 0; j < vocab; j++) out[pi + j] = s * out[pi + j] * (yt[ti + j] - dot);
            }
        });
        return bar;
    }
}
