package dev.memwall.precision;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The scaler step by step against PyTorch's rules ({@code _amp_update_scale_}) and DeepSpeed's hysteresis. */
class GradScalerTest {
    /** One step: gradients (scaled by the scaler's current scale), or a NaN among them when {@code overflow}. */
    private static boolean step(GradScaler s, boolean overflow, int[] ran) {
        float[] g = {s.scale() * 0.25f, -s.scale() * 2f, overflow ? Float.NaN : 1f};
        boolean stepped = s.step(GradientRanges.of(g, 0, g.length), null, () -> ran[0]++);
        s.update();
        return stepped;
    }

    @Test
    void pyTorchDefaults() {
        GradScaler s = GradScaler.dynamic();
        assertThat(s.scale()).isEqualTo(65536f);
        int[] ran = {0};
        for (int i = 0; i < 1999; i++) step(s, false, ran);
        assertThat(s.scale()).as("not before the 2,000th clean step").isEqualTo(65536f);
        assertThat(s.growthTracker()).isEqualTo(1999);
        step(s, false, ran);
        assertThat(s.scale()).isEqualTo(131072f);
        assertThat(s.growthTracker()).isZero();
        step(s, true, ran);
        assertThat(s.scale()).isEqualTo(65536f);
        assertThat(ran[0]).isEqualTo(2000);
    }

    /**
     * Growth interval 3, scale 8: the tracker counts clean steps, an overflow halves the scale, skips the step and
     * resets the tracker, so growth needs 3 clean steps after the skip, not the 1 that would complete the old count.
     */
    @Test
    void growthCounterStartsAgainAfterASkip() {
        GradScaler s = GradScaler.dynamic(8f, 2.0, 0.5, 3);
        int[] ran = {0};
        boolean[] overflow = {false, false, true, false, false, false, false};
        float[] scaleAfter = {8, 8, 4, 4, 4, 8, 8};
        int[] trackerAfter = {1, 2, 0, 1, 2, 0, 1};
        boolean[] stepped = {true, true, false, true, true, true, true};
        for (int i = 0; i < overflow.length; i++) {
            assertThat(step(s, overflow[i], ran)).as("step " + i + " taken").isEqualTo(stepped[i]);
            assertThat(s.scale()).as("scale after step " + i).isEqualTo(scaleAfter[i]);
            assertThat(s.growthTracker()).as("tracker after step " + i).isEqualTo(trackerAfter[i]);
            assertThat(s.stage()).isEqualTo(GradScaler.Stage.READY);
        }
        assertThat(ran[0]).isEqualTo(6);
        assertThat(s.skippedSteps()).isEqualTo(1);
    }

