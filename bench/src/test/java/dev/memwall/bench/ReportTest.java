package dev.memwall.bench;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ReportTest {
    @Test
    void jsonResultsAreReportedByTheMedianOfAllIterations(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("r.json");
        Files.writeString(f, """
                [{"benchmark": "dev.memwall.bench.GemmBenchmark.memwall", "mode": "avgt", "params": {"shape": "2048x256x768:NT"},
                  "primaryMetric": {"score": 9.0, "scoreUnit": "ms/op", "rawData": [[1.0, 30.0, 2.0], [3.0, 2.5]]}},
                 {"benchmark": "dev.memwall.bench.GemmBenchmark.openblas", "mode": "thrpt", "params": {"shape": "2048x256x768:NT"},
                  "primaryMetric": {"score": 1.0, "scoreUnit": "ops/ms", "rawData": [[1.0]]}}]
                """);
        List<Report.Row> rows = Report.readJson(f);
        assertThat(rows).hasSize(1); // the throughput row is skipped
        Report.Row r = rows.get(0);
        assertThat(r.micros()).isEqualTo(2500.0); // median of 1, 2, 2.5, 3, 30 ms, not the mean 7.7
        assertThat(r.spread()).isEqualTo(" [1000–30000]");
        assertThat(r.params()).containsEntry("shape", "2048x256x768:NT");
        assertThat(r.method()).isEqualTo("memwall");
    }

    @Test
    void csvResultsKeepJmhsMeanAndError(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("r.csv");
        Files.writeString(f, """
                "Benchmark","Mode","Threads","Samples","Score","Score Error (99.9%)","Unit","Param: shape"
                "dev.memwall.bench.GemmBenchmark.memwall","avgt",1,5,"4474,468","1022,540","us/op",2048x256x768:NT
                """);
        Report.Row r = Report.read(f).get(0);
        assertThat(r.micros()).isEqualTo(4474.468);
        assertThat(r.spread()).isEqualTo("±1022.5");
    }

    @Test
    void somethingElseIsRejected(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("r.json");
        Files.writeString(f, "{\"not\": \"jmh\"}");
        assertThatThrownBy(() -> Report.readJson(f)).hasMessageContaining("not a JMH JSON result");
    }
}
