package dev.memwall.cli;

import dev.memwall.data.AdditionTask;
import dev.memwall.data.Batch;
import dev.memwall.data.ByteDataset;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.autograd.CompressedActivations;
import dev.memwall.optim.AdamW;
import dev.memwall.optim.Optimizer;
import dev.memwall.optim.StateFormat;
import dev.memwall.optim.LrSchedule;
import dev.memwall.rng.Rng;
import dev.memwall.train.StepStats;
import dev.memwall.train.Trainer;
import dev.memwall.train.TrainingState;
import dev.memwall.train.ZeroStage;
import dev.memwall.train.DataParallel;
import dev.memwall.sharding.Backends;
import dev.memwall.sharding.JoinRefusedException;
import dev.memwall.sharding.ProcessGroup;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * Trains a GPT: by default on the built-in addition task (no download), or as a byte-level language model on any
 * file with --data. Shows a progress bar, evaluates every --eval-every steps, and ends with a memory table.
 */
@Command(name = "train", mixinStandardHelpOptions = true, description = {"Train a GPT (default: the built-in addition task).",
        "Its default model (L2 D128 H4, batch 64) is smaller than bench's and compare-memory's; the first line printed names "
                + "the model that runs."})
final class TrainCommand implements Callable<Integer> {
    @Option(names = "--data", description = "train a byte-level language model on this file instead of the addition task")
    Path data;
    @Option(names = "--digits", description = "digits per operand of the addition task (default: ${DEFAULT-VALUE})")
    int digits = 3;
    @Option(names = "--steps", description = "optimizer steps (default: ${DEFAULT-VALUE}; with --resume, the run's). More than a "
            + "resumed run's schedule extends it at the schedule's final learning rate")
    int steps = 1500;
    @Option(names = "--batch", description = "sequences per step (default: ${DEFAULT-VALUE})")
    int batch = 64;
    @Option(names = "--accum", description = "micro-batches accumulated per step (default: ${DEFAULT-VALUE})")
    int accum = 1;
    @Option(names = "--ctx", description = "context length (default: the task's example length, 128 with --data)")
    Integer ctx;
    // Why these defaults are robust (>= 0.95 held-out exact match on seeds 0-4 and every GEMM kernel tried): a sum digit
    // (a_k + b_k + carry) mod 10 is independent of either operand digit alone, so no first-order gradient tells a head
    // where to look; only the pairwise interaction does, and its strength grows with the init scale. With GPT-2's 0.02
    // init at width 128 the heads started uniform and the run sat on a plateau (loss 3 ln(10)/5 = 1.38: terminator and
    // carry-out learned, sum digits at chance) until a step that moved with GEMM rounding. Linear now starts at std
    // 1/sqrt(in) and Embedding at std 1 (see DefaultTrainingRunTest, BENCHMARKS.md).
    @Option(names = "--dim", description = "model width (default: ${DEFAULT-VALUE})")
    int dim = 128;
    @Option(names = "--layers", description = "Transformer blocks (default: ${DEFAULT-VALUE})")
    int layers = 2;
    @Option(names = "--heads", description = "attention heads (default: ${DEFAULT-VALUE})")
    int heads = 4;
    @Option(names = "--dropout", description = "dropout probability (default: ${DEFAULT-VALUE})")
    float dropout = 0f;
    @Option(names = "--lr", description = "peak learning rate (default: ${DEFAULT-VALUE}; with --optimizer adahessian, "
            + TrainCommand.ADAHESSIAN_LR + ")")
    double lr = 3e-3;
    /** AdaHessian's default peak rate on the addition task (BENCHMARKS.md, "AdaHessian"). */
    static final double ADAHESSIAN_LR = 0.15;
    @CommandLine.Mixin
    OptimizerOptions optimizerOptions = new OptimizerOptions();
    @Option(names = "--warmup", description = "learning-rate warm-up steps (default: ${DEFAULT-VALUE})")
    int warmup = 50;
    @Option(names = "--clip", description = "global gradient-norm clipping, 0 = off (default: ${DEFAULT-VALUE})")
    double clip = 1.0;
    @Option(names = "--seed", description = "seed of initialisation and data (default: ${DEFAULT-VALUE})")
    long seed = 0;
    @Option(names = "--eval-every", description = "evaluate every N steps, 0 = only at the end (default: ${DEFAULT-VALUE})")
    int evalEvery = 250;
    @Option(names = "--eval-examples", description = "held-out examples (or windows) per evaluation (default: ${DEFAULT-VALUE})")
    int evalExamples = 512;
    @Option(names = "--checkpoint", paramLabel = "POLICY", description = CheckpointOption.DESCRIPTION + " (default: ${DEFAULT-VALUE})")
    String checkpoint = "NONE";
    @Option(names = "--save", paramLabel = "DIR", description = "save the training state (weights, optimizer, RNGs) to DIR at "
            + "every evaluation and at the end (under `memwall launch`, each rank its optimizer shard); refused if DIR holds a "
            + "run, unless it is --resume's DIR or with --overwrite")
    Path save;
    @Option(names = "--resume", paramLabel = "DIR", description = "continue the run saved in DIR by --save, on any number of "
            + "ranks and ZeRO stage (the optimizer state is resharded); options left out take the run's values, options that "
            + "disagree with them are refused")
    Path resume;
    @Option(names = "--overwrite", description = "let --save replace a run already saved in its DIR (deleted at the first save)")
    boolean overwrite;
    @Option(names = "--memory-report", description = "write per-step memory figures and one step's timeline as JSON ({rank} in "
            + "the path: this rank's number)")
    Path memoryReport;
    @Option(names = "--memory-chart", description = "draw one training step's memory by category (.png or .svg)")
    Path memoryChart;
    @Option(names = "--zero", paramLabel = "STAGE", description = "ZeRO stage under `memwall launch`: 0 = all-reduce the "
            + "gradients, every rank keeps all optimizer state; 1 = each rank keeps and updates 1/N of the AdamW state "
            + "(reduce-scatter, all-gather); 2 = gradients too, reduce-scattered in buckets during backward; "
            + "3 = parameters too, each block gathered for its forward and again for its backward "
            + "(default: ${DEFAULT-VALUE}). --batch stays the global batch, split over the ranks")
    int zero = 0;
    @Option(names = "--bucket-mb", paramLabel = "MIB", description = "--zero 2: gradient bucket size in MiB (DeepSpeed's "
            + "reduce_bucket_size), which bounds the communication buffers (about five buckets per rank); default: 4 MiB, "
            + "at most 1/16 of the parameters")
    Double bucketMb;
    @Option(names = "--save-activations", paramLabel = "FORMAT", description = "keep saved activations as fp32, bf16 or fp8 "
            + "(E4M3, one scale per tensor) between forward and backward (default: ${DEFAULT-VALUE})")
    String saveActivations = "fp32";
    @Option(names = "--optimizer-state", paramLabel = "FORMAT", description = "AdamW's moments in fp32, bf16 or int8 (block-wise "
            + "8-bit, parameters under 4,096 elements FP32) (default: ${DEFAULT-VALUE}; with --resume, the run's)")
    String optimizerState = "fp32";
    @Option(names = "--reduce-dtype", paramLabel = "FORMAT", description = "format of the gradients summed over ranks: fp32 or "
            + "bf16 (2 bytes on the wire, summed in FP32 in rank order, rounded once) (default: ${DEFAULT-VALUE})")
    String reduceDtype = "fp32";
    @Option(names = "--backend", paramLabel = "NAME", description = "shm or mpi: the backend of a multi-rank run, refused when it "
            + "is not available (default: mpi when started by mpirun, shm under `memwall launch`)")
    String backend;
    @Option(names = "--json", description = "the last line of stdout is one JSON object with the results")
    boolean json;
    @CommandLine.Mixin
    PrecisionOptions precisionOptions = new PrecisionOptions();
    @Option(names = "--no-progress", description = "no progress bar")
    boolean noProgress;
    @Option(names = "--verbose", description = "stack traces on errors")
    boolean verbose;
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        validate();
        if (optimizerOptions.name(spec.commandLine()).equals(OptimizerOptions.ADAHESSIAN) && !spec.commandLine().getParseResult().hasMatchedOption("--lr")) {
            spec.findOption("--lr").setValue(ADAHESSIAN_LR); // a resumed run's saved rate still wins (SavedSettings)
        }
        ZeroStage stage;
        try {
            stage = ZeroStage.of(zero);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--zero: " + e.getMessage());
        }
        // The launcher's environment: one rank of a job (WORLD_SIZE > 1), or a single process (backend "none").
        // What a multi-rank run refuses is refused before joining, so every rank exits at once with the same error.
        Map<String, String> env = System.getenv();
        try {
            checkShardable(Backends.worldSize(env, backend));
        } catch (JoinRefusedException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        int bucketElements = bucketElements(stage);
        ShardedPrecisionOption.check(reduceDtype, Backends.worldSize(env, backend), spec.commandLine());
        try (ProcessGroup group = ProcessGroup.fromEnvironment(env, backend)) {
            int code = train(group, stage, bucketElements);
            group.barrier(); // no rank removes its segment while a peer may still be in a collective
            return code;
        }
    }

