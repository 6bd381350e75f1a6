package dev.memwall.cli;

import dev.memwall.sharding.launch.LaunchResult;
import dev.memwall.sharding.launch.Launcher;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * Runs a memwall command in N worker JVMs on this machine (torchrun-like), through {@link Launcher}. Everything after
 * COMMAND goes to the workers unparsed ({@link #configure} makes picocli stop at the first positional). With --json
 * among the command's arguments, stdout is one JSON object with every rank's summary once the workers have ended.
 */
@Command(name = "launch", mixinStandardHelpOptions = true, description = {
        "Run a memwall command in N worker JVMs on this machine, e.g. launch --nproc 2 train --steps 100.",
        "Each worker gets RANK, LOCAL_RANK, WORLD_SIZE, MEMWALL_JOB_ID, MEMWALL_RUN_DIR and -Dmemwall.threads (the cores "
                + "divided among the workers, or this JVM's -Dmemwall.threads); its output lines are prefixed with [rank k]. "
                + "When a worker fails the others are stopped (SIGTERM, then SIGKILL after --grace) and launch exits with "
                + "the failed worker's status. With --json in the command's arguments, stdout is one JSON object "
                + "{\"world_size\", \"exit_code\", \"ranks\": [each rank's JSON summary]}."})
final class LaunchCommand implements Callable<Integer> {
    @Option(names = "--nproc", required = true, paramLabel = "N", description = "number of worker JVMs")
    int nproc;
    @Option(names = "--heap", paramLabel = "SIZE", description = "each worker's heap limit (-Xmx), like 512m or 2g; "
            + "without it workers take this JVM's options")
    String heap;
    @Option(names = "--grace", paramLabel = "SECONDS", description = "how long stopped workers get between SIGTERM and SIGKILL "
            + "(default: ${DEFAULT-VALUE})")
    double grace = Launcher.DEFAULT_GRACE.toMillis() / 1000.0;
    @Parameters(index = "0", paramLabel = "COMMAND", description = "the memwall command each worker runs (train, bench, eval, ...)")
    String command;
    @Parameters(index = "1..*", paramLabel = "ARGS", description = "the command's arguments, passed on unparsed")
    List<String> args = new ArrayList<>();
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** Arguments after COMMAND belong to the workers, also those that look like launch's own options. */
    static void configure(CommandLine main) {
        main.getSubcommands().get("launch").setStopAtPositional(true);
    }

    @Override
    public Integer call() throws Exception {
        CommandLine cl = spec.commandLine();
        if (nproc < 1) throw new CommandLine.ParameterException(cl, "--nproc must be at least 1, got " + nproc);
        if (!(grace >= 0) || Double.isInfinite(grace)) throw new CommandLine.ParameterException(cl, "--grace must be zero or more seconds, got " + grace);
        List<String> commands = new ArrayList<>();
        for (String name : spec.parent().subcommands().keySet()) if (!name.equals("launch") && !name.equals("help")) commands.add(name);
        if (!commands.contains(command)) {
            throw new CommandLine.ParameterException(cl, (command.equals("launch") ? "launch cannot run launch" : "unknown command '" + command + "'")
                    + "; COMMAND is one of " + String.join(", ", commands));
        }
        checkArguments();
        List<String> workerArgs = new ArrayList<>(List.of(command));
        workerArgs.addAll(args);
        Launcher.Builder builder = Launcher.builder(Main.class.getName(), workerArgs).nproc(nproc)
                .grace(Duration.ofMillis(Math.round(grace * 1000))).collectJson(json());
        try {
            builder.heap(heap);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cl, "--heap: " + e.getMessage());
        }
        LaunchResult result = builder.build().run();
        if (json()) {
            System.out.println(Json.line(result.toJson()));
            System.out.flush();
        }
        return result.exitCode();
    }

    /** Whether the command was asked for JSON: then each rank's last JSON line is collected, not echoed. */
    private boolean json() {
        for (String a : args) {
            if (a.equals("--")) return false;
            if (a.equals("--json")) return true;
        }
        return false;
    }

    /**
     * The command's arguments are parsed here once, so a mistake is reported once (with the command's usage) instead
     * of by every worker.
     */
    private void checkArguments() {
        List<String> all = new ArrayList<>(List.of(command));
        all.addAll(args);
        try {
            new CommandLine(new Main()).parseArgs(all.toArray(String[]::new));
        } catch (CommandLine.ParameterException e) {
            throw new CommandLine.ParameterException(e.getCommandLine(), command + ": " + e.getMessage());
        }
    }
}
