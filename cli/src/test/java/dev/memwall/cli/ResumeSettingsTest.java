package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code train --resume} continues the run as it was saved: options left out take the run's values, options given
 * with other values are argument errors naming both, and a longer --steps keeps the run's learning-rate schedule.
 * {@code train --save} into a directory that holds a run is refused unless it is resumed or --overwrite is given.
 */
class ResumeSettingsTest {
    /** Every recorded option away from its default, so that "took the default" and "took the run's" differ. */
    static final String[] RUN = {"train", "--steps", "3", "--dim", "16", "--layers", "1", "--heads", "2", "--batch", "4",
            "--accum", "2", "--lr", "0.01", "--warmup", "2", "--clip", "0.5", "--seed", "3", "--digits", "2",
            "--eval-examples", "8", "--eval-every", "0", "--no-progress"};

    @TempDir
    Path dir;
    Path run;

    @BeforeEach
    void saveARun() {
        run = dir.resolve("run");
        ok(CliRunner.args(RUN, "--save", run.toString()));
    }

    private static CliRunner.Result ok(String... args) {
        CliRunner.Result r = CliRunner.run(args);
        assertThat(r.exit()).as("%s", r).isZero();
        return r;
    }

    private static String[] twoSteps() {
        String[] a = RUN.clone();
        a[2] = "2"; // --steps
        return a;
    }

    private JsonNode state(String step) throws IOException {
        return CliRunner.MAPPER.readTree(run.resolve(step).resolve("state.json").toFile());
    }

    @Test
    void optionsLeftOutTakeTheRunsValues() throws IOException {
        CliRunner.Result r = ok("train", "--resume", run.toString(), "--save", run.toString(), "--steps", "4", "--no-progress",
                "--eval-every", "0", "--eval-examples", "8");
        assertThat(r.errLines().get(0)).as("%s", r).startsWith("model: GPT L1 D16 H2 ctx").contains("batch 4 × 2 accumulated")
                .contains("addition task (2 digits)");
        JsonNode extra = state("step-000004").get("extra");
        assertThat(extra.get("lr").asDouble()).isEqualTo(0.01);
        assertThat(extra.get("warmup").asInt()).isEqualTo(2);
        assertThat(extra.get("batch").asInt()).isEqualTo(4);
        assertThat(extra.get("accum").asInt()).isEqualTo(2);
        assertThat(extra.get("clip").asDouble()).isEqualTo(0.5);
        assertThat(extra.get("seed").asLong()).isEqualTo(3);
        assertThat(extra.get("digits").asInt()).isEqualTo(2);
        // Without --steps the run goes on to the steps it was started with: nothing left here.
        r = ok("train", "--resume", run.toString(), "--no-progress", "--json");
        assertThat(r.lastJson().get("steps").asInt()).isEqualTo(4);
    }

    @Test
    void optionsThatDisagreeWithTheRunAreArgumentErrorsNamingBothValues() throws IOException {
        Path text = Files.writeString(dir.resolve("t.txt"), "some text ".repeat(100));
        String[][] cases = {
                {"--lr", "0.001", "--lr 0.001 disagrees with the run's 0.01"},
                {"--warmup", "7", "--warmup 7 disagrees with the run's 2"},
                {"--batch", "8", "--batch 8 disagrees with the run's 4"},
                {"--accum", "1", "--accum 1 disagrees with the run's 2"},
                {"--dim", "32", "--dim 32 disagrees with the run's 16"},
                {"--layers", "2", "--layers 2 disagrees with the run's 1"},
                {"--heads", "4", "--heads 4 disagrees with the run's 2"},
                {"--ctx", "40", "--ctx 40 disagrees with the run's "},
                {"--digits", "3", "--digits 3 disagrees with the run's 2"},
                {"--clip", "1", "--clip 1 disagrees with the run's 0.5"},
                {"--seed", "0", "--seed 0 disagrees with the run's 3"},
                {"--data", text.toString(), "--data " + text + " disagrees with the run's addition task"},
        };
        for (String[] c : cases) {
            CliRunner.Result r = CliRunner.run("train", "--resume", run.toString(), "--no-progress", c[0], c[1]);
            assertThat(r.exit()).as("%s", r).isEqualTo(2);
            assertThat(r.err()).as("%s", r).contains(c[2]).contains(run.resolve("step-000003").resolve("state.json").toString());
        }
        // The same values as the run's are fine.
        ok(CliRunner.args(RUN, "--resume", run.toString()));
    }