    private int train(ProcessGroup group, ZeroStage stage, int bucketElements) throws Exception {
        SavedSettings.Resumed resumed = resume == null ? null : SavedSettings.reconcile(spec, TrainingState.inspect(resume));
        int scheduleSteps = resumed == null ? steps : resumed.scheduleSteps();
        if (resume != null) precisionOptions.reconcile(spec.commandLine(), TrainingState.inspect(resume).extra());
        dev.memwall.precision.MixedPrecision mixed = precisionOptions.build(spec.commandLine());
        checkSaveDirectory();
        if (data != null && !Files.isRegularFile(data)) {
            throw new CommandLine.ExecutionException(spec.commandLine(), data + ": no such file", new java.nio.file.NoSuchFileException(data.toString()));
        }
        Rng dataRng = new Rng(seed + 1);
        AdditionTask task = data == null ? new AdditionTask(digits) : null;
        ByteDataset[] split = data == null ? null : ByteDataset.open(data).split(0.9);
        int context = ctx != null ? ctx : task != null ? task.context() : 128;
        GptConfig config = new GptConfig(256, context, dim, heads, layers, dropout);
        if (task != null && config.context() < task.context()) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--ctx " + config.context() + " is shorter than one addition example (" + task.context() + ")");
        }
        if (split != null) requireOneWindow(split, context);
        final int contextF = config.context();
        CheckpointOption.validate(checkpoint, config.layers(), spec.commandLine(), "--save");
        // Ranks train on different rows, so they must not draw the same dropout masks: each rank's stream is its own
        // (a sharded run with dropout matches a single process in distribution, not draw for draw).
        if (group.worldSize() > 1) Rng.defaultRng().manualSeed(Rng.mix(Rng.defaultRng().seed(), group.rank()));
        Gpt model = new Gpt(config, new Rng(seed));
        log("%s", ModelLine.of(config, model.parameterCount(), String.format(", batch %d%s; %s, %d steps", batch,
                accum > 1 ? " × " + accum + " accumulated" : "", task != null ? "addition task (" + digits + " digits)" : "byte LM on " + data, steps)));
        if (resumed != null) resumed.notes().forEach(n -> log("%s", n));
        DataParallel dp = DataParallel.of(model, group, stage, bucketElements);
        dp.reduceFormat(dev.memwall.train.ShardedPrecision.reduceFormat(reduceDtype, group.worldSize()));
        FlatParameters flat = dp.params();
        // A BUDGET plan is made on a sample batch drawn from its own generator, so the training data stream is the
        // same as without checkpointing (and as a resumed run's).
        Rng sampleRng = new Rng(seed + 2);
        Batch sample = dp.localRows(task != null ? task.trainBatch(batch, sampleRng) : split[0].randomBatch(batch, contextF, sampleRng));
        // made before a BUDGET plan, which then counts its state as allocated, in whatever format it is kept
        Optimizer optimizer = optimizerOptions.build(spec.commandLine(), flat, dp.shard(), lr, seed, StateFormat.parse(optimizerState));
        dev.memwall.checkpoint.Policy policy;
        try {
            // AdaHessian and SGD keep FP32 state: 3 and (at most) 2 vectors over the shard
            long stateBytes = optimizer instanceof AdamW adamW ? adamW.stateBytes()
                    : (optimizer instanceof dev.memwall.optim.AdaHessian ? 3L : 2L) * Float.BYTES * dp.shard().size();
            // AdaHessian: its Hessian step's z ⊙ Hz buffer too (a BUDGET plan and the out-of-memory advice count it)
            long products = optimizer instanceof dev.memwall.optim.SecondOrder ? 4L * flat.length() : 0;
            policy = CheckpointOption.install(checkpoint, model, sample, stateBytes + products, System.err,
                    CompressedActivations.Format.parse(saveActivations), dp); // a BUDGET plan: rank 0's on every rank
            if (products > 0) {
                OutOfMemoryAdvice.watchSecondOrder(stateBytes, products);
                if (dev.memwall.checkpoint.Policy.parseBudget(checkpoint) != null) log("plan %s", OutOfMemoryAdvice.SECOND_ORDER_NOTE);
            }
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--checkpoint: " + e.getMessage());
        }
        if (!(optimizer instanceof AdamW)) log("optimizer: %s, peak lr %s", optimizerOptions.describe(spec.commandLine()), lr);
        // A resumed run keeps the schedule it was saved with: --steps says where to stop, not how the rate decays.
        Trainer trainer = new Trainer(model, dp, optimizer,
                LrSchedule.warmupCosine(lr, Math.min(warmup, scheduleSteps), scheduleSteps, lr / 10), clip);
        try {
            trainer.mixedPrecision(mixed);
            trainer.hessianDtype(optimizerOptions.hessianDtype(spec.commandLine(), mixed));
        } catch (IllegalArgumentException e) { // every rank refuses at the same point, before any step
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        Map<String, Rng> rngs = Map.of("data", dataRng, "default", Rng.defaultRng());
        if (resume != null) {
            TrainingState.Info saved = TrainingState.resume(resume, trainer, rngs);
            PrecisionOptions.restore(saved.extra(), mixed);
            log("resumed from %s at step %d", resume, trainer.completedSteps());
            if (saved.worldSize() != group.worldSize() || saved.zeroStage() != stage.number()) {
                log("resharded: saved by %d rank(s) at ZeRO stage %d, resumed by %d at stage %d", saved.worldSize(), saved.zeroStage(),
                        group.worldSize(), stage.number());
            }
            if (trainer.completedSteps() >= steps) log("note: the checkpoint is already at step %d of --steps %d; nothing to train", trainer.completedSteps(), steps);
        }
        boolean cleared = !overwrite;

        MemoryTracker tracker = MemoryTracker.current();
        MemoryReport report = new MemoryReport();
        List<Map<String, Object>> evals = new ArrayList<>();
        double evalLoss = Double.NaN, evalAcc = Double.NaN;
        StepStats last = null;
        List<Double> stepMillis = new ArrayList<>(); // for the median step time, which a slow first step does not move
        long tokens = 0;
        double millis = 0;
        List<Long> sentPerStep = new ArrayList<>(), receivedPerStep = new ArrayList<>();
        List<Double> hiddenPerStep = new ArrayList<>();
        List<Long> sentInBackwardPerStep = new ArrayList<>();
        long start = trainer.completedSteps();
        // the trainer opens the precision's region (autocast or FP8 Linear layers) per step, evaluation its own below
        try (ProgressBar bar = group.rank() == 0 ? progressBar(steps, start) : null;
             var savedActivations = CompressedActivations.install(CompressedActivations.Format.parse(saveActivations))) {
            while (trainer.completedSteps() < steps) {
                Batch[] micro = new Batch[accum];
                for (int i = 0; i < accum; i++) {
                    micro[i] = task != null ? task.trainBatch(batch, dataRng) : split[0].randomBatch(batch, contextF, dataRng);
                }
                boolean recordTimeline = trainer.completedSteps() == steps - 1;
                if (recordTimeline) tracker.record(true);
                last = trainer.step(micro);
                if (recordTimeline) {
                    tracker.record(false);
                    report.timeline(last.step(), tracker.events());
                }
                report.add(last);
                sentPerStep.add(last.commBytesSent());
                receivedPerStep.add(last.commBytesReceived());
                sentInBackwardPerStep.add(last.commBytesSentInBackward());
                if (!Double.isNaN(last.commHiddenFraction())) hiddenPerStep.add(last.commHiddenFraction());
                tokens += last.tokens();
                millis += last.millis();
                stepMillis.add(last.millis());
                if (bar != null) {
                    bar.stepTo(trainer.completedSteps());
                    bar.setExtraMessage(String.format("loss %.4f  %,.0f tok/s  mem %.1f MiB", last.loss(), last.tokensPerSecond(),
                            last.peakTotalBytes() / 1048576.0));
                }
                boolean end = trainer.completedSteps() == steps;
                if (end || (evalEvery > 0 && trainer.completedSteps() % evalEvery == 0)) {
                    try (var region = PrecisionOptions.region(mixed)) { // evaluated in the training precision
                        evalLoss = evalLoss(trainer, task, split, contextF);
                        evalAcc = task != null ? task.exactMatchAccuracy(model, evalExamples, 256) : Double.NaN;
                    }
                    Map<String, Object> e = new LinkedHashMap<>();
                    e.put("step", trainer.completedSteps());
                    e.put("train_loss", last.loss());
                    e.put("eval_loss", evalLoss);
                    if (task != null) e.put("eval_accuracy", evalAcc);
                    evals.add(e);
                    {
                        log("step %d: train loss %.4f, eval loss %.4f%s", trainer.completedSteps(), last.loss(), evalLoss,
                                task != null ? String.format(", held-out exact match %.1f%%", 100 * evalAcc) : "");
                    }
                    if (save != null) {
                        // the old run goes only once the new one has state to save; rank 0 alone touches the directory
                        // before the save's first collective, so no rank writes while it is cleared
                        if (!cleared && group.rank() == 0) TrainingState.clear(save);
                        cleared = true;
                        var extra = SavedSettings.record(spec, steps, scheduleSteps);
                        precisionOptions.record(extra, mixed);
                        TrainingState.save(save, trainer, rngs, extra);
                    }
                }
            }
        }
        if (task != null) {
            int limit = (int) Math.pow(10, task.digits());
            try (var region = PrecisionOptions.region(mixed)) { // in the training precision (FP8 at stage 3 needs its region)
                log("sample: %s", task.sampleCompletion(model, 123 % limit, 456 % limit));
            }
        }
        System.err.print(report.table());
        if (memoryReport != null) {
            dev.memwall.io.AtomicFiles.write(perRank(memoryReport, group), Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsBytes(report.toJson()));
        }
        if (memoryChart != null) dev.memwall.io.AtomicFiles.write(perRank(memoryChart, group), report.chart(memoryChart.getFileName().toString()));
        if (json) {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("steps", trainer.completedSteps());
            out.put("final_loss", last == null ? null : last.loss());
            out.put("eval_loss", finite(evalLoss));
            if (task != null) out.put("eval_accuracy", finite(evalAcc));
            out.put("tokens_per_s", millis > 0 ? Math.round(tokens / (millis / 1000)) : 0);
            out.put("train_seconds", Math.round(millis) / 1000.0); // time in training steps, evaluations left out
            out.put("step_ms_median", stepMillis.isEmpty() ? null
                    : BenchCommand.round(BenchCommand.median(stepMillis.stream().mapToDouble(Double::doubleValue).toArray())));
            out.put("peak_bytes", Json.bytes(report.peakOverRun(), report.peakTotalOverRun()));
            out.put("checkpoint", policy.describe());
            out.put("optimizer", optimizerOptions.name(spec.commandLine()));
            out.put("optimizer_settings", optimizerOptions.describe(spec.commandLine()));
            out.put("hessian_dtype", optimizerOptions.hessianDtype(spec.commandLine()).label());
            out.put("lr", lr);
            out.put("save_activations", saveActivations.toLowerCase(java.util.Locale.ROOT));
            out.put("optimizer_state", optimizerState.toLowerCase(java.util.Locale.ROOT));
            out.put("evals", evals);
            PrecisionOptions.putJson(out, mixed);
            out.put("rank", group.rank());
            out.put("world_size", group.worldSize());
            out.put("backend", group.backend());
            out.put("zero_stage", stage.number());
            out.put("reduce_dtype", reduceDtype.toLowerCase(java.util.Locale.ROOT));
            out.put("params", model.parameterCount());
            out.put("model_state_bytes", last == null ? null : last.modelStateBytes());
            out.put("comm_bytes_sent_per_step", median(sentPerStep));
            out.put("comm_bytes_received_per_step", median(receivedPerStep));
            // stage 2: what the bucket reductions issued during backward sent (the overlapped part)
            out.put("comm_bytes_sent_in_backward_per_step", median(sentInBackwardPerStep));
            // stage 2: median share of the gradient reductions' time the training thread did not wait for
            if (stage == ZeroStage.STAGE_2) out.put("comm_bucket_bytes", dp.bucketBytes());
            if (!hiddenPerStep.isEmpty()) {
                out.put("comm_hidden_fraction", new org.apache.commons.math3.stat.descriptive.rank.Median()
                        .evaluate(hiddenPerStep.stream().mapToDouble(Double::doubleValue).toArray()));
            }
            System.out.println(Json.line(out));
        }
        return 0;
    }

