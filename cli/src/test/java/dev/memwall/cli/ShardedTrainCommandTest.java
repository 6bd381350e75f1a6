package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.memwall.train.ZeroStage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code train --zero} as the launcher runs it: one JVM per rank with the launcher's environment, each printing its
 * own {@code --json} summary, against the single-process run of the same command.
 */
@Timeout(600)
class ShardedTrainCommandTest {
    static final String[] MODEL = {"train", "--steps", "4", "--dim", "32", "--layers", "1", "--heads", "2",
            "--digits", "2", "--eval-every", "0", "--eval-examples", "32", "--no-progress", "--json"};
    static final String[] RUN = CliRunner.args(MODEL, "--batch", "8");

    @Test
    void aSingleProcessSummaryHasTheShardingFields() {
        for (int stage : new int[] {0, 1, 2, 3}) {
            CliRunner.Result r = CliRunner.run(CliRunner.args(RUN, "--zero", Integer.toString(stage)));
            assertThat(r.exit()).as("%s", r).isZero();
            JsonNode j = r.lastJson();
            long psi = j.get("params").asLong();
            assertThat(j.get("rank").asInt()).isZero();
            assertThat(j.get("world_size").asInt()).isEqualTo(1);
            assertThat(j.get("backend").asText()).isEqualTo("none");
            assertThat(j.get("zero_stage").asInt()).isEqualTo(stage);
            assertThat(psi).isPositive();
            assertThat(j.get("model_state_bytes").asLong()).as("16Ψ on one rank at any stage").isEqualTo(16 * psi);
            assertThat(j.get("comm_bytes_sent_per_step").asLong()).isZero();
            assertThat(j.get("comm_bytes_received_per_step").asLong()).isZero();
        }
    }

