package dev.memwall.train;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.checkpoint.ForwardOverReverse;
import dev.memwall.checkpoint.HvpByRegions;
import dev.memwall.checkpoint.Policy;
import dev.memwall.data.Batch;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.optim.AdaHessian;
import dev.memwall.optim.LrSchedule;
import dev.memwall.precision.Autocast;
import dev.memwall.precision.MixedPrecision;
import dev.memwall.precision.Precision;
import dev.memwall.rng.Rng;
import dev.memwall.rop.GemmFormats;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The fused forward-over-reverse pass under BF16 autocast's rules: its gradient is the autocast step's up to the order
 * of FP32 sums (the FP32 pass's is 2⁻⁹-level away);
 * its H·z is the region-by-region double-VJP's under an autocast region (to BF16 rounding); a BF16 or FP16 AdaHessian
 * step takes it; and AdaHessian trains under BF16 on it.
 */
class AdaHessianAutocastFusedTest {
    private static final GptConfig CONFIG = new GptConfig(16, 8, 32, 2, 2, 0f);
    /** H·z per parameter block, relative to its norm: BF16 operand rounding is 2⁻⁹ ≈ 0.2% per operand (measured 0.5%). */
    private static final double BF16_TOLERANCE = 3e-2;
    /** The gradient against the autocast step's: the same rounded operands, FP32 sums in another order (measured 1e-7). */
    private static final double SUM_ORDER_TOLERANCE = 1e-5;

    private record Pass(float[] grad, float[] hz, FlatParameters flat) {
    }

    private interface Run {
        void run(Gpt model, Tensor ids, Tensor targets, FlatParameters flat, List<Tensor> params, float[] z, HvpByRegions.ProductSink sink);
    }

    private static Pass pass(Run r) {
        Gpt model = new Gpt(CONFIG, new Rng(4));
        FlatParameters flat = model.flatten();
        float[] z = new float[flat.length()];
        new Rng(9).fillNormal(z, 0, z.length, 1f);
        float[] hz = new float[flat.length()];
        Batch b = batch(2, 5);
        try (Scope s = Scope.open()) {
            r.run(model, b.idsTensor(), b.targetsTensor(), flat, model.parameters(), z, (k, part) -> {
                int o = flat.entries().get(k).offset();
                for (int i = 0; i < part.numel(); i++) hz[o + i] += part.data()[part.offset() + i];
            });
        }
        return new Pass(flat.grads().whole().toFloatArray(), hz, flat);
    }

    private static Pass fused(GemmFormats formats, Policy policy) {
        return pass((m, ids, t, flat, params, z, sink) -> ForwardOverReverse.run(m, policy, ids, t, 1f, flat, params, z, true, sink, formats));
    }

    static Batch batch(int rows, long seed) {
        Rng r = new Rng(seed);
        int[] ids = new int[rows * CONFIG.context()], next = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = r.nextInt(CONFIG.vocab());
            next[i] = (ids[i] + 1) % CONFIG.vocab(); // learnable: the next token id
        }
        return new Batch(ids, next, rows, CONFIG.context());
    }

    private static double relative(float[] got, float[] ref, int from, int to) {
        double diff = 0, norm = 0;
        for (int i = from; i < to; i++) {
            diff += (got[i] - (double) ref[i]) * (got[i] - ref[i]);
            norm += (double) ref[i] * ref[i];
        }
        return Math.sqrt(diff / norm);
    }

    private static double largestBlockError(float[] got, float[] ref, FlatParameters flat, double tolerance, String what) {
        double largest = 0;
        for (FlatParameters.Entry e : flat.entries()) {
            double err = relative(got, ref, e.offset(), e.offset() + e.numel());
            assertThat(err).as("%s of %s", what, e.name()).isLessThan(tolerance);
            largest = Math.max(largest, err);
        }
        return largest;
    }

    @Test
    void gradientIsTheAutocastStepsAndHzTheRegionProductUnderAutocast() {
        Pass step = pass((m, ids, t, flat, params, z, sink) -> {
            try (Autocast ac = Autocast.bf16()) {
                m.loss(ids, t).backward();
            }
        });
        Pass bf16 = fused(GemmFormats.autocast(DType.BF16), null), fp32 = fused(GemmFormats.FP32, null);
        double gradBf16 = largestBlockError(bf16.grad(), step.grad(), step.flat(), SUM_ORDER_TOLERANCE, "gradient vs the autocast step");
        double whole = relative(bf16.grad(), step.grad(), 0, step.grad().length);
        double wholeFp32 = relative(fp32.grad(), step.grad(), 0, step.grad().length);
        System.out.printf("gradient vs the BF16 autocast step: fused BF16 %.3g (largest block %.3g), fused FP32 %.3g%n", whole, gradBf16, wholeFp32);
        assertThat(wholeFp32).as("the FP32 pass's gradient is not the autocast step's").isGreaterThan(100 * SUM_ORDER_TOLERANCE);

        Policy every = Policy.everyLayer(CONFIG.layers());
        Pass regions = pass((m, ids, t, flat, params, z, sink) -> {
            try (Autocast ac = Autocast.bf16()) {
                HvpByRegions.run(m, every, ids, t, 1f, flat, params, z, true, sink);
            }
        });
        Pass fusedEvery = fused(GemmFormats.autocast(DType.BF16), every);
        double hz = largestBlockError(fusedEvery.hz(), regions.hz(), regions.flat(), BF16_TOLERANCE, "H·z vs the region product under autocast");
        System.out.printf("H·z vs the region product under BF16 autocast: largest block %.3g%n", hz);
        assertThat(fusedEvery.hz()).as("checkpointing changes nothing").containsExactly(bf16.hz());
    }

    @Test
    void bf16AndFp16StepsTakeTheFusedPassAndFp8KeepsTheOlderRoutes() {
        Gpt model = new Gpt(CONFIG, new Rng(1));
        DataParallel dp = DataParallel.single(model.flatten());
        Policy every = Policy.everyLayer(CONFIG.layers());
        HessianProducts.Route bf16 = HessianProducts.route(HessianPath.FORWARD_OVER_REVERSE, model, every, dp, MixedPrecision.of(Precision.BF16));
        assertThat(bf16.kind()).isEqualTo(HessianProducts.Kind.FORWARD_OVER_REVERSE);
        assertThat(bf16.formats()).isEqualTo(GemmFormats.autocast(DType.BF16));
        HessianProducts.Route fp16 = HessianProducts.route(HessianPath.FORWARD_OVER_REVERSE, model, null, dp, MixedPrecision.of(Precision.FP16));
        assertThat(fp16.kind()).isEqualTo(HessianProducts.Kind.FORWARD_OVER_REVERSE);
        assertThat(fp16.formats()).isEqualTo(GemmFormats.autocast(DType.FP16));
        assertThat(HessianProducts.route(HessianPath.FORWARD_OVER_REVERSE, model, every, dp, MixedPrecision.of(Precision.MXFP8)).kind())
                .isEqualTo(HessianProducts.Kind.REGIONS);
        HessianProducts.Route tangents = HessianProducts.route(HessianPath.FORWARD_OVER_REVERSE, model, null, dp, null, HessianDtype.BF16);
        assertThat(tangents.formats()).isEqualTo(GemmFormats.tangents(DType.BF16));
        assertThatThrownBy(() -> HessianProducts.route(HessianPath.FORWARD_OVER_REVERSE, model, null, dp, MixedPrecision.of(Precision.FP16),
                HessianDtype.BF16)).hasMessageContaining("--hessian-dtype bf16 applies to an FP32 run");
        assertThatThrownBy(() -> HessianDtype.parse("fp16")).hasMessageContaining("--hessian-dtype must be fp32 or bf16");
    }

    @Test
    void adaHessianTrainsUnderBf16OnTheFusedPass() {
        Gpt model = new Gpt(CONFIG, new Rng(3));
        FlatParameters flat = model.flatten();
        AdaHessian.Config cfg = AdaHessian.Config.defaults().withLr(0.05);
        Trainer t = new Trainer(model, flat, new AdaHessian(flat, cfg), LrSchedule.constant(cfg.lr()), 0)
                .hessianPath(HessianPath.FORWARD_OVER_REVERSE).mixedPrecision(MixedPrecision.of(Precision.BF16));
        Batch b = batch(4, 6);
        double first = t.step(b).loss(), last = first;
        for (int i = 0; i < 14; i++) last = t.step(b).loss();
        System.out.printf("AdaHessian under BF16 on the fused pass: loss %.4f -> %.4f%n", first, last);
        assertThat(last).isLessThan(0.7 * first);
    }
}
