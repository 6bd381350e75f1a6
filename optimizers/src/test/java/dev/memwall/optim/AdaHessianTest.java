package dev.memwall.optim;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Module;
import dev.memwall.ops.F;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.data.Offset.offset;

/**
 * AdaHessian against a hand-written double-precision reference of its update, on a loss whose Hessian is known in
 * closed form: L(x) = ½‖Mx‖² + Σ c_i x_i³ / 3 over x = (w [2, 3] flattened, b [3]), so g = MᵀMx + c ⊙ x² and
 * H = MᵀM + diag(2c ⊙ x).
 */
class AdaHessianTest {
    private static final double[][] M = {{1, 0.5, -0.3, 0.2, 0, 0.7, -0.1, 0.4, 0.3}, {0.2, -1, 0.4, 0, 0.6, -0.2, 0.5, 0.1, -0.4},
            {-0.5, 0.3, 0.8, -0.6, 0.2, 0.1, 0, -0.3, 0.9}};
    private static final double[] C = {0.3, -0.2, 0.5, 0.1, 0.4, -0.3, 0.2, 0.6, -0.1};
    private static final float[] X0 = {0.5f, -0.8f, 1.2f, 0.3f, -0.4f, 0.9f, -1.1f, 0.7f, 0.2f};

    static final class Cubic extends Module {
        Cubic(float[] x) {
            param("w", Tensor.of(java.util.Arrays.copyOf(x, 6), 2, 3));
            param("b", Tensor.of(java.util.Arrays.copyOfRange(x, 6, 9), 3));
        }

        Tensor loss() {
            Tensor x = F.concat(0, F.reshape(p("w"), 6), p("b"));
            Tensor m = Tensor.of(flat(M), M.length, 9);
            Tensor mx = F.matmul(m, F.reshape(x, 9, 1), false, false);
            Tensor quad = F.mulScalar(F.sumAll(F.mul(mx, mx)), 0.5f);
            float[] c = new float[9];
            for (int i = 0; i < 9; i++) c[i] = (float) C[i];
            Tensor cubic = F.mulScalar(F.sumAll(F.mul(Tensor.of(c, 9), F.mul(x, F.mul(x, x)))), 1f / 3);
            return F.add(quad, cubic);
        }
    }

    private static float[] flat(double[][] a) {
        float[] out = new float[a.length * a[0].length];
        for (int r = 0; r < a.length; r++) for (int j = 0; j < a[0].length; j++) out[r * a[0].length + j] = (float) a[r][j];
        return out;
    }

    /** One AdaHessian step of the model: createGraph backward, products with the given z, update, zero the gradient. */
    private static void step(Cubic model, FlatParameters p, AdaHessian opt, float[] z) {
        try (Scope s = Scope.open()) {
            model.loss().backward(Tensor.scalar(1f), false, true);
            if (opt.needsHessian()) opt.accumulate(model.parameters(), z, 1, false);
        }
        opt.step();
        opt.zeroGrad();
    }

