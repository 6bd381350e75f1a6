package dev.memwall.cli;

import dev.memwall.autograd.OpStats;
import dev.memwall.data.Batch;
import dev.memwall.io.SafeTensors;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.optim.AdamW;
import dev.memwall.optim.LrSchedule;
import dev.memwall.rng.Rng;
import dev.memwall.train.Trainer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * Every op of a training step on the roofline: per op type and phase, FLOPs and bytes from shapes and dtypes, time,
 * and where that puts the op against the machine's measured roofs. The workload is bench's (the GPT benchmark model,
 * random tokens, AdamW), or a saved model's ({@code --weights}). With {@code --generate} the workload is text generation
 * instead ({@link GenerationProfile}): prefill and decode as two phases, reported by {@link GenerationReport}.
 */
@Command(name = "profile", mixinStandardHelpOptions = true, description = {
        "Put every op of a training step on the roofline: calls, time, FLOPs, bytes moved, FLOP/byte and achieved rates",
        "per op and phase, against the machine's sgemm peak and triad bandwidth measured on the spot.",
        "Bytes are compulsory traffic: each operand read once, each output written once (a lower bound per op).",
        "Its default model (L6 D256 H4 ctx128, batch 16) is bench's; the first line printed names the model that runs.",
        "--generate profiles text generation instead (batch 1, KV cache): the prompt's prefill and the token-by-token decode",
        "as two phases on the same roofline; --warmup and --steps then count whole generations."})
