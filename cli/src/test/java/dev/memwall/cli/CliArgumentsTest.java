package dev.memwall.cli;

import dev.memwall.nn.GptConfig;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Exit codes and messages: 2 with usage for bad arguments, 1 with exactly one "memwall: ..." line naming the file for
 * bad files (a stack trace only with --verbose).
 */
class CliArgumentsTest {
    @TempDir
    static Path dir;
    static Path weights, data;

    @BeforeAll
    static void files() throws IOException {
        weights = dir.resolve("tiny.safetensors");
        data = dir.resolve("tiny.bin");
        TinyGptFiles.writeRandomGpt(weights, new GptConfig(32, 8, 8, 2, 1, 0f), 1);
        TinyGptFiles.writeRandomBytes(data, 200, 32, 2);
    }

    private static String[] eval(Path w, Path d, String... more) {
        return CliRunner.args(new String[]{"eval", "--weights", w.toString(), "--data", d.toString(), "--heads", "2",
                "--ctx", "4", "--batch", "2", "--batches", "2"}, more);
    }

    // ------------------------------------------------------------------ bad arguments: exit 2 and usage

    private static CliRunner.Result usageError(String... args) {
        CliRunner.Result r = CliRunner.run(args);
        assertThat(r.exit()).as("%s", r).isEqualTo(2);
        assertThat(r.err()).as("%s", r).contains("Usage: memwall");
        assertThat(r.err()).as("no stack trace: %s", r).doesNotContain("at dev.memwall").doesNotContain("at picocli");
        return r;
    }

    @Test
    void unknownOption() {
        assertThat(usageError("train", "--bogus").err()).contains("--bogus");
    }

    @Test
    void unknownSubcommand() {
        assertThat(usageError("xyzzy").err()).contains("xyzzy");
        // a name close to a command gets picocli's suggestion in place of the usage
        CliRunner.Result near = CliRunner.run("frobnicate");
        assertThat(near.exit()).isEqualTo(2);
        assertThat(near.err()).contains("frobnicate").contains("Did you mean: memwall generate or memwall consolidate or memwall profile?").contains("Usage: memwall");
    }

    @Test
    void noSubcommand() {
        assertThat(usageError().err()).contains("subcommand");
    }

    @Test
    void negativeSteps() {
        assertThat(usageError("train", "--steps", "-1").err()).contains("--steps").contains("Usage: memwall train");
    }

    @Test
    void dimNotDivisibleByHeads() {
        assertThat(usageError("train", "--dim", "30", "--heads", "4").err()).contains("--dim 30").contains("not divisible");
    }

    @Test
    void memoryChartWithWrongExtension() {
        CliRunner.Result r = usageError("train", "--memory-chart", dir.resolve("out.txt").toString());
        assertThat(r.err()).contains("out.txt").contains(".png").contains(".svg");
        assertThat(dir.resolve("out.txt")).doesNotExist();
    }

    @Test
    void benchZeroSteps() {
        assertThat(usageError("bench", "--steps", "0").err()).contains("--steps").contains("Usage: memwall bench");
    }

    @Test
    void benchDimNotDivisibleByHeads() {
        assertThat(usageError("bench", "--dim", "30", "--heads", "4").err()).contains("not divisible");
    }

    @Test
    void evalMissingRequiredOptions() {
        CliRunner.Result r = usageError("eval");
        assertThat(r.err()).contains("Missing required option").contains("--weights");
        r = usageError("eval", "--weights", weights.toString(), "--data", data.toString());
        assertThat(r.err()).contains("bare weights file: give --heads and --ctx");
    }

    @Test
    void evalZeroBatch() {
        String[] args = eval(weights, data);
        args[Arrays.asList(args).indexOf("--batch") + 1] = "0";
        assertThat(usageError(args).err()).contains("must be positive").contains("Usage: memwall eval");
    }

    @Test
    void evalNonNumericOption() {
        assertThat(usageError(eval(weights, data, "--heads", "two")).err()).contains("two");
    }

    // ------------------------------------------------------------------ bad files: exit 1, one line naming the file

    private static CliRunner.Result fileError(String mustName, String... args) {
        CliRunner.Result r = CliRunner.run(args);
        assertThat(r.exit()).as("%s", r).isEqualTo(1);
        assertThat(r.errLines()).as("exactly one line on stderr: %s", r).hasSize(1);
        String line = r.errLines().get(0);
        assertThat(line).as("%s", r).startsWith("memwall: ").contains(mustName);
        assertThat(r.err()).as("%s", r).doesNotContain("at dev.memwall").doesNotContain("Exception").doesNotContain("Usage:");
        return r;
    }