    @Test
    void threeStepsWithAGivenZMatchADoublePrecisionReference() {
        AdaHessian.Config cfg = new AdaHessian.Config(0.1, 0.8, 0.95, 1e-3, 0.05, 0.7, 2, 1, 1, 0);
        float[][] zs = {{1, -1, -1, 1, 1, -1, 1, 1, -1}, {-1, -1, 1, 1, -1, 1, 1, -1, 1}, {1, 1, -1, -1, 1, 1, -1, 1, 1}};
        Cubic model = new Cubic(X0);
        FlatParameters p = model.flatten();
        AdaHessian opt = new AdaHessian(p, cfg);
        double[] x = new double[9], m = new double[9], v = new double[9];
        for (int i = 0; i < 9; i++) x[i] = X0[i];
        for (int t = 1; t <= 3; t++) {
            step(model, p, opt, zs[t - 1]);
            // the reference: g and Hz in closed form, D with blocks of 2 along w's rows of 3, none for b
            double[] g = new double[9], hz = new double[9], zh = new double[9], d = new double[9];
            double[] mx = new double[M.length];
            for (int r = 0; r < M.length; r++) for (int j = 0; j < 9; j++) mx[r] += M[r][j] * x[j];
            for (int i = 0; i < 9; i++) {
                g[i] = C[i] * x[i] * x[i];
                for (int r = 0; r < M.length; r++) g[i] += M[r][i] * mx[r];
                for (int j = 0; j < 9; j++) {
                    double h = 2 * C[i] * x[i] * (i == j ? 1 : 0);
                    for (int r = 0; r < M.length; r++) h += M[r][i] * M[r][j];
                    hz[i] += h * zs[t - 1][j];
                }
                zh[i] = Math.abs(zs[t - 1][i] * hz[i]);
            }
            for (int row = 0; row < 2; row++) {
                double a = (zh[3 * row] + zh[3 * row + 1]) / 2;
                d[3 * row] = a;
                d[3 * row + 1] = a;
                d[3 * row + 2] = zh[3 * row + 2];
            }
            for (int i = 6; i < 9; i++) d[i] = zh[i];
            for (int i = 0; i < 9; i++) {
                m[i] = 0.8 * m[i] + 0.2 * g[i];
                v[i] = 0.95 * v[i] + 0.05 * d[i] * d[i];
                double denom = Math.pow(Math.sqrt(v[i]), 0.7) / Math.pow(Math.sqrt(1 - Math.pow(0.95, t)), 0.7) + 1e-3;
                x[i] = x[i] - 0.1 * (m[i] / (1 - Math.pow(0.8, t)) / denom + 0.05 * x[i]);
            }
            float[] got = p.values().whole().toFloatArray();
            for (int i = 0; i < 9; i++) assertThat((double) got[i]).as("step %d, x[%d]", t, i).isCloseTo(x[i], offset(1e-6));
        }
    }

    @Test
    void oneStepLandsOnTheMinimumOfASeparableQuadratic() {
        // L = Σ ½ a_i (x_i − c_i)²: m = g, v = D² = a², so with β = (0, 0), lr 1, ε 0, k 1 the step is g / a
        float[] a = {2f, 0.5f, 3f, 1.5f}, c = {1f, -2f, 0.25f, 4f};
        OptimizersTest.Vec vec = new OptimizersTest.Vec(0f, 0f, 0f, 0f);
        FlatParameters p = vec.flatten();
        AdaHessian opt = new AdaHessian(p, new AdaHessian.Config(1, 0, 0, 0, 0, 1, 1, 1, 1, 7));
        try (Scope s = Scope.open()) {
            Tensor diff = F.sub(vec.parameters().get(0), Tensor.of(c, 4));
            F.mulScalar(F.sumAll(F.mul(Tensor.of(a, 4), F.mul(diff, diff))), 0.5f).backward(Tensor.scalar(1f), false, true);
            opt.accumulateHessian(vec.parameters());
        }
        opt.step();
        assertThat(p.values().whole().toFloatArray()).containsExactly(c);
    }

    @Test
    void updateEachReusesTheStaleEstimateExactly() {
        AdaHessian.Config cfg = AdaHessian.Config.defaults().withHessian(1, 1, 1, 3).withLr(0.05);
        Cubic model = new Cubic(X0);
        FlatParameters p = model.flatten();
        AdaHessian opt = new AdaHessian(p, cfg);
        float[] z = {1, -1, -1, 1, 1, -1, 1, 1, -1};
        boolean[] due = new boolean[5];
        float[][] d = new float[5][];
        for (int t = 0; t < 5; t++) {
            due[t] = opt.needsHessian();
            step(model, p, opt, z);
            d[t] = opt.stateTensors().get("hessian").toFloatArray();
        }
        assertThat(due).containsExactly(true, false, false, true, false);
        assertThat(d[1]).containsExactly(d[0]);
        assertThat(d[2]).containsExactly(d[0]);
        assertThat(d[3]).isNotEqualTo(d[0]); // recomputed at the moved parameters
        assertThat(d[4]).containsExactly(d[3]);
        assertThatThrownBy(() -> opt.accumulate(model.parameters(), z, 1, false)).hasMessageContaining("no Hessian-vector products are due");
    }

    @Test
    void aStepThatIsDueRefusesToRunWithoutProducts() {
        Cubic model = new Cubic(X0);
        AdaHessian opt = new AdaHessian(model.flatten(), AdaHessian.Config.defaults());
        try (Scope s = Scope.open()) {
            model.loss().backward();
        }
        assertThatThrownBy(opt::step).hasMessageContaining("no Hessian-vector products were accumulated");
    }

