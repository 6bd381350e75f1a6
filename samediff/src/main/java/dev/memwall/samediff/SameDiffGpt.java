package dev.memwall.samediff;

import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.rng.Rng;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.TrainingConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.Locale;
import java.util.Properties;
import java.util.Random;

/**
 * The GPT benchmark step of memwall {@code bench} (and of the PyTorch peers torch_gpt.py and djl-gpt) in SameDiff, the
 * framework a DL4J user would train it with: {@link GptGraph} trained by {@code SameDiff.fit} with ND4J's Adam
 * (lr 3e-4, betas 0.9/0.999, eps 1e-8) and decoupled weight decay 0.01 applied with the learning rate (what AdamW is),
 * FP32, one fixed batch of random tokens. Warm-up steps, then the median of the timed steps, each followed by a garbage
 * collection (counted in its time; {@code --no-gc} leaves it out and lets the process grow); prints one JSON line in
 * the peers' format, with the collections' median time as {@code gc_ms_median}. Refuses to report when its parameter
 * count differs from memwall's model of the same shape.
 *
 * <p>Run it through {@code bench/peers.sh} or {@code java -jar samediff/target/memwall-samediff.jar [--layers 6]
 * [--steps 10] [--warmup 1] [--threads 2] [--gelu tanh|sigmoid] [--no-gc] [--log]} with {@code OMP_NUM_THREADS} set to the thread count.
 */
public final class SameDiffGpt {
    private SameDiffGpt() {
    }

    public static void main(String[] args) throws IOException {
        // SameDiff 1.0.0-M2.1 prints a line per differentiated op on standard output; the JSON line must stand alone there.
        PrintStream out = System.out;
        System.setOut(System.err);
        Options o;
        try {
            o = Options.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("samediff-gpt: " + e.getMessage());
            System.exit(2);
            return;
        }
        String omp = System.getenv("OMP_NUM_THREADS");
        if (omp == null || !omp.equals(Integer.toString(o.threads))) {
            System.err.printf("samediff-gpt: warning: OMP_NUM_THREADS is %s, not %d; ND4J's OpenMP pool may use more threads%n", omp, o.threads);
        }
        Nd4j.getEnvironment().setMaxThreads(o.threads);
        Nd4j.getEnvironment().setMaxMasterThreads(o.threads);
        GptConfig c = new GptConfig(256, o.ctx, o.dim, o.heads, o.layers, 0f);
        GptGraph g = GptGraph.create(c, o.batch, o.gelu, 0);
        SameDiff sd = g.sameDiff();
        sd.setTrainingConfig(TrainingConfig.builder()
                .updater(new Adam(3e-4, 0.9, 0.999, 1e-8))
                .weightDecay(0.01, true)
                .dataSetFeatureMapping(GptGraph.IDS)
                .dataSetLabelMapping(GptGraph.TARGETS)
                .build());
        MultiDataSet batch = randomBatch(o.batch, o.ctx, 1);
        if (o.log) {
            System.err.printf("SameDiff %s, GPT L=%d D=%d H=%d T=%d, batch %d, %,d params, GELU %s, %d threads%n", version(),
                    o.layers, o.dim, o.heads, o.ctx, o.batch, g.parameterCount(), o.gelu, o.threads);
        }
        double[] ms = new double[o.steps], gcMs = new double[o.steps];
        for (int i = 0; i < o.warmup + o.steps; i++) {
            long t0 = System.nanoTime();
            sd.fit(batch);
            long t1 = System.nanoTime();
            // ND4J frees an array's native memory only once its Java object is collected, and a step makes too little
            // garbage for the collector to run on its own: without this the process grows by every step's arrays
            // (~740 MiB a step for the benchmark model). The collection is part of the step's time.
            if (o.gc) System.gc();
            double took = (System.nanoTime() - t0) / 1e6, gc = (System.nanoTime() - t1) / 1e6;
            if (i >= o.warmup) {
                ms[i - o.warmup] = took;
                gcMs[i - o.warmup] = gc;
            }
            if (o.log) System.err.printf(Locale.ROOT, "step %d: %.1f ms (gc %.1f ms), rss %d MiB%n", i, took, gc, procStatusKib("VmRSS:") / 1024);
        }
        double peakRssMib = procStatusKib("VmHWM:") / 1024.0; // read before memwall's model below touches the heap
        // The loss SameDiff hands to listeners is 0 in 1.0.0-M2.1 (only the weight-decay term comes through), so the
        // loss reported is a forward pass after the last update: what torch_gpt.py's next step would print.
        double loss = sd.output(placeholders(batch), GptGraph.LOSS).get(GptGraph.LOSS).getDouble(0);
        long params = g.parameterCount();
        long memwall = new Gpt(c, new Rng(0)).parameterCount();
        if (params != memwall) {
            System.err.printf("samediff-gpt: the SameDiff GPT has %,d parameters, memwall's GPT of the same shape %,d: not the same model%n", params, memwall);
            System.exit(1);
        }
        Arrays.sort(ms);
        Arrays.sort(gcMs);
        double med = ms[ms.length / 2] / 1e3;
        double tokens = (double) o.batch * o.ctx;
        out.println(String.format(Locale.ROOT,
                "{\"peer\": \"samediff %s\", \"ckpt\": false, \"params\": %d, \"step_ms_median\": %s, \"tokens_per_s\": %d, "
                        + "\"gflops_per_s\": %s, \"peak_rss_mib\": %s, \"loss\": %s, \"gelu\": \"%s\", \"gc_ms_median\": %s}",
                version(), params, round(med * 1e3, 2), Math.round(tokens / med), round(g.stepFlops() / med / 1e9, 1),
                round(peakRssMib, 1), round(loss, 4), o.gelu.name().toLowerCase(Locale.ROOT),
                o.gc ? round(gcMs[gcMs.length / 2], 2) : "null"));
    }

