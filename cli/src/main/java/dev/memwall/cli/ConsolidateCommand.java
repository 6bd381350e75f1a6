package dev.memwall.cli;

import dev.memwall.train.TrainingState;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * Writes the model of a (possibly sharded) {@code train --save} checkpoint as one safetensors file with PyTorch names,
 * which {@code eval --weights} and PyTorch ({@code safetensors.torch.load_file}) read. The manifest and every file it
 * names are validated (sizes, SHA-256) first; the output is written atomically, so a failure leaves nothing behind.
 */
@Command(name = "consolidate", mixinStandardHelpOptions = true,
        description = "Write a saved run's model (any world size) as one PyTorch-named safetensors file.")
final class ConsolidateCommand implements Callable<Integer> {
    @Parameters(paramLabel = "DIR", description = "a train --save run directory (its newest checkpoint) or one of its step directories")
    Path dir;
    @Option(names = "--out", required = true, paramLabel = "FILE", description = "the .safetensors file to write (replaced atomically)")
    Path out;
    @Option(names = "--verbose", description = "stack traces on errors")
    boolean verbose;

    @Override
    public Integer call() throws Exception {
        TrainingState.Info info = TrainingState.consolidate(dir, out);
        System.err.printf("wrote %s: the model of %s at step %d (saved by %d rank(s) at ZeRO stage %d)%n", out,
                info.directory(), info.step(), info.worldSize(), info.zeroStage());
        return 0;
    }
}
