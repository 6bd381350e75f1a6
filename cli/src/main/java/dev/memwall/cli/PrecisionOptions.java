package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.memwall.autograd.Guard;
import dev.memwall.precision.Autocast;
import dev.memwall.precision.GradScaler;
import dev.memwall.precision.LossScale;
import dev.memwall.precision.MixedPrecision;
import dev.memwall.precision.Precision;
import picocli.CommandLine;
import picocli.CommandLine.Option;

import java.util.Map;

/**
 * {@code --precision} and {@code --loss-scale} of {@code train} and {@code bench} (a picocli mixin; the one parser for
 * both the BF16/FP16 autocast and the FP8 recipes, see {@link Precision}), what a saved run
 * records of them (the setting and the scaler's state, so a resumed run continues with the same scale and counters),
 * and the JSON fields {@code precision}, {@code loss_scale} (final) and {@code skipped_steps}.
 */
final class PrecisionOptions {
    @Option(names = "--precision", paramLabel = "P", description = "fp32; bf16 / fp16 autocast: GEMM operands in the low "
            + "format with FP32 accumulation; or an FP8 recipe for every Linear layer's GEMMs (E4M3 forward, E5M2 gradients, "
            + "FP32 accumulation): fp8 (delayed scaling), fp8-current, fp8-blockwise or mxfp8. Master weights, optimizer "
            + "state and gradients stay FP32 (default: fp32)")
    String precision;
    @Option(names = "--loss-scale", paramLabel = "S", description = "dynamic (PyTorch's GradScaler: 2^16, x2 every 2,000 clean "
            + "steps, x0.5 and skip on inf/NaN), static:S, or none (default: dynamic for fp16, none otherwise)")
    String lossScale;
    @Option(names = "--grad-dtype", paramLabel = "F", description = "the parameters' gradients between backward and the "
            + "update: fp32, or bf16 / fp16 (2 bytes each, accumulated over micro-batches in that format, decoded into FP32 "
            + "for unscaling, clipping and the update; at ZeRO stages 2-3 each rank's gradient shard; not with adahessian) (default: fp32)")
    String gradDtype;

    private Precision parsed;
    private LossScale scale;

    /** Validates both options; an error names the option. */
    MixedPrecision build(CommandLine cl) {
        try {
            parsed = Precision.parse(precision == null ? "fp32" : precision);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cl, e.getMessage());
        }
        try {
            scale = lossScale == null ? LossScale.defaultFor(parsed) : new LossScale(lossScale);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cl, e.getMessage());
        }
        dev.memwall.precision.GradDtype grads;
        try {
            grads = dev.memwall.precision.GradDtype.parse(gradDtype == null ? "fp32" : gradDtype);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cl, e.getMessage());
        }
        return new MixedPrecision(parsed, scale.newScaler(), grads);
    }

    /**
     * A resumed run takes the saved precision and loss scaling unless given, refuses different ones, and restores the
     * scaler's state. A checkpoint without them was trained in FP32 without scaling.
     */
    void reconcile(CommandLine cl, JsonNode extra) {
        String savedPrecision = extra.path("precision").asText("fp32"), savedScale = extra.path("loss_scale").asText(null);
        if (precision != null && !Precision.parse(precision).label().equals(savedPrecision)) {
            throw new CommandLine.ParameterException(cl, "--precision " + precision + " disagrees with the run being resumed, "
                    + "saved with --precision " + savedPrecision);
        }
        if (lossScale != null && savedScale != null && !lossScale.trim().equalsIgnoreCase(savedScale)) {
            throw new CommandLine.ParameterException(cl, "--loss-scale " + lossScale + " disagrees with the run being resumed, "
                    + "saved with --loss-scale " + savedScale);
        }
        precision = savedPrecision;
        if (savedScale != null) lossScale = savedScale;
    }

    /** Restores the saved scaler state into {@code mp}'s scaler (nothing for a run saved without one). */
    static void restore(JsonNode extra, MixedPrecision mp) {
        JsonNode s = extra.path("grad_scaler");
        if (s.isMissingNode() || s.isNull()) return;
        mp.scaler().restore(new GradScaler.State(Float.intBitsToFloat(s.path("scale_bits").asInt()), s.path("growth_tracker").asInt(),
                s.path("hysteresis_left").asInt(1), s.path("skipped_steps").asLong()));
    }

    /** Records the setting and the scaler's state (the scale as its bits, so it comes back bit-identical). */
    void record(ObjectNode extra, MixedPrecision mp) {
        extra.put("precision", parsed.label());
        extra.put("loss_scale", scale.spec());
        GradScaler.State s = mp.scaler().state();
        ObjectNode o = extra.putObject("grad_scaler");
        o.put("scale", s.scale());
        o.put("scale_bits", Float.floatToRawIntBits(s.scale()));
        o.put("growth_tracker", s.growthTracker());
        o.put("hysteresis_left", s.hysteresisLeft());
        o.put("skipped_steps", s.skippedSteps());
    }

    /** A region in the training precision (autocast or FP8 Linear layers) for evaluation; nothing for FP32. */
    static Guard region(MixedPrecision mp) {
        Autocast autocast = mp.begin();
        Guard fp8 = mp.fp8Region();
        return () -> {
            fp8.close();
            if (autocast != null) autocast.close();
        };
    }

    static void putJson(Map<String, Object> out, MixedPrecision mp) {
        out.put("precision", mp.precision().label());
        out.put("loss_scale", (double) mp.scaler().scale());
        out.put("skipped_steps", mp.scaler().skippedSteps());
        out.put("grad_dtype", mp.gradDtype().label());
    }
}
