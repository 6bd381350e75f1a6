package dev.memwall.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

import java.io.IOException;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What every command tells before it runs: the model in its first line (train's defaults differ from bench's and
 * compare-memory's under the same option names), every default in --help, and --checkpoint (activation
 * recomputation) kept apart from --save/--resume (training state).
 */
class CommandSurfaceTest {
    @TempDir
    Path dir;

    private static String firstErrLine(CliRunner.Result r) {
        assertThat(r.exit()).as("%s", r).isZero();
        return r.errLines().get(0);
    }

    @Test
    void everyCommandNamesItsModelInItsFirstLine() throws IOException {
        CliRunner.Result train = CliRunner.run(CliRunner.args(TrainCommandTest.SMALL, "--json"));
        assertThat(firstErrLine(train)).isEqualTo("model: GPT L1 D16 H2 ctx13 vocab256, 11.7K params, batch 4; addition task (3 digits), 3 steps");
        assertThat(train.outLines()).as("--json keeps stdout one JSON object").hasSize(1);

        CliRunner.Result bench = CliRunner.run("bench", "--layers", "1", "--dim", "32", "--heads", "2", "--batch", "2", "--ctx", "16",
                "--warmup", "0", "--steps", "1", "--no-sgemm-peak");
        assertThat(firstErrLine(bench)).startsWith("model: GPT L1 D32 H2 ctx16 vocab256, ").contains(", batch 2;");

        CliRunner.Result compare = CliRunner.run("compare-memory", "--layers", "3", "--dim", "32", "--heads", "2", "--ctx", "16",
                "--batch", "2", "--warmup", "0", "--steps", "1", "--rounds", "1", "--json");
        assertThat(firstErrLine(compare)).startsWith("model: GPT L3 D32 H2 ctx16 vocab256, ").contains(", batch 2;");

        Path weights = dir.resolve("w.safetensors"), data = dir.resolve("d.bin");
        TinyGptFiles.writeRandomGpt(weights, new dev.memwall.nn.GptConfig(32, 8, 8, 2, 1, 0f), 1);
        TinyGptFiles.writeRandomBytes(data, 50, 32, 2);
        CliRunner.Result eval = CliRunner.run("eval", "--weights", weights.toString(), "--data", data.toString(), "--heads", "2",
                "--ctx", "4", "--json");
        assertThat(firstErrLine(eval)).startsWith("model: GPT L1 D8 H2 ctx8 vocab32, ").contains("12 windows of 4 bytes");
    }

    /** Each command's help states the default model, and it is the one its options default to. */
    @Test
    void helpStatesEachDefault() {
        TrainCommand train = new TrainCommand();
        ModelOptions bench = new ModelOptions();
        assertThat(CliRunner.run("train", "--help").out()).contains(String.format("L%d D%d H%d, batch %d",
                train.layers, train.dim, train.heads, train.batch));
        for (String command : new String[]{"bench", "compare-memory", "compare-sharding", "profile"}) {
            assertThat(CliRunner.run(command, "--help").out()).as(command).contains(String.format("L%d D%d H%d ctx%d, batch %d",
                    bench.layers, bench.dim, bench.heads, bench.ctx, bench.batch));
        }
        CommandLine main = new CommandLine(new Main());
        for (CommandLine sub : main.getSubcommands().values()) {
            for (OptionSpec o : sub.getCommandSpec().options()) {
                if (o.usageHelp() || o.versionHelp() || o.required() || o.type() == boolean.class) continue;
                if (o.initialValue() == null && !sub.getCommandName().equals("eval")) continue;
                String text = String.join(" ", o.description());
                assertThat(text).as("%s %s", sub.getCommandName(), o.longestName()).contains("default");
            }
        }
    }

    @Test
    void aCheckpointValueThatLooksLikeADirectoryPointsToSave() {
        CliRunner.Result r = CliRunner.run("train", "--checkpoint", "runs/a", "--steps", "1", "--no-progress");
        assertThat(r.exit()).as("%s", r).isEqualTo(2);
        assertThat(r.err()).contains("did you mean --save runs/a?");
        r = CliRunner.run("bench", "--checkpoint", dir.toString());
        assertThat(r.exit()).as("%s", r).isEqualTo(2);
        assertThat(r.err()).contains("did you mean train --save " + dir + "?");
        r = CliRunner.run("train", "--checkpoint", "HALF", "--steps", "1", "--no-progress");
        assertThat(r.exit()).as("%s", r).isEqualTo(2);
        assertThat(r.err()).contains("--checkpoint").doesNotContain("did you mean");

        String help = CliRunner.run("train", "--help").out().replaceAll("\\s+", " ");
        assertThat(help).contains("--checkpoint=POLICY activation checkpointing").contains("not saved training state");
        assertThat(help).contains("--save=DIR save the training state").contains("--resume=DIR continue the run saved in DIR by --save");
    }
}
