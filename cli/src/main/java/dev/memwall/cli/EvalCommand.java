package dev.memwall.cli;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.data.Batch;
import dev.memwall.data.ByteDataset;
import dev.memwall.io.SafeTensors;
import dev.memwall.io.SafeTensorsHeader;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.optim.GradClip;
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
 * Loss and gradient norm of a saved GPT on a byte file. The model's shape is read from the weights
 * ({@code tok.weight} [V, D], {@code pos.weight} [T, D], the number of {@code blocks.i}); windows i = 0 … B·N−1 take
 * input bytes data[i·T, i·T+T) and targets data[i·T+1, i·T+T+1); the loss is the mean cross-entropy over all B·N·T
 * targets and the gradient norm is the global L2 norm of its gradient with respect to every parameter.
 */
@Command(name = "eval", mixinStandardHelpOptions = true, description = "Loss and gradient norm of saved weights on a byte file.")
final class EvalCommand implements Callable<Integer> {
    @Option(names = "--weights", required = true, description = "model weights (.safetensors, PyTorch names)")
    Path weights;
    @Option(names = "--data", required = true, description = "byte file to evaluate on")
    Path data;
    @Option(names = "--heads", required = true, description = "attention heads (not recorded in the weights)")
    int heads;
    @Option(names = "--ctx", required = true, description = "window length T")
    int ctx;
    @Option(names = "--batch", required = true, description = "windows per batch B")
    int batch;
    @Option(names = "--batches", required = true, description = "number of batches N")
    int batches;
    @Option(names = "--json", description = "print one JSON object")
    boolean json;
    @Option(names = "--verbose", description = "stack traces on errors")
    boolean verbose;
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        if (heads < 1 || ctx < 1 || batch < 1 || batches < 1) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--heads, --ctx, --batch and --batches must be positive");
        }
        GptConfig config;
        try {
            config = configFrom(SafeTensors.inspect(weights), heads, weights);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        if (ctx > config.context()) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--ctx " + ctx + " exceeds the model's context " + config.context() + " (pos.weight rows)");
        }
        ByteDataset ds = ByteDataset.open(data);
        int windows = ds.sequentialWindows(ctx);
        if (windows < batch * batches) {
            throw new IOException(data + ": holds " + windows + " windows of " + ctx + "+1 bytes, " + (batch * batches) + " needed");
        }
        Gpt model = new Gpt(config, new Rng(0));
        FlatParameters flat = model.flatten();
        SafeTensors.readInto(weights, model.namedParameters(), "a GPT of this shape");
        model.train(false);
        double lossSum = 0;
        for (int i = 0; i < batches; i++) {
            Batch b = ds.sequentialBatch(i, batch, ctx);
            try (Scope s = Scope.open()) {
                Tensor loss = model.loss(b.idsTensor(), b.targetsTensor());
                lossSum += loss.item();
                loss.backward(Tensor.scalar(1f / batches), false, false);
            }
        }
        double gradNorm = GradClip.norm(flat, 0, flat.length());
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("loss", lossSum / batches);
        out.put("tokens", (long) batch * batches * ctx);
        out.put("grad_norm", gradNorm);
        if (json) System.out.println(Json.line(out));
        else System.out.printf("loss %.6f over %,d tokens, gradient norm %.6f%n", lossSum / batches, (long) batch * batches * ctx, gradNorm);
        return 0;
    }

    /** The GPT whose parameters have exactly the shapes in {@code file}. */
    static GptConfig configFrom(SafeTensorsHeader file, int heads, Path where) throws IOException {
        int[] tok = shape(file, "tok.weight"), pos = shape(file, "pos.weight");
        if (tok == null || tok.length != 2) throw new IOException(where + ": tok.weight [V, D] missing or not 2-D");
        if (pos == null || pos.length != 2 || pos[1] != tok[1]) throw new IOException(where + ": pos.weight [T, D] missing or its D differs from tok.weight");
        int layers = 0;
        while (shape(file, "blocks." + layers + ".qkv.weight") != null) layers++;
        if (tok[1] % heads != 0) {
            throw new IllegalArgumentException("--heads " + heads + " does not divide the model width " + tok[1] + " of " + where);
        }
        return new GptConfig(tok[0], pos[0], tok[1], heads, layers, 0f);
    }

    private static int[] shape(SafeTensorsHeader h, String name) {
        SafeTensorsHeader.Entry e = h.entry(name);
        return e == null ? null : e.shape();
    }
}
