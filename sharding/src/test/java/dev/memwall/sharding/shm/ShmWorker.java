package dev.memwall.sharding.shm;

import dev.memwall.sharding.CommException;
import dev.memwall.sharding.ProcessGroup;

import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A worker process for the multi-JVM tests, started with the launcher's environment:
 * <ul>
 *   <li>{@code script DIR SEED}: runs {@link #script} and writes its results to DIR/rank&lt;r&gt;.bin;</li>
 *   <li>{@code loop}: prints "ready" and all-reduces until a collective fails, then prints the failure and exits 3;</li>
 *   <li>{@code bench FLOATS ITERATIONS}: times all-reduce of FLOATS floats; rank 0 prints the figures.</li>
 * </ul>
 */
public final class ShmWorker {
    static final int FAILED = 3;

    private ShmWorker() {
    }

    public static void main(String[] args) throws IOException {
        try (ProcessGroup g = ProcessGroup.fromEnvironment()) {
            switch (args[0]) {
                case "script" -> write(Path.of(args[1]).resolve("rank" + g.rank() + ".bin"),
                        script(g.rank(), g.worldSize(), Long.parseLong(args[2]), g));
                case "loop" -> loop(g);
                case "bench" -> bench(g, Integer.parseInt(args[1]), Integer.parseInt(args[2]));
                default -> throw new IllegalArgumentException("unknown mode " + args[0]);
            }
        } catch (CommException e) {
            System.err.println("FAILED: " + e.getMessage());
            System.exit(FAILED);
        }
    }

    /**
     * A fixed sequence of collectives on inputs made from the seed; with {@code g} null, the same sequence computed
     * sequentially (the reference). Returns every result, in order.
     */
    public static List<float[]> script(int rank, int n, long seed, ProcessGroup g) {
        List<float[]> results = new ArrayList<>();
        for (int len : new int[] {0, 1, 7, 1000, 70_001}) {
            float[][] in = Reference.inputs(seed + len, n, len);
            float[] x = in[rank].clone();
            if (g != null) g.allReduce(x);
            results.add(g != null ? x : Reference.sum(in));
        }
        int shard = 20_003;
        float[][] flat = Reference.inputs(seed + 1, n, n * shard);
        float[] mine = new float[shard];
        if (g != null) g.reduceScatter(flat[rank].clone(), mine);
        results.add(g != null ? mine : Arrays.copyOfRange(Reference.sum(flat), rank * shard, (rank + 1) * shard));
        float[][] shards = Reference.inputs(seed + 2, n, shard);
        float[] all = new float[n * shard];
        if (g != null) {
            g.allGather(shards[rank], all);
        } else {
            for (int r = 0; r < n; r++) System.arraycopy(shards[r], 0, all, r * shard, shard);
        }
        results.add(all);
        float[][] b = Reference.inputs(seed + 3, n, 999);
        float[] x = b[rank].clone();
        if (g != null) g.broadcast(x, 0, x.length, n - 1);
        results.add(g != null ? x : b[n - 1]);
        return results;
    }

    private static void write(Path file, List<float[]> results) throws IOException {
        try (DataOutputStream out = new DataOutputStream(Files.newOutputStream(file))) {
            for (float[] r : results) for (float v : r) out.writeInt(Float.floatToRawIntBits(v));
        }
    }

    private static void loop(ProcessGroup g) {
        float[] x = new float[100_000];
        g.barrier();
        System.out.println("ready");
        System.out.flush();
        while (true) g.allReduce(x);
    }

    private static void bench(ProcessGroup g, int floats, int iterations) {
        float[] x = new float[floats];
        for (int i = 0; i < 5; i++) g.allReduce(x);
        double[] seconds = new double[iterations];
        for (int i = 0; i < iterations; i++) {
            g.barrier();
            long t = System.nanoTime();
            g.allReduce(x);
            seconds[i] = (System.nanoTime() - t) / 1e9;
        }
        Arrays.sort(seconds);
        double median = seconds[iterations / 2];
        double bytes = 4.0 * floats;
        int n = g.worldSize();
        if (g.rank() == 0) {
            System.out.printf("allReduce %d floats (%.1f MB) on %d ranks: median %.2f ms, min %.2f ms, algbw %.2f GB/s, "
                    + "busbw %.2f GB/s%n", floats, bytes / 1e6, n, median * 1e3, seconds[0] * 1e3, bytes / median / 1e9,
                    bytes / median / 1e9 * 2 * (n - 1) / n);
        }
    }
}
