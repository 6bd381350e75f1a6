package dev.memwall.sharding.shm;

import dev.memwall.sharding.JoinRefusedException;
import dev.memwall.sharding.LaunchEnvironment;
import dev.memwall.sharding.ProcessGroup;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Who may join a job: the environment contract, the token, the run directory's and segments' permissions. */
class ShmJoinTest {
    private static final ShmOptions OPTIONS = ShmOptions.DEFAULTS.withSlotFloats(64);
    /** For the tests where a rank is expected to wait for a peer that never comes. */
    private static final ShmOptions QUICK_JOIN = OPTIONS.withTimeouts(1_500, 60_000);
    /** For the rank that must still be waiting when the refused one arrives, on a loaded machine. */
    private static final ShmOptions PATIENT_JOIN = OPTIONS.withTimeouts(5_000, 60_000);

    @Test
    void segmentsAreOwnerOnlyCarryTheTokenInTheirNameAndAreRemovedOnClose() throws Exception {
        try (TestJob job = new TestJob()) {
            List<ShmProcessGroup> g = job.join(2, OPTIONS);
            assertThat(job.files()).hasSize(2);
            for (ShmProcessGroup group : g) {
                Path f = group.segmentFile();
                assertThat(f.getParent()).isEqualTo(job.runDir);
                assertThat(f.getFileName().toString()).contains(job.jobId);
                assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(f))).isEqualTo("rw-------");
            }
            g.forEach(ShmProcessGroup::close);
            assertThat(job.files()).isEmpty();
        }
    }

    @Test
    void aProcessWithAnotherTokenIsRefused() throws Exception {
        try (TestJob job = new TestJob()) {
            CompletableFuture<ShmProcessGroup> rank0 = CompletableFuture.supplyAsync(
                    () -> ShmProcessGroup.join(job.env(0, 2), PATIENT_JOIN));
            while (job.files().isEmpty()) Thread.sleep(1);
            LaunchEnvironment intruder = new LaunchEnvironment(1, 2, 1, TestJob.newToken(), job.runDir);
            assertThatThrownBy(() -> ShmProcessGroup.join(intruder, QUICK_JOIN)).isInstanceOf(JoinRefusedException.class)
                    .hasMessageContaining("job token mismatch").hasMessageContaining(intruder.jobId());
            // Rank 0 never got a peer and gives up at its join timeout, removing its segment.
            assertThatThrownBy(rank0::join).hasCauseInstanceOf(JoinRefusedException.class)
                    .hasMessageContaining("ranks [1] of job " + job.jobId + " did not join");
            assertThat(job.files()).isEmpty();
        }
    }

    @Test
    void aSegmentUnderTheJobsNameButWithAnotherTokenInsideIsRefused() throws Exception {
        try (TestJob job = new TestJob()) {
            byte[] otherToken = HexFormat.of().parseHex(TestJob.newToken());
            Path forged = new SegmentDirectory(job.runDir, job.jobId).segment(1);
            try (Segment s = Segment.create(forged, 2, 1, 64, otherToken)) {
                assertThatThrownBy(() -> ShmProcessGroup.join(job.env(0, 2), QUICK_JOIN))
                        .isInstanceOf(JoinRefusedException.class).hasMessageContaining("job token mismatch")
                        .hasMessageContaining(HexFormat.of().formatHex(otherToken));
                assertThat(s.file).exists();
            }
        }
    }

    @Test
    void theEnvironmentContractIsCheckedVariableByVariable() {
        try (TestJob job = new TestJob()) {
            Map<String, String> noToken = job.variables(0, 2);
            noToken.remove("MEMWALL_JOB_ID");
            assertThatThrownBy(() -> ProcessGroup.fromEnvironment(noToken)).isInstanceOf(JoinRefusedException.class)
                    .hasMessageContaining("MEMWALL_JOB_ID is not set");
            Map<String, String> badToken = job.variables(0, 2);
            badToken.put("MEMWALL_JOB_ID", "1234");
            assertThatThrownBy(() -> ProcessGroup.fromEnvironment(badToken)).hasMessageContaining("32 lower-case hex");
            Map<String, String> badRank = job.variables(2, 2);
            assertThatThrownBy(() -> ProcessGroup.fromEnvironment(badRank)).hasMessageContaining("RANK=2 is not in [0, WORLD_SIZE=2)");
            Map<String, String> notANumber = job.variables(0, 2);
            notANumber.put("WORLD_SIZE", "two");
            assertThatThrownBy(() -> ProcessGroup.fromEnvironment(notANumber)).hasMessageContaining("WORLD_SIZE='two'");
            assertThat(job.files()).as("nothing created by a refused process").isEmpty();
            try (ProcessGroup single = ProcessGroup.fromEnvironment(Map.of())) {
                assertThat(single.worldSize()).isEqualTo(1);
                assertThat(single.backend()).isEqualTo("none");
            }
        }
    }

    @Test
    void aRunDirectoryOthersCanOpenIsRefused() throws Exception {
        try (TestJob job = new TestJob()) {
            Files.setPosixFilePermissions(job.runDir, PosixFilePermissions.fromString("rwxr-x---"));
            assertThatThrownBy(() -> ShmProcessGroup.join(job.env(0, 2), QUICK_JOIN))
                    .isInstanceOf(JoinRefusedException.class).hasMessageContaining("rwxr-x---")
                    .hasMessageContaining("owner-only");
            assertThat(job.files()).isEmpty();
        }
    }

    @Test
    void twoWorkersWithTheSameRankAreRefused() {
        try (TestJob job = new TestJob()) {
            CompletableFuture<ShmProcessGroup> first = CompletableFuture.supplyAsync(
                    () -> ShmProcessGroup.join(job.env(0, 2), PATIENT_JOIN));
            while (job.files().isEmpty()) Thread.onSpinWait();
            assertThatThrownBy(() -> ShmProcessGroup.join(job.env(0, 2), QUICK_JOIN))
                    .isInstanceOf(JoinRefusedException.class).hasMessageContaining("rank 0 of job " + job.jobId
                            + " has already joined");
            assertThatThrownBy(first::join).hasCauseInstanceOf(JoinRefusedException.class);
        }
    }
}