final class ProfileCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model = new ModelOptions();
    @Option(names = "--warmup", description = "unprofiled steps first (default: ${DEFAULT-VALUE})")
    int warmup = 2;
    @Option(names = "--steps", description = "profiled steps, averaged (default: ${DEFAULT-VALUE})")
    int steps = 3;
    @Option(names = "--seed", description = "seed (default: ${DEFAULT-VALUE})")
    long seed = 0;
    @Option(names = "--checkpoint", paramLabel = "POLICY", description = CheckpointOption.DESCRIPTION + " (default: ${DEFAULT-VALUE})")
    String checkpoint = "NONE";
    @Option(names = "--weights", paramLabel = "RUN|STEP|FILE", description = "profile a saved model instead: a train --save run "
            + "(its newest step), a step directory, or a .safetensors file with PyTorch's names (then --heads is required); "
            + "its shape comes from the weights, at its full context")
    Path weights;
    @Option(names = "--generate", description = "profile generation (prefill, then decode with the KV cache) instead of a training step")
    boolean generate;
    @Option(names = "--prompt", paramLabel = "TEXT", description = "with --generate: the prompt, as UTF-8 bytes")
    String prompt;
    @Option(names = "--prompt-tokens", paramLabel = "P", description = "with --generate: a prompt of P random tokens (default: half the context)")
    Integer promptTokens;
    @Option(names = "--tokens", paramLabel = "N", description = "with --generate: tokens decoded one by one after the prompt "
            + "(default: the rest of the context)")
    Integer tokens;
    @Option(names = "--json", description = "print one JSON object: {roofs, ops, step}; with --generate {roofs, ops, phases, generation}")
    boolean json;
    @Option(names = "--chart", paramLabel = "FILE", description = "write a log-log roofline with one point per op and phase (.png or .svg)")
    Path chart;
    @Option(names = "--verbose", description = "stack traces on errors")
    boolean verbose;
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;
    private Integer savedHeads;

    @Override
    public Integer call() throws Exception {
        if (weights == null) model.validate(spec.commandLine());
        else if (model.batch < 1 || model.heads < 1) throw new CommandLine.ParameterException(spec.commandLine(), "--batch and --heads must be positive");
        if (warmup < 0 || steps < 1) throw new CommandLine.ParameterException(spec.commandLine(), "--steps must be >= 1 and --warmup >= 0");
        if (chart != null) {
            try {
                MemoryReport.checkChartName(chart);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage().replace("--memory-chart", "--chart"));
            }
        }
        Path file = weights == null ? null : weightsFile();
        GptConfig c = file == null ? model.config(256, 0f) : savedConfig(file);
        if (generate) return profileGeneration(c, file);
        for (String o : new String[]{"--prompt", "--prompt-tokens", "--tokens"}) {
            if (spec.commandLine().getParseResult().hasMatchedOption(o)) {
                throw new CommandLine.ParameterException(spec.commandLine(), o + " belongs to --generate, which is not given");
            }
        }
        CheckpointOption.validate(checkpoint, c.layers(), spec.commandLine(), "train --save");
        ProfileReport report = profileTraining(c, file);
        if (json) System.out.println(Json.line(report.toJson()));
        else System.out.println(report.table());
        if (chart != null) {
            String title = String.format("Roofline: GPT L%d D%d H%d ctx%d batch %d, one training step (--checkpoint %s)", c.layers(),
                    c.dim(), c.heads(), c.context(), model.batch, checkpoint);
            dev.memwall.io.AtomicFiles.write(chart, RooflineChart.render(report.roofs(), report.ops(), title, chart.getFileName().toString()));
        }
        return 0;
    }

    /** profile --generate: a random model of the shape options (bench's by default) or --weights, prefill and decode. */
    private Integer profileGeneration(GptConfig c, Path file) throws IOException {
        CommandLine cl = spec.commandLine();
        for (String o : new String[]{"--batch", "--checkpoint"}) {
            if (cl.getParseResult().hasMatchedOption(o)) throw new CommandLine.ParameterException(cl, o + " does not apply to --generate (batch 1, no backward)");
        }
        int[] ids = GenerationPrompt.ids(prompt, promptTokens, c, seed + 1, cl);
        int n = tokens != null ? tokens : c.context() - ids.length;
        if (n < 1 || ids.length + n > c.context()) {
            throw new CommandLine.ParameterException(cl, String.format("--tokens %d after a %d-token prompt does not fit the model's "
                    + "context of %d (the KV cache): give 1 to %d", n, ids.length, c.context(), c.context() - ids.length));
        }
        Gpt gpt = new Gpt(c, new Rng(seed));
        if (file != null) SafeTensors.readInto(file, gpt.namedParameters(), "a GPT of this shape");
        gpt.train(false);
        System.err.println(ModelLine.of(c, gpt.parameterCount(), String.format("%s; generation: a %d-token prompt, %d decoded tokens; "
                + "%d warm-up and %d profiled generations", file == null ? "" : " from " + file, ids.length, n, warmup, steps)));
        GenerationReport report = GenerationProfile.run(gpt, ids, n, warmup, steps);
        if (json) System.out.println(Json.line(report.toJson()));
        else System.out.println(report.table());
        if (chart != null) {
            String title = String.format("Roofline: GPT L%d D%d H%d ctx%d, generation: prefill of %d tokens (circles), decode of %d "
                    + "(diamonds)", c.layers(), c.dim(), c.heads(), c.context(), ids.length, n);
            dev.memwall.io.AtomicFiles.write(chart, RooflineChart.render(report.roofs(), report.ops(), title, chart.getFileName().toString()));
        }
        return 0;
    }

    /** Warm-up steps uncounted, then {@code steps} counted training steps, then the roofs (after, so the JIT is warm). */
    private ProfileReport profileTraining(GptConfig c, Path file) throws IOException {
        Gpt gpt = new Gpt(c, new Rng(seed));
        FlatParameters flat = gpt.flatten();
        if (file != null) SafeTensors.readInto(file, gpt.namedParameters(), "a GPT of this shape");
        AdamW opt = new AdamW(flat, AdamW.Config.defaults(3e-4));
        Trainer trainer = new Trainer(gpt, flat, opt, LrSchedule.constant(3e-4), 0);
        Batch b = BenchCommand.randomBatch(c, model.batch, seed + 1);
        System.err.println(ModelLine.of(c, gpt.parameterCount(), String.format("%s, batch %d; %d warm-up and %d profiled training "
                + "steps, --checkpoint %s", file == null ? "" : " from " + file, model.batch, warmup, steps, checkpoint)));
        try {
            CheckpointOption.install(checkpoint, gpt, b, CheckpointOption.adamStateBytes(gpt), System.err);
        } catch (IllegalArgumentException e) { // an infeasible BUDGET is a bad argument, as in train and bench
            throw new CommandLine.ParameterException(spec.commandLine(), "--checkpoint: " + e.getMessage());
        }
        for (int i = 0; i < warmup; i++) trainer.step(b);
        double totalMs = 0;
        List<OpStats.Row> rows;
        boolean was = OpStats.enabled();
        OpStats.reset();
        OpStats.enable(true);
        try {
            for (int i = 0; i < steps; i++) totalMs += trainer.step(b).millis();
            rows = OpStats.snapshot();
        } finally {
            OpStats.enable(was);
            OpStats.reset();
        }
        opt.release();
        flat.values().release();
        flat.grads().release();
        return ProfileReport.of(Roofs.measure(), rows, totalMs, steps);
    }

    /** The safetensors file behind --weights, which sets the shape: the shape options other than --heads and --batch are refused. */
    private Path weightsFile() throws IOException {
        for (String o : new String[]{"--layers", "--dim", "--ctx"}) {
            if (spec.commandLine().getParseResult().hasMatchedOption(o)) {
                throw new CommandLine.ParameterException(spec.commandLine(), o + " cannot be given with --weights, whose tensors set the shape");
            }
        }
        SavedWeights located = SavedWeights.locate(weights);
        if (located.saved() != null) {
            savedHeads = located.saved().heads();
            return located.file();
        }
        if (!spec.commandLine().getParseResult().hasMatchedOption("--heads")) {
            throw new CommandLine.ParameterException(spec.commandLine(), weights + " is a bare weights file: give --heads (a file's "
                    + "tensors do not record the head count), or point --weights at a train --save run or step directory");
        }
        return weights;
    }

    /** The shape of the GPT in {@code file}, with the run's head count or --heads. */
    private GptConfig savedConfig(Path file) throws IOException {
        boolean given = spec.commandLine().getParseResult().hasMatchedOption("--heads");
        try {
            return SavedWeights.configFrom(SafeTensors.inspect(file), given || savedHeads == null ? model.heads : savedHeads, file);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
    }
}