    /** The median of per-step figures (the lower middle of an even count), 0 when no step ran. */
    static long median(List<Long> perStep) {
        if (perStep.isEmpty()) return 0;
        List<Long> sorted = new ArrayList<>(perStep);
        java.util.Collections.sort(sorted);
        return sorted.get((sorted.size() - 1) / 2);
    }

    /** What a multi-rank run cannot do, refused before any rank trains: a global batch that does not split evenly. */
    private void checkShardable(int worldSize) {
        if (worldSize == 1) return;
        CommandLine cl = spec.commandLine();
        if (batch % worldSize != 0) {
            throw new CommandLine.ParameterException(cl, "--batch " + batch + " does not split evenly over world size " + worldSize
                    + "; use a multiple of " + worldSize + " (--batch is the global batch)");
        }
    }

    /** --bucket-mb as elements (0: the default size), refused unless valid and at --zero 2. */
    private int bucketElements(ZeroStage stage) {
        if (bucketMb == null) return 0;
        if (stage != ZeroStage.STAGE_2) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--bucket-mb sizes the gradient buckets of --zero 2; "
                    + "--zero " + stage.number() + " has none");
        }
        try {
            return dev.memwall.train.BucketSize.elements(bucketMb);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--bucket-mb: " + e.getMessage());
        }
    }

    /** {@code path} with "{rank}" replaced by this rank's number, so the ranks of a job can write a report each. */
    static Path perRank(Path path, ProcessGroup group) {
        return Path.of(path.toString().replace("{rank}", Integer.toString(group.rank())));
    }

    /** NaN (nothing evaluated) is written as JSON null. */
    private static Double finite(double v) {
        return Double.isNaN(v) ? null : v;
    }

    private void validate() {
        CommandLine cl = spec.commandLine();
        if (steps < 1 || batch < 1 || accum < 1 || dim < 1 || layers < 1 || heads < 1 || evalEvery < 0 || evalExamples < 1) {
            throw new CommandLine.ParameterException(cl, "--steps, --batch, --accum, --dim, --layers, --heads, --eval-examples must be positive");
        }
        if (ctx != null && ctx < 1) throw new CommandLine.ParameterException(cl, "--ctx must be positive");
        if (dim % heads != 0) throw new CommandLine.ParameterException(cl, "--dim " + dim + " is not divisible by --heads " + heads);
        if (!(lr > 0)) throw new CommandLine.ParameterException(cl, "--lr must be > 0");
        if (dropout < 0 || dropout >= 1) throw new CommandLine.ParameterException(cl, "--dropout must be in [0, 1)");
        if (digits < 1 || digits > 9) throw new CommandLine.ParameterException(cl, "--digits must be in 1..9");
        if (memoryChart != null) {
            try {
                MemoryReport.checkChartName(memoryChart);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(cl, e.getMessage());
            }
        }
        optimizerOptions.validate(cl);
        if (overwrite && save == null) throw new CommandLine.ParameterException(cl, "--overwrite needs --save DIR");
        try {
            CompressedActivations.Format.parse(saveActivations);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cl, "--save-activations: " + e.getMessage());
        }
        try {
            StateFormat.parse(optimizerState);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cl, "--optimizer-state: " + e.getMessage());
        }
        optimizerOptions.hessianDtype(cl, precisionOptions.build(cl)); // refuses a bad --precision or --loss-scale, and bf16 products under autocast
    }

    /** A run saved in --save's directory is continued (--resume of the same directory) or replaced (--overwrite), never mixed. */
    private void checkSaveDirectory() throws java.io.IOException {
        if (save == null || !TrainingState.holdsRun(save)) return;
        boolean continuing = resume != null && Files.isDirectory(resume) && Files.isSameFile(save, resume);
        if (continuing && overwrite) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--overwrite would delete the run that --resume " + resume + " continues");
        }
        if (!continuing && !overwrite) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--save " + save + " already holds a run (at "
                    + TrainingState.inspect(save).directory().getFileName() + "); continue it with --resume " + save
                    + ", or add --overwrite to replace it");
        }
    }

    /** Both parts of --data must hold a window of --ctx + 1 bytes; found out before training, not at the first evaluation. */
    private void requireOneWindow(ByteDataset[] split, int context) throws java.io.IOException {
        String[] part = {"training part (first 90%)", "held-out part (last 10%)"};
        for (int i = 0; i < 2; i++) {
            if (split[i].length() < context + 1) {
                throw new java.io.IOException(String.format("%s: its %s is %,d bytes, shorter than one window of --ctx %d + 1 bytes; "
                        + "use a longer file or a smaller --ctx", data, part[i], split[i].length(), context));
            }
        }
    }

    private double evalLoss(Trainer trainer, AdditionTask task, ByteDataset[] split, int context) {
        List<Batch> batches = new ArrayList<>();
        int perBatch = Math.min(64, evalExamples);
        if (task == null) perBatch = Math.min(perBatch, split[1].sequentialWindows(context));
        if (perBatch == 0) {
            throw new IllegalStateException(data + ": the held-out last 10% is shorter than one window of " + (context + 1) + " bytes");
        }
        int n = Math.max(1, evalExamples / perBatch);
        if (task != null) {
            for (int i = 0; i < n; i++) batches.add(task.evalBatch(i, perBatch));
        } else {
            int available = split[1].sequentialBatches(perBatch, context);
            for (int i = 0; i < Math.min(n, available); i++) batches.add(split[1].sequentialBatch(i, perBatch, context));
        }
        return trainer.evalLoss(batches);
    }

    private ProgressBar progressBar(int total, long start) {
        if (noProgress) return null;
        ProgressBar bar = new ProgressBarBuilder().setTaskName("train").setInitialMax(total).setStyle(ProgressBarStyle.ASCII)
                .setUpdateIntervalMillis(250).continuousUpdate().build();
        bar.stepTo(start);
        return bar;
    }

    private void log(String fmt, Object... args) {
        System.err.println(String.format(fmt, args));
    }
}
