package dev.memwall.optim;

import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Module;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.data.Offset.offset;

class OptimizersTest {
    /** A module with one parameter vector, flattened, with gradients set by hand. */
    static final class Vec extends Module {
        Vec(float... init) {
            param("w", Tensor.of(init, init.length));
        }
    }

    private static FlatParameters flat(float... init) {
        return new Vec(init).flatten();
    }

    private static void setGrad(FlatParameters p, float... g) {
        System.arraycopy(g, 0, p.grads().whole().data(), 0, g.length);
    }

    @Test
    void adamwMatchesTwoHandComputedSteps() {
        // Reference values computed by hand (PyTorch's AdamW update, in double): lr 0.1, betas (0.9, 0.999),
        // eps 1e-8, weight decay 0.01; parameter 1.0 with gradients 0.5 then -0.25, parameter -2.0 with 3 then -1.
        FlatParameters p = flat(1f, -2f);
        AdamW opt = new AdamW(p, new AdamW.Config(0.1, 0.9, 0.999, 1e-8, 0.01));
        setGrad(p, 0.5f, 3f);
        opt.step();
        float[] v = p.values().whole().toFloatArray();
        assertThat(v[0]).isEqualTo(0.899000002f, offset(1e-6f));
        assertThat(v[1]).isEqualTo(-2.0979999996666665f, offset(1e-6f));
        setGrad(p, -0.25f, -1f);
        opt.step();
        v = p.values().whole().toFloatArray();
        assertThat(v[0]).isEqualTo(0.8714672987058463f, offset(1e-6f));
        assertThat(v[1]).isEqualTo(-2.1359238566834233f, offset(1e-6f));
        assertThat(opt.stateTensors().get("exp_avg").toFloatArray()[0]).isEqualTo(0.02f, offset(1e-7f));
        assertThat(opt.stateTensors().get("exp_avg_sq").toFloatArray()[0]).isEqualTo(0.00031225f, offset(1e-9f));
    }

    @Test
    void optimizerStateIsAccountedForItsRangeOnly() {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            FlatParameters p = flat(new float[100]);
            AdamW opt = new AdamW(p, 20, 60, AdamW.Config.defaults(1e-3));
            assertThat(tracker.current(Category.OPTIMIZER_STATE)).isEqualTo(2L * 40 * 4);
            setGrad(p, new float[100]);
            p.grads().whole().data()[10] = 1f; // outside the range: untouched
            opt.step();
            assertThat(p.values().whole().toFloatArray()[10]).isZero();
            opt.release();
            assertThat(tracker.current(Category.OPTIMIZER_STATE)).isZero();
        }
    }

    @Test
    void sgdPlainMomentumAndNesterov() {
        FlatParameters p = flat(1f);
        Sgd plain = new Sgd(p, new Sgd.Config(0.5, 0, 0, 0.1, false));
        setGrad(p, 2f);
        plain.step(); // d = 2 + 0.1 * 1 = 2.1; p = 1 - 1.05
        assertThat(p.values().whole().toFloatArray()[0]).isEqualTo(-0.05f, offset(1e-6f));

        FlatParameters q = flat(0f);
        Sgd momentum = new Sgd(q, new Sgd.Config(1, 0.9, 0, 0, false));
        setGrad(q, 1f);
        momentum.step(); // buf = 1, p = -1
        momentum.step(); // buf = 0.9 + 1 = 1.9, p = -2.9
        assertThat(q.values().whole().toFloatArray()[0]).isEqualTo(-2.9f, offset(1e-6f));

        FlatParameters r = flat(0f);
        Sgd nesterov = new Sgd(r, new Sgd.Config(1, 0.9, 0, 0, true));
        setGrad(r, 1f);
        nesterov.step(); // buf = 1, d = 1 + 0.9 = 1.9
        nesterov.step(); // buf = 1.9, d = 1 + 1.71 = 2.71
        assertThat(r.values().whole().toFloatArray()[0]).isEqualTo(-4.61f, offset(1e-5f));
        assertThatThrownBy(() -> new Sgd.Config(1, 0, 0, 0, true)).hasMessageContaining("Nesterov");
    }

    @Test
    void clippingScalesToTheGlobalNorm() {
        FlatParameters p = flat(0f, 0f);
        setGrad(p, 3f, 4f);
        assertThat(GradClip.clipGradNorm(p, 1.0)).isEqualTo(5.0, offset(1e-9));
        assertThat(GradClip.norm(p, 0, 2)).isEqualTo(1.0, offset(1e-5));
        setGrad(p, 0.3f, 0.4f);
        GradClip.clipGradNorm(p, 1.0); // below the limit: untouched
        assertThat(p.grads().whole().toFloatArray()).containsExactly(0.3f, 0.4f);
    }

    @Test
    void warmupThenCosine() {
        LrSchedule s = LrSchedule.warmupCosine(1.0, 10, 110, 0.1);
        assertThat(s.lr(0)).isEqualTo(0.1, offset(1e-12));
        assertThat(s.lr(9)).isEqualTo(1.0, offset(1e-12));
        assertThat(s.lr(10)).isEqualTo(1.0, offset(1e-12));
        assertThat(s.lr(60)).isEqualTo(0.55, offset(1e-12));
        assertThat(s.lr(110)).isEqualTo(0.1, offset(1e-12));
        assertThat(LrSchedule.constant(0.3).lr(1000)).isEqualTo(0.3);
    }
}
