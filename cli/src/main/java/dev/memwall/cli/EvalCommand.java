package dev.memwall.cli;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.data.Batch;
import dev.memwall.data.ByteDataset;
import dev.memwall.io.SafeTensors;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.optim.GradClip;
import dev.memwall.optim.Hutchinson;
import dev.memwall.rng.Rng;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * Loss and gradient norm of a saved GPT on a byte file. The weights are a {@code --save} run (its newest checkpoint), one
 * of its {@code step-NNNNNN} directories or that directory's {@code model.safetensors} — whose state.json gives the
 * head count and context — or any safetensors file with PyTorch's names, for which --heads and --ctx are required (the
 * head count changes no tensor's shape, so no file can tell it). The rest of the shape is read from the weights
 * ({@code tok.weight} [V, D], {@code pos.weight} [T, D], the number of {@code blocks.i}). Windows i = 0, 1, … take input
 * bytes data[i·T, i·T+T) and targets data[i·T+1, i·T+T+1): by default every full window of the file, in batches of
 * --batch (the last may be smaller); with --batches N the first B·N. The loss is the mean cross-entropy over all
 * targets and the gradient norm is the global L2 norm of its gradient with respect to every parameter. With --hvp,
 * also gᵀHg and ‖Hg‖₂ for g that gradient, held constant (Hg = ∇(gᵀv) at v = g), what PyTorch's double backward gives.
 */
@Command(name = "eval", mixinStandardHelpOptions = true, description = "Loss and gradient norm of saved weights on a byte file.")
final class EvalCommand implements Callable<Integer> {
    static final int DEFAULT_BATCH = 16;