    @Test
    void injectedOverflowSkipsExactlyThatStepAndHalvesTheScale() {
        GradScaler s = GradScaler.dynamic();
        List<Integer> taken = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            float before = s.scale();
            int[] ran = {0};
            step(s, i == 6, ran);
            if (ran[0] == 1) taken.add(i);
            assertThat(s.scale()).isEqualTo(i == 6 ? before / 2 : before);
        }
        assertThat(taken).containsExactly(0, 1, 2, 3, 4, 5, 7, 8, 9);
        assertThat(s.skippedSteps()).isEqualTo(1);
    }

    @Test
    void unscaleMultipliesByTheReciprocalComputedInDouble() {
        GradScaler s = GradScaler.constant(3f);
        float[] g = {1f, 3f, -7f, 0.1f, 5f};
        s.unscale(new GradientRanges(g, new int[]{0, 3}, new int[]{2, 1}), null);
        float inv = (float) (1.0 / 3.0);
        assertThat(g).containsExactly(1f * inv, 3f * inv, -7f, 0.1f * inv, 5f); // only the ranges [0, 2) and [3, 4)
        assertThat(s.foundInf()).isFalse();
    }

    @Test
    void infinityCountsAsOverflowLikeNaN() {
        GradScaler s = GradScaler.dynamic();
        float[] g = {Float.POSITIVE_INFINITY};
        assertThat(s.step(GradientRanges.of(g, 0, 1), null, () -> { })).isFalse();
        s.update();
        assertThat(s.scale()).isEqualTo(32768f);
    }

    @Test
    void stagesOutOfOrderAreErrors() {
        GradScaler s = GradScaler.dynamic();
        GradientRanges g = GradientRanges.of(new float[]{1f}, 0, 1);
        assertThatThrownBy(s::update).hasMessageContaining("no inf checks");
        s.unscale(g, null);
        assertThat(s.stage()).isEqualTo(GradScaler.Stage.UNSCALED);
        assertThatThrownBy(() -> s.unscale(g, null)).hasMessageContaining("already been called");
        assertThat(s.step(g, null, () -> { })).isTrue();
        assertThat(s.stage()).isEqualTo(GradScaler.Stage.STEPPED);
        assertThatThrownBy(() -> s.step(g, null, () -> { })).hasMessageContaining("step() has already been called");
        assertThatThrownBy(() -> s.unscale(g, null)).hasMessageContaining("after step()");
        s.update();
        assertThat(s.stage()).isEqualTo(GradScaler.Stage.READY);
    }

    /** Another rank's overflow skips this rank's step too: the flag this rank acts on is the agreed one. */
    @Test
    void theAgreedFlagDecides() {
        GradScaler s = GradScaler.dynamic();
        float[] clean = {1f, 2f};
        double[] seen = {-1};
        boolean stepped = s.step(GradientRanges.of(clean, 0, 2), local -> {
            seen[0] = local;
            return 1; // a peer found inf
        }, () -> { });
        assertThat(seen[0]).isZero();
        assertThat(stepped).isFalse();
        s.update();
        assertThat(s.scale()).isEqualTo(32768f);
    }

    @Test
    void deepSpeedHysteresisBacksOffOnTheSecondOverflowAndStopsAtTheMinimum() {
        GradScaler s = GradScaler.dynamicWithHysteresis(2, 1f);
        int[] ran = {0};
        step(s, true, ran);
        assertThat(s.scale()).as("first overflow tolerated").isEqualTo(65536f);
        assertThat(s.skippedSteps()).as("but its step is skipped").isEqualTo(1);
        step(s, true, ran);
        assertThat(s.scale()).isEqualTo(32768f);
        for (int i = 0; i < 15; i++) step(s, true, ran); // hysteresis stays spent until the scale grows
        assertThat(s.scale()).isEqualTo(1f);
        assertThatThrownBy(() -> step(s, true, ran)).hasMessageContaining("minimum");
        assertThat(ran[0]).isZero();
    }

    @Test
    void constantKeepsItsScaleAndDisabledDoesNothing() {
        GradScaler c = GradScaler.constant(1024f);
        int[] ran = {0};
        assertThat(step(c, true, ran)).isFalse();
        assertThat(c.scale()).isEqualTo(1024f);
        GradScaler off = GradScaler.disabled();
        float[] g = {Float.NaN};
        assertThat(off.step(GradientRanges.of(g, 0, 1), null, () -> ran[0]++)).isTrue();
        off.update();
        assertThat(off.scale()).isEqualTo(1f);
        assertThat(ran[0]).isEqualTo(1);
    }

    /** A scaler restored from another's state between steps continues exactly as the original does. */
    @Test
    void resumeRestoresTheStateBitIdentically() {
        GradScaler a = GradScaler.dynamic(8f, 2.0, 0.5, 3), b = GradScaler.dynamic(8f, 2.0, 0.5, 3);
        int[] ran = {0};
        boolean[] pattern = {false, true, false, false, true, false, false, false, false, true, false};
        for (int i = 0; i < 5; i++) step(a, pattern[i], ran);
        GradScaler.State saved = a.state();
        b.restore(saved);
        assertThat(b.state()).isEqualTo(saved);
        for (int i = 5; i < pattern.length; i++) {
            step(a, pattern[i], ran);
            step(b, pattern[i], ran);
            assertThat(Float.floatToRawIntBits(b.scale())).isEqualTo(Float.floatToRawIntBits(a.scale()));
            assertThat(b.state()).isEqualTo(a.state());
        }
        assertThatThrownBy(() -> b.restore(new GradScaler.State(8f, 3, 1, 0))).hasMessageContaining("growth tracker");
    }

    @Test
    void lossScaleSettingAndDefaults() {
        assertThat(LossScale.defaultFor(Precision.FP16).spec()).isEqualTo("dynamic");
        assertThat(LossScale.defaultFor(Precision.BF16).spec()).isEqualTo("none");
        assertThat(new LossScale("static:128").newScaler().scale()).isEqualTo(128f);
        assertThat(new LossScale("none").newScaler().isEnabled()).isFalse();
        assertThatThrownBy(() -> new LossScale("static:-1")).hasMessageContaining("S > 0");
        assertThatThrownBy(() -> new LossScale("sometimes")).hasMessageContaining("dynamic, static:S or none");
        assertThat(LossScale.defaultFor(Precision.FP8).spec()).as("FP8 recipes scale per tensor, not the loss").isEqualTo("none");
        assertThatThrownBy(() -> Precision.parse("fp64")).hasMessageContaining("unknown precision 'fp64'")
                .hasMessageContaining("fp32, bf16, fp16, fp8, fp8-current, fp8-blockwise or mxfp8");
    }

    /** One parser for every --precision value: each label parses back to itself, FP8 recipes get state, autocast none. */
    @Test
    void everyPrecisionRoundTripsAndOnlyTheFp8RecipesHaveFp8State() {
        for (Precision p : Precision.values()) {
            assertThat(Precision.parse(p.label().toUpperCase())).isEqualTo(p);
            assertThat(p.newFp8State() != null).as("%s", p).isEqualTo(p.label().contains("fp8"));
        }
        assertThat(Precision.parse("fp8-delayed")).isEqualTo(Precision.FP8);
        assertThat(Precision.FP8_BLOCKWISE.label()).isEqualTo("fp8-blockwise");
        assertThat(Precision.MXFP8.newFp8State().recipe().name()).isNotBlank();
        assertThat(Precision.FP8.autocast()).as("FP8 hooks Linear layers, not the autocast table").isNull();
    }
}