    @Test
    void trainMissingDataFile() {
        fileError("/nonexistent/corpus.txt", "train", "--data", "/nonexistent/corpus.txt", "--steps", "1", "--no-progress");
    }

    @Test
    void evalMissingWeightsFile() {
        fileError("/nonexistent/w.safetensors", eval(Path.of("/nonexistent/w.safetensors"), data));
    }

    @Test
    void evalMissingDataFile() {
        fileError("/nonexistent/data.bin", eval(weights, Path.of("/nonexistent/data.bin")));
    }

    @Test
    void evalTruncatedWeights() throws IOException {
        Path cut = dir.resolve("truncated.safetensors");
        byte[] all = Files.readAllBytes(weights);
        Files.write(cut, Arrays.copyOf(all, all.length - 100));
        fileError("truncated.safetensors", eval(cut, data));
    }

    @Test
    void evalWeightsCutInsideTheHeader() throws IOException {
        Path cut = dir.resolve("header-cut.safetensors");
        Files.write(cut, Arrays.copyOf(Files.readAllBytes(weights), 40));
        fileError("header-cut.safetensors", eval(cut, data));
    }

    @Test
    void evalGarbageWeights() throws IOException {
        Path junk = dir.resolve("garbage.safetensors");
        Files.write(junk, "this is not a safetensors file, just some text\n".repeat(5).getBytes(StandardCharsets.UTF_8));
        fileError("garbage.safetensors", eval(junk, data));
    }

    @Test
    void evalEmptyWeights() throws IOException {
        Path empty = dir.resolve("empty.safetensors");
        Files.write(empty, new byte[0]);
        fileError("empty.safetensors", eval(empty, data));
    }

    @Test
    void evalDataTooShortForAllWindows() throws IOException {
        Path shortData = dir.resolve("short.bin");
        TinyGptFiles.writeRandomBytes(shortData, 2 * 2 * 4, 32, 3); // needs B·N·T + 1 = 17 bytes
        CliRunner.Result r = fileError("short.bin", eval(weights, shortData));
        assertThat(r.err()).contains("windows");
        Files.write(shortData, Arrays.copyOf(Files.readAllBytes(shortData), 17));
        assertThat(CliRunner.run(eval(weights, shortData)).exit()).as("17 bytes are enough").isZero();
    }

    @Test
    void evalEmptyDataFile() throws IOException {
        Path empty = dir.resolve("empty.bin");
        Files.write(empty, new byte[0]);
        fileError("empty.bin", eval(weights, empty));
    }

    /** 200 bytes split 180 / 20: the held-out part holds no window of 32 + 1 bytes. Said before training, not after it. */
    @Test
    void trainDataWhoseHeldOutPartIsShorterThanOneWindow() {
        CliRunner.Result r = fileError("tiny.bin", "train", "--data", data.toString(), "--ctx", "32", "--steps", "2", "--dim", "16",
                "--layers", "1", "--heads", "2", "--batch", "2", "--no-progress");
        assertThat(r.err()).contains("held-out part (last 10%) is 20 bytes, shorter than one window of --ctx 32 + 1 bytes");
    }

    @Test
    void resumeFromEmptyDirectory() throws IOException {
        Path empty = Files.createDirectories(dir.resolve("no-checkpoints"));
        fileError("no-checkpoints", "train", "--resume", empty.toString(), "--steps", "2", "--dim", "16", "--layers", "1",
                "--heads", "2", "--batch", "2", "--no-progress");
    }

    // ------------------------------------------------------------------ --verbose: the stack trace

    @Test
    void verbosePrintsTheStackTrace() {
        CliRunner.Result r = CliRunner.run("train", "--data", "/nonexistent/corpus.txt", "--verbose");
        assertThat(r.exit()).as("%s", r).isEqualTo(1);
        assertThat(r.err()).as("%s", r).contains("/nonexistent/corpus.txt").contains("at dev.memwall");
        assertThat(r.errLines().size()).isGreaterThan(1);

        r = CliRunner.run(eval(Path.of("/nonexistent/w.safetensors"), data, "--verbose"));
        assertThat(r.exit()).as("%s", r).isEqualTo(1);
        assertThat(r.err()).as("%s", r).contains("/nonexistent/w.safetensors").contains("at dev.memwall");
    }

    @Test
    void helpAndVersionExitZero() {
        CliRunner.Result r = CliRunner.run("--help");
        assertThat(r.exit()).isZero();
        assertThat(r.out()).contains("train").contains("bench").contains("eval");
        r = CliRunner.run("--version");
        assertThat(r.exit()).isZero();
        assertThat(r.out()).contains("memwall");
    }
}