    @Test
    void resumingFromTheStateTensorsContinuesBitIdentically() {
        AdaHessian.Config cfg = AdaHessian.Config.defaults().withHessian(1, 2, 2, 2).withLr(0.05).withSeed(3);
        float[] straight = run(cfg, 6, null);
        float[] resumed = run(cfg, 6, 3);
        assertThat(resumed).containsExactly(straight);
    }

    /** {@code steps} steps with z from the optimizer's own draws; with {@code stopAt}, continued in a fresh optimizer. */
    private static float[] run(AdaHessian.Config cfg, int steps, Integer stopAt) {
        Cubic model = new Cubic(X0);
        FlatParameters p = model.flatten();
        AdaHessian opt = new AdaHessian(p, cfg);
        for (int t = 0; t < steps; t++) {
            if (stopAt != null && t == stopAt) {
                AdaHessian fresh = new AdaHessian(p, cfg);
                opt.stateTensors().forEach((name, s) -> System.arraycopy(s.data(), s.offset(), fresh.stateTensors().get(name).data(), 0, s.numel()));
                fresh.stepCount(opt.stepCount());
                opt.release();
                opt = fresh;
            }
            try (Scope s = Scope.open()) {
                model.loss().backward(Tensor.scalar(1f), false, true);
                if (opt.needsHessian()) opt.accumulateHessian(model.parameters());
            }
            opt.step();
            opt.zeroGrad();
        }
        return p.values().whole().toFloatArray();
    }

    @Test
    void rademacherDrawsArePlusMinusOneBalancedAndDistinctPerDraw() {
        float[] a = Hutchinson.rademacher(5, 0, 10_000, 10_002), b = Hutchinson.rademacher(5, 1, 10_000, 10_002);
        int plus = 0, same = 0;
        for (int i = 0; i < 10_000; i++) {
            assertThat(Math.abs(a[i])).isEqualTo(1f);
            if (a[i] > 0) plus++;
            if (a[i] == b[i]) same++;
        }
        assertThat(a[10_000]).isZero(); // padding
        assertThat(plus).isBetween(4_800, 5_200);
        assertThat(same).isBetween(4_800, 5_200);
        assertThat(Hutchinson.rademacher(5, 1, 10_000, 10_002)).containsExactly(b);
    }

    @Test
    void stateIsThreeVectorsOverTheRangeAndTheProductSumsLiveOnlyForTheStep() {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            Cubic model = new Cubic(X0);
            FlatParameters p = model.flatten();
            AdaHessian opt = new AdaHessian(p, 2, 7, AdaHessian.Config.defaults());
            assertThat(tracker.current(Category.OPTIMIZER_STATE)).isEqualTo(3L * 5 * 4);
            long gradients = tracker.current(Category.GRADIENT);
            try (Scope s = Scope.open()) {
                model.loss().backward(Tensor.scalar(1f), false, true);
                opt.accumulateHessian(model.parameters());
            }
            assertThat(tracker.current(Category.GRADIENT)).isEqualTo(gradients + 9 * 4);
            float[] before = p.values().whole().toFloatArray();
            opt.step();
            assertThat(tracker.current(Category.GRADIENT)).isEqualTo(gradients);
            float[] after = p.values().whole().toFloatArray();
            for (int i = 0; i < 9; i++) {
                if (i < 2 || i >= 7) assertThat(after[i]).isEqualTo(before[i]);
                else assertThat(after[i]).isNotEqualTo(before[i]);
            }
            opt.release();
            assertThat(tracker.current(Category.OPTIMIZER_STATE)).isZero();
        }
    }

    @Test
    void aParameterListThatIsNotTheFlatLayoutIsRefused() {
        Cubic model = new Cubic(X0);
        AdaHessian opt = new AdaHessian(model.flatten(), AdaHessian.Config.defaults());
        try (Scope s = Scope.open()) {
            model.loss().backward(Tensor.scalar(1f), false, true);
            List<Tensor> swapped = List.of(model.parameters().get(1), model.parameters().get(0));
            assertThatThrownBy(() -> opt.accumulateHessian(swapped)).hasMessageContaining("is not w of the flat buffer");
        }
    }
}