    @Option(names = "--weights", required = true, paramLabel = "RUN|STEP|FILE", description = "a --save run directory (its "
            + "newest checkpoint), a step-NNNNNN directory of one, or a .safetensors file with PyTorch's names")
    Path weights;
    @Option(names = "--data", required = true, description = "byte file to evaluate on")
    Path data;
    @Option(names = "--heads", description = "attention heads (default: the run's; required for a bare .safetensors file, "
            + "whose tensors do not record it)")
    Integer heads;
    @Option(names = "--ctx", description = "window length T (default: the run's context; required for a bare .safetensors file)")
    Integer ctx;
    @Option(names = "--batch", description = "windows per batch B (default: " + DEFAULT_BATCH + ")")
    Integer batch;
    @Option(names = "--batches", description = "number of batches N (default: as many as cover every full window of --data)")
    Integer batches;
    @Option(names = "--hvp", description = "also a Hessian-vector product with the gradient g held constant: ghg = gᵀHg "
            + "and hg_norm = ‖Hg‖₂ (a second pass over the windows, each with a double backward)")
    boolean hvp;
    @Option(names = "--json", description = "print one JSON object")
    boolean json;
    @Option(names = "--verbose", description = "stack traces on errors")
    boolean verbose;
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        CommandLine cl = spec.commandLine();
        for (Integer v : new Integer[]{heads, ctx, batch, batches}) {
            if (v != null && v < 1) throw new CommandLine.ParameterException(cl, "--heads, --ctx, --batch and --batches must be positive");
        }
        SavedWeights located = SavedWeights.locate(weights);
        Path file = located.file();
        GptConfig saved = located.saved();
        if (saved == null && (heads == null || ctx == null)) {
            throw new CommandLine.ParameterException(cl, weights + " is a bare weights file: give --heads and --ctx (a file's tensors "
                    + "do not record the head count), or point --weights at a train --save run or step directory");
        }
        int h = heads != null ? heads : saved.heads();
        GptConfig config;
        try {
            config = SavedWeights.configFrom(SafeTensors.inspect(file), h, file);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cl, e.getMessage());
        }
        int t = ctx != null ? ctx : saved.context();
        if (t > config.context()) {
            throw new CommandLine.ParameterException(cl, "--ctx " + t + " exceeds the model's context " + config.context() + " (pos.weight rows)");
        }
        ByteDataset ds = ByteDataset.open(data);
        int windows = ds.sequentialWindows(t), b = batch != null ? batch : DEFAULT_BATCH;
        long count = batches != null ? (long) b * batches : windows;
        if (windows < count || windows == 0) {
            throw new IOException(data + ": holds " + windows + " windows of " + t + "+1 bytes, " + Math.max(1, count) + " needed");
        }
        for (int i = 0; i < count * t + 1; i++) { // a bad file is one line naming it, before the model line
            if (ds.byteAt(i) >= config.vocab()) {
                throw new IOException(data + ": byte " + ds.byteAt(i) + " at offset " + i + " is outside the model's vocabulary of " + config.vocab());
            }
        }
        Gpt model = new Gpt(config, new Rng(0));
        FlatParameters flat = model.flatten();
        SafeTensors.readInto(file, model.namedParameters(), "a GPT of this shape");
        System.err.println(ModelLine.of(config, model.parameterCount(), String.format(" from %s; %,d windows of %d bytes in batches of %d",
                file, count, t, b)));
        model.train(false);
        double lossSum = 0;
        for (long first = 0; first < count; first += b) {
            int rows = (int) Math.min(b, count - first);
            Batch w = windows(ds, (int) first, rows, t);
            try (Scope s = Scope.open()) {
                Tensor loss = model.loss(w.idsTensor(), w.targetsTensor());
                double share = (double) rows / count; // each batch counts by its windows, so the mean is over all targets
                lossSum += loss.item() * share;
                loss.backward(Tensor.scalar((float) share), false, false);
            }
        }
        double gradNorm = GradClip.norm(flat, 0, flat.length());
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("loss", lossSum);
        out.put("tokens", count * t);
        out.put("grad_norm", gradNorm);
        if (hvp) {
            // g over all windows first (above), then H·g = Σ over batches of share · H_batch·g, g held constant
            float[] g = flat.grads().whole().toFloatArray();
            double[] hg = new double[flat.length()];
            java.util.List<Tensor> params = model.parameters();
            boolean fused = dev.memwall.train.HessianPath.fromProperty() == dev.memwall.train.HessianPath.FORWARD_OVER_REVERSE;
            for (long first = 0; first < count; first += b) {
                int rows = (int) Math.min(b, count - first);
                Batch w = windows(ds, (int) first, rows, t);
                float share = (float) ((double) rows / count);
                if (fused) { // one forward and one backward with tangents along g (HessianPath, rop.GptRop)
                    try (Scope s = Scope.open()) {
                        dev.memwall.rop.GptRop.run(model, dev.memwall.rop.GptRop.keepAll(config.layers()), w.idsTensor(),
                                w.targetsTensor(), share, flat, params, g, false, (k, part) -> {
                                    int o = flat.entries().get(k).offset();
                                    float[] d = part.data();
                                    for (int i = 0, j = part.offset(); i < part.numel(); i++, j++) hg[o + i] += d[j];
                                });
                    }
                    continue;
                }
                params.forEach(Tensor::zeroGrad); // zero-fills the flat gradient and drops the previous batch's graph
                try (Scope s = Scope.open()) {
                    model.loss(w.idsTensor(), w.targetsTensor()).backward(Tensor.scalar(share), false, true);
                    float[] part = Hutchinson.hessianVectorProduct(flat, params, g, false);
                    for (int i = 0; i < hg.length; i++) hg[i] += part[i];
                }
            }
            double ghg = 0, norm = 0;
            for (int i = 0; i < hg.length; i++) {
                ghg += g[i] * hg[i];
                norm += hg[i] * hg[i];
            }
            out.put("ghg", ghg);
            out.put("hg_norm", Math.sqrt(norm));
        }
        if (json) System.out.println(Json.line(out));
        else System.out.printf("loss %.6f over %,d tokens, gradient norm %.6f%s%n", lossSum, count * t, gradNorm,
                hvp ? String.format(", gᵀHg %.6g, ‖Hg‖ %.6g", out.get("ghg"), out.get("hg_norm")) : "");
        return 0;
    }

    /** Windows {@code first … first+rows-1} as one batch. */
    private static Batch windows(ByteDataset ds, int first, int rows, int t) {
        int[] ids = new int[rows * t], targets = new int[rows * t];
        for (int r = 0; r < rows; r++) {
            int start = (first + r) * t;
            for (int j = 0; j < t; j++) {
                ids[r * t + j] = ds.byteAt(start + j);
                targets[r * t + j] = ds.byteAt(start + j + 1);
            }
        }
        return new Batch(ids, targets, rows, t);
    }
}