    /** {@code batch} windows of uniformly random bytes: ids and targets, INT32 [batch · ctx]. */
    static MultiDataSet randomBatch(int batch, int ctx, long seed) {
        Random r = new Random(seed);
        int[] ids = new int[batch * ctx], targets = new int[batch * ctx];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = r.nextInt(256);
            targets[i] = r.nextInt(256);
        }
        INDArray x = Nd4j.createFromArray(ids), y = Nd4j.createFromArray(targets);
        if (x.dataType() != DataType.INT32) throw new IllegalStateException("ids are " + x.dataType());
        return new org.nd4j.linalg.dataset.MultiDataSet(x, y);
    }

    static java.util.Map<String, INDArray> placeholders(MultiDataSet batch) {
        return java.util.Map.of(GptGraph.IDS, batch.getFeatures(0), GptGraph.TARGETS, batch.getLabels(0));
    }

    /** The version of nd4j-api on the class path, from its Maven metadata. */
    static String version() throws IOException {
        try (InputStream in = Nd4j.class.getResourceAsStream("/META-INF/maven/org.nd4j/nd4j-api/pom.properties")) {
            if (in == null) return "unknown";
            Properties p = new Properties();
            p.load(in);
            return p.getProperty("version", "unknown");
        }
    }

    static String round(double x, int digits) {
        return BigDecimal.valueOf(x).setScale(digits, RoundingMode.HALF_EVEN).stripTrailingZeros().toPlainString();
    }

    /** A field of /proc/self/status in KiB: VmHWM is the peak RSS, VmRSS the current one; -1 where there is no /proc. */
    static long procStatusKib(String field) throws IOException {
        if (!Files.exists(Paths.get("/proc/self/status"))) return -1;
        for (String line : Files.readAllLines(Paths.get("/proc/self/status"))) {
            if (line.startsWith(field)) return Long.parseLong(line.replaceAll("[^0-9]", ""));
        }
        return -1;
    }
}
