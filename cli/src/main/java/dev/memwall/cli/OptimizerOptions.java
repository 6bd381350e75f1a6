package dev.memwall.cli;

import dev.memwall.nn.FlatParameters;
import dev.memwall.optim.AdaHessian;
import dev.memwall.optim.AdamW;
import dev.memwall.optim.Optimizer;
import dev.memwall.optim.Sgd;
import dev.memwall.optim.Shard;
import dev.memwall.optim.StateFormat;
import dev.memwall.train.HessianDtype;
import picocli.CommandLine;
import picocli.CommandLine.Option;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * {@code --optimizer adamw|sgd|adahessian} and AdaHessian's options, shared by train and bench. AdamW keeps the
 * commands' existing settings (β 0.9/0.95, ε 1e-8, weight decay 0.01); SGD has momentum 0.9; AdaHessian the
 * reference's β (0.9, 0.999), ε 1e-4 and no weight decay, its z drawn from the run's seed.
 */
final class OptimizerOptions {
    /** Names on the command line. */
    static final String ADAMW = "adamw", SGD = "sgd", ADAHESSIAN = "adahessian";

    @Option(names = "--optimizer", paramLabel = "NAME", description = "adamw, sgd or adahessian (default: ${DEFAULT-VALUE})")
    String optimizer = ADAMW;
    @Option(names = "--hessian-power", description = "AdaHessian: power k of the Hessian diagonal in the denominator, in (0, 1] "
            + "(default: ${DEFAULT-VALUE})")
    double hessianPower = 1;
    @Option(names = "--block-length", description = "AdaHessian: average |z ⊙ Hz| over blocks of this many elements along a "
            + "matrix's last dimension (default: ${DEFAULT-VALUE}, none)")
    int blockLength = 1;
    @Option(names = "--update-each", description = "AdaHessian: recompute the Hessian estimate every N steps, reusing it in "
            + "between (default: ${DEFAULT-VALUE})")
    int updateEach = 1;
    @Option(names = "--n-samples", description = "AdaHessian: Rademacher vectors averaged per estimate (default: ${DEFAULT-VALUE})")
    int nSamples = 1;
    @Option(names = "--hessian-dtype", paramLabel = "FORMAT", description = "AdaHessian in an FP32 run: fp32 or bf16 operands for "
            + "the fused pass's tangent GEMMs (H·z; FP32 sums, the gradient stays FP32) (default: ${DEFAULT-VALUE})")
    String hessianDtype = "fp32";

    /** The optimizer's name, lower case; an unknown one is an argument error. */
    String name(CommandLine cl) {
        String n = optimizer.toLowerCase(Locale.ROOT);
        if (!n.equals(ADAMW) && !n.equals(SGD) && !n.equals(ADAHESSIAN)) {
            throw new CommandLine.ParameterException(cl, "--optimizer " + optimizer + ": expected adamw, sgd or adahessian");
        }
        return n;
    }

    void validate(CommandLine cl) {
        String n = name(cl);
        if (!(hessianPower > 0 && hessianPower <= 1)) throw new CommandLine.ParameterException(cl, "--hessian-power must be in (0, 1]");
        if (blockLength < 1 || updateEach < 1 || nSamples < 1) {
            throw new CommandLine.ParameterException(cl, "--block-length, --update-each and --n-samples must be >= 1");
        }
        hessianDtype(cl);
        if (!n.equals(ADAHESSIAN)) {
            for (String o : new String[]{"--hessian-power", "--block-length", "--update-each", "--n-samples", "--hessian-dtype"}) {
                if (cl.getParseResult() != null && cl.getParseResult().hasMatchedOption(o)) {
                    throw new CommandLine.ParameterException(cl, o + " is an AdaHessian option; add --optimizer adahessian");
                }
            }
        }
    }

    /** {@code --hessian-dtype}, parsed; a bad value is an argument error naming the choices. */
    HessianDtype hessianDtype(CommandLine cl) {
        try {
            return HessianDtype.parse(hessianDtype);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cl, e.getMessage());
        }
    }

    /** Refuses {@code --hessian-dtype bf16} outside an FP32 run: under autocast the tangents follow its format already. */
    HessianDtype hessianDtype(CommandLine cl, dev.memwall.precision.MixedPrecision mixed) {
        HessianDtype h = hessianDtype(cl);
        if (h != HessianDtype.FP32 && mixed != null && mixed.precision() != dev.memwall.precision.Precision.FP32) {
            throw new CommandLine.ParameterException(cl, "--hessian-dtype " + h.label() + " applies to an FP32 run, not --precision "
                    + mixed.precision().label() + " (under autocast the tangent GEMMs follow autocast's format already)");
        }
        return h;
    }

    /** The optimizer over {@code shard} of {@code flat}, at learning rate {@code lr}. */
    Optimizer build(CommandLine cl, FlatParameters flat, Shard shard, double lr, long seed) {
        return build(cl, flat, shard, lr, seed, StateFormat.FP32);
    }

    /** As {@link #build(CommandLine, FlatParameters, Shard, double, long)}, AdamW's moments kept in {@code state} (others: FP32 only). */
    Optimizer build(CommandLine cl, FlatParameters flat, Shard shard, double lr, long seed, StateFormat state) {
        if (state != StateFormat.FP32 && !name(cl).equals(ADAMW)) {
            throw new CommandLine.ParameterException(cl, "--optimizer-state " + state.label() + " applies to AdamW only, not --optimizer " + name(cl));
        }
        return switch (name(cl)) {
            case SGD -> new Sgd(flat, shard, new Sgd.Config(lr, 0.9, 0, 0, false));
            case ADAHESSIAN -> new AdaHessian(flat, shard, adaHessian(lr, seed));
            default -> new AdamW(flat, shard, new AdamW.Config(lr, 0.9, 0.95, 1e-8, 0.01), state);
        };
    }

    AdaHessian.Config adaHessian(double lr, long seed) {
        return AdaHessian.Config.defaults().withLr(lr).withHessian(hessianPower, blockLength, nSamples, updateEach).withSeed(seed);
    }

    /** What --json reports: the name, and AdaHessian's settings when it is the one. */
    Map<String, Object> describe(CommandLine cl) {
        Map<String, Object> m = new LinkedHashMap<>();
        String n = name(cl);
        m.put("name", n);
        if (n.equals(ADAHESSIAN)) {
            m.put("hessian_power", hessianPower);
            m.put("block_length", blockLength);
            m.put("update_each", updateEach);
            m.put("n_samples", nSamples);
            m.put("hessian_dtype", HessianDtype.parse(hessianDtype).label());
        }
        return m;
    }
}