    @Test
    void anUnknownStageIsAnArgumentError() {
        CliRunner.Result r = CliRunner.run(CliRunner.args(RUN, "--zero", "4"));
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err()).contains("--zero: ZeRO stage 4 is not available; choose 0 to 3");
    }

    @Test
    void twoWorkerJvmsMatchOneProcessAndReportTheirShareOfTheState() throws Exception {
        for (int stage : new int[] {0, 1, 2, 3}) {
            String[] args = CliRunner.args(RUN, "--zero", Integer.toString(stage));
            JsonNode single = CliRunner.run(args).lastJson();
            List<JsonNode> ranks = workers(2, args);
            long psi = single.get("params").asLong();
            double state = ZeroStage.of(stage).modelStateBytes(psi, 2), comm = ZeroStage.of(stage).commBytesPerStep(psi, 2);
            for (int r = 0; r < 2; r++) {
                JsonNode j = ranks.get(r);
                String what = "stage " + stage + " rank " + r + ": " + j;
                assertThat(j.get("rank").asInt()).as(what).isEqualTo(r);
                assertThat(j.get("world_size").asInt()).as(what).isEqualTo(2);
                assertThat(j.get("backend").asText()).as(what).isEqualTo("shm");
                assertThat(j.get("zero_stage").asInt()).as(what).isEqualTo(stage);
                assertThat(j.get("params").asLong()).as(what).isEqualTo(psi);
                assertThat(j.get("model_state_bytes").asDouble()).as(what).isBetween(state * 0.99, state * 1.01);
                assertThat(j.get("comm_bytes_sent_per_step").asDouble()).as(what).isBetween(comm, comm * 1.01);
                assertThat(j.get("comm_bytes_received_per_step").asDouble()).as(what).isBetween(comm, comm * 1.01);
                if (stage >= 2) {
                    // overlap: the gradient reduce-scatters (half the volume; stage 3: with the backward gathers, two
                    // thirds) were issued while the phase was BACKWARD
                    double inBackward = stage == 2 ? comm / 2 : comm * 2 / 3;
                    assertThat(j.get("comm_bytes_sent_in_backward_per_step").asDouble()).as(what).isBetween(inBackward * 0.99, inBackward * 1.01);
                    assertThat(j.get("comm_hidden_fraction").asDouble()).as(what).isBetween(0.0, 1.0);
                } else {
                    // only the micro-batch losses' all-reduce (a few floats) ends the backward phase
                    assertThat(j.get("comm_bytes_sent_in_backward_per_step").asLong()).as(what).isLessThanOrEqualTo(16);
                    assertThat(j.has("comm_hidden_fraction")).as(what).isFalse();
                }
                double loss = single.get("final_loss").asDouble();
                assertThat(Math.abs(j.get("final_loss").asDouble() - loss)).as(what).isLessThanOrEqualTo(1e-5 * loss);
                double eval = single.get("eval_loss").asDouble();
                assertThat(Math.abs(j.get("eval_loss").asDouble() - eval)).as(what).isLessThanOrEqualTo(1e-5 * eval);
                assertThat(j.get("eval_accuracy")).as(what).isEqualTo(single.get("eval_accuracy"));
                for (String same : new String[] {"final_loss", "eval_loss", "eval_accuracy"}) {
                    assertThat(j.get(same)).as("%s: %s the same on every rank", what, same).isEqualTo(ranks.get(0).get(same));
                }
            }
        }
    }

    @Test
    void aWorkerRefusesAnUnevenBatchBeforeJoining() throws Exception {
        // A single worker of a world of 2: it must fail on its arguments at once, not wait for a peer that never comes.
        Path dir = Files.createTempDirectory("memwall-save-");
        try {
            Process p = start(0, 2, newToken(), dir, CliRunner.args(MODEL, "--batch", "7"));
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("exits without waiting for rank 1").isTrue();
            String err = stderr(p);
            assertThat(p.exitValue()).as(err).isEqualTo(2);
            assertThat(err).contains("--batch 7 does not split evenly over world size 2");
        } finally {
            delete(dir);
        }
    }

    /**
     * Stage 3 under a BUDGET plan: every rank profiles its shards (a collective), rank 0 plans and every rank installs
     * its plan; the plan counts what a stage-3 rank holds (shards, gathered units, gradient buffers), so each rank's
     * measured peak stays within the budget, here the smallest feasible one, which rank 0 names on every rank.
     */
    @Test
    void stageThreeTrainsUnderTheBudgetPlanOfRankZero() throws Exception {
        String[] twoBlocks = RUN.clone();
        twoBlocks[List.of(RUN).indexOf("--layers") + 1] = "2";
        String[] model = CliRunner.args(twoBlocks, "--zero", "3");
        long smallest = smallestFeasibleBudget(CliRunner.args(model, "--checkpoint", "BUDGET(1)"));
        List<JsonNode> ranks = workers(2, CliRunner.args(model, "--checkpoint", "BUDGET(" + smallest + ")"));
        JsonNode single = CliRunner.run(twoBlocks).lastJson();
        String plan = ranks.get(0).get("checkpoint").asText();
        assertThat(plan).startsWith("BUDGET(" + smallest + "): ").containsAnyOf("recompute", "selective");
        for (int r = 0; r < 2; r++) {
            JsonNode j = ranks.get(r);
            String what = "rank " + r + ": " + j;
            assertThat(j.get("checkpoint").asText()).as("%s: rank 0's plan", what).isEqualTo(plan);
            assertThat(j.get("peak_bytes").get("total").asLong()).as("%s: measured peak within the budget", what).isLessThanOrEqualTo(smallest);
            double loss = single.get("final_loss").asDouble(), eval = single.get("eval_loss").asDouble();
            assertThat(Math.abs(j.get("final_loss").asDouble() - loss)).as(what).isLessThanOrEqualTo(1e-5 * loss);
            assertThat(Math.abs(j.get("eval_loss").asDouble() - eval)).as(what).isLessThanOrEqualTo(1e-5 * eval);
        }
    }

    /** Both ranks refuse a budget nothing fits, naming the same smallest feasible budget (rank 0's); returns it. */
    private static long smallestFeasibleBudget(String[] args) throws Exception {
        Path dir = Files.createTempDirectory("memwall-run-");
        String token = newToken();
        try {
            List<Process> ps = List.of(start(0, 2, token, dir, args), start(1, 2, token, dir, args));
            java.util.Set<String> named = new java.util.HashSet<>();
            for (Process p : ps) {
                assertThat(p.waitFor(300, TimeUnit.SECONDS)).isTrue();
                String err = stderr(p);
                assertThat(p.exitValue()).as(err).isEqualTo(2);
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("the smallest feasible budget is ([0-9,]+) bytes").matcher(err);
                assertThat(m.find()).as(err).isTrue();
                named.add(m.group(1));
            }
            assertThat(named).as("every rank names rank 0's figure").hasSize(1);
            return Long.parseLong(named.iterator().next().replace(",", ""));
        } finally {
            delete(dir);
        }
    }

    @Test
    void workersDivideTheCoresAmongThemUnlessTold() {
        assertThat(WorkerThreads.threadsFor(Map.of(), 8, null)).isNull();
        assertThat(WorkerThreads.threadsFor(Map.of("WORLD_SIZE", "1"), 8, null)).isNull();
        assertThat(WorkerThreads.threadsFor(Map.of("WORLD_SIZE", "4"), 8, null)).isEqualTo("2");
        assertThat(WorkerThreads.threadsFor(Map.of("WORLD_SIZE", "4"), 2, null)).isEqualTo("1");
        assertThat(WorkerThreads.threadsFor(Map.of("WORLD_SIZE", "4"), 8, "3")).isNull();
    }

    /** Starts n worker JVMs as the launcher would and returns each rank's last stdout line as JSON, in rank order. */
    static List<JsonNode> workers(int n, String[] args) throws Exception {
        Path runDir = Files.createTempDirectory(Path.of(Files.isWritable(Path.of("/dev/shm")) ? "/dev/shm" : System.getProperty("java.io.tmpdir")),
                "memwall-cli-test-", PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        String token = newToken();
        List<Process> ps = new ArrayList<>();
        try {
            for (int r = 0; r < n; r++) ps.add(start(r, n, token, runDir, args));
            List<JsonNode> out = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                Process p = ps.get(r);
                String stdout = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertThat(p.waitFor(300, TimeUnit.SECONDS)).as("rank %d finished", r).isTrue();
                assertThat(p.exitValue()).as("rank %d: %s", r, stderr(p)).isZero();
                String[] lines = stdout.strip().split("\\R");
                out.add(CliRunner.MAPPER.readTree(lines[lines.length - 1]));
            }
            return out;
        } finally {
            ps.forEach(Process::destroyForcibly);
            delete(runDir);
        }
    }

    static Process start(int rank, int n, String token, Path runDir, String[] args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        // stderr to a file: a worker's log must not fill a pipe nobody reads while the test reads another rank
        Path err = Files.createTempFile("memwall-rank" + rank + "-", ".err");
        pb.redirectError(err.toFile());
        Map<String, String> env = pb.environment();
        env.put("RANK", Integer.toString(rank));
        env.put("WORLD_SIZE", Integer.toString(n));
        env.put("LOCAL_RANK", Integer.toString(rank));
        env.put("MEMWALL_JOB_ID", token);
        env.put("MEMWALL_RUN_DIR", runDir.toString());
        Process p = pb.start();
        errFiles.put(p, err);
        return p;
    }

    /** What the worker wrote to its stderr file (which is then deleted). */
    static String stderr(Process p) throws IOException {
        Path f = errFiles.remove(p);
        String s = Files.readString(f);
        Files.deleteIfExists(f);
        return s;
    }

    private static final Map<Process, Path> errFiles = new java.util.concurrent.ConcurrentHashMap<>();

    static String newToken() {
        return HexFormat.of().formatHex(new SecureRandom().generateSeed(16));
    }

    static void delete(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
