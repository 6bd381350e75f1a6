package dev.memwall.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code memwall} command. Exit codes: 0 success, 1 a bad file or a failed run (one line naming the file and
 * the problem; the stack trace only with --verbose), 2 bad arguments (usage is printed).
 */
@Command(name = "memwall", mixinStandardHelpOptions = true, version = "memwall 0.1.0",
        description = "Train neural networks when memory, not arithmetic, is the bottleneck.",
        subcommands = {TrainCommand.class, BenchCommand.class, EvalCommand.class, GenerateCommand.class, CompareMemoryCommand.class,
                CompareShardingCommand.class, CompareOptimizersCommand.class, ComparePrecisionCommand.class, SweepCommand.class, ProfileCommand.class, LaunchCommand.class, ConsolidateCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a subcommand is required (train, bench, eval, generate, compare-memory, compare-sharding, compare-optimizers, compare-precision, sweep, profile, launch, consolidate)");
    }

    public static void main(String[] args) {
        dev.memwall.sharding.launch.LauncherWatch.install(); // a worker of `memwall launch` ends with its launcher
        WorkerThreads.configure(System.getenv());
        System.exit(run(args));
    }

    /** Runs the command line and returns the exit code (tests call this instead of {@link #main}). */
    public static int run(String... args) {
        CommandLine cl = new CommandLine(new Main());
        LaunchCommand.configure(cl);
        boolean verbose = false;
        for (String a : args) verbose |= a.equals("--verbose");
        boolean trace = verbose;
        // picocli's own handler prints "Did you mean ...?" instead of the usage when a misspelt word resembles a
        // command; print both, so every argument error shows the usage.
        cl.setParameterExceptionHandler((ex, ignored) -> {
            CommandLine cmd = ex.getCommandLine();
            cmd.getErr().println(ex.getMessage());
            CommandLine.UnmatchedArgumentException.printSuggestions(ex, cmd.getErr());
            cmd.usage(cmd.getErr(), cmd.getColorScheme());
            return cmd.getCommandSpec().exitCodeOnInvalidInput();
        });
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            OutOfMemoryError oom = outOfMemory(ex);
            if (oom != null) return outOfMemory(oom, cmd.getErr(), trace);
            if (trace) ex.printStackTrace(cmd.getErr());
            else cmd.getErr().println("memwall: " + CliErrors.describe(ex));
            return 1;
        });
        // Each run counts its own memory, as a fresh process would, also when called repeatedly in one JVM.
        try (var tracker = dev.memwall.memory.MemoryTracker.install(new dev.memwall.memory.MemoryTracker())) {
            return cl.execute(args);
        } catch (OutOfMemoryError e) { // an Error passes through picocli's handler; the failed run's objects are garbage now
            return outOfMemory(e, cl.getErr(), verbose);
        }
    }

    private static int outOfMemory(OutOfMemoryError e, java.io.PrintWriter err, boolean verbose) {
        if (verbose) e.printStackTrace(err);
        err.println("memwall: " + OutOfMemoryAdvice.describe(e));
        err.flush();
        return 1;
    }

    /** The heap exhaustion behind {@code ex}, also when a kernel thread's failure arrives wrapped. */
    private static OutOfMemoryError outOfMemory(Throwable ex) {
        for (Throwable t = ex; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof OutOfMemoryError oom) return oom;
        }
        return null;
    }
}