    /** The 3-step run's schedule ends at lr/10; resuming with --steps 5 continues there instead of starting a new warm-up. */
    @Test
    void aLongerRunKeepsTheSavedSchedule() throws IOException {
        String[] five = RUN.clone();
        five[2] = "5"; // --steps
        CliRunner.Result r = ok(CliRunner.args(five, "--resume", run.toString(), "--save", run.toString()));
        assertThat(state("step-000005").get("lr").asDouble()).isEqualTo(0.01 / 10);
        assertThat(r.err()).contains("--steps 5 extends the run's 3-step learning-rate schedule");
        assertThat(state("step-000005").get("extra").get("schedule_steps").asInt()).isEqualTo(3);
    }

    /** A checkpoint from before --warmup and --clip were recorded still resumes, and says what it assumed. */
    @Test
    void aCheckpointWithoutTheNewerSettingsStillResumes() throws IOException {
        Path stateFile = run.resolve("step-000003").resolve("state.json");
        ObjectNode state = (ObjectNode) CliRunner.MAPPER.readTree(stateFile.toFile());
        ((ObjectNode) state.get("extra")).remove(java.util.List.of("warmup", "clip", "schedule_steps"));
        CliRunner.MAPPER.writeValue(stateFile.toFile(), state);
        CliRunner.Result r = ok("train", "--resume", run.toString(), "--steps", "4", "--no-progress", "--warmup", "2", "--clip", "0.5");
        assertThat(r.err()).contains("does not record --warmup; using 2").contains("does not record --clip; using 0.5");
    }

    @Test
    void saveIntoADirectoryHoldingARunIsRefusedUnlessResumedOrOverwritten() throws IOException {
        byte[] model = Files.readAllBytes(run.resolve("step-000003").resolve("model.safetensors"));
        CliRunner.Result r = CliRunner.run(CliRunner.args(twoSteps(), "--save", run.toString()));
        assertThat(r.exit()).as("%s", r).isEqualTo(2);
        assertThat(r.err()).contains("--save " + run + " already holds a run").contains("--resume " + run).contains("--overwrite");
        assertThat(Files.readString(run.resolve("latest")).trim()).isEqualTo("step-000003");
        assertThat(Files.readAllBytes(run.resolve("step-000003").resolve("model.safetensors"))).isEqualTo(model);

        ok(CliRunner.args(twoSteps(), "--save", run.toString(), "--overwrite"));
        assertThat(Files.readString(run.resolve("latest")).trim()).isEqualTo("step-000002");
        assertThat(run.resolve("step-000003")).doesNotExist();

        r = CliRunner.run(CliRunner.args(RUN, "--resume", run.toString(), "--save", run.toString(), "--overwrite"));
        assertThat(r.exit()).as("%s", r).isEqualTo(2);
        assertThat(r.err()).contains("--overwrite would delete the run");
        assertThat(CliRunner.run(CliRunner.args(RUN, "--overwrite")).err()).contains("--overwrite needs --save");
        // Nothing to overwrite is fine too: a script may always pass --overwrite.
        ok(CliRunner.args(twoSteps(), "--save", dir.resolve("new").toString(), "--overwrite"));
        assertThat(Files.readString(dir.resolve("new").resolve("latest")).trim()).isEqualTo("step-000002");
    }
}
