package dev.memwall.sharding.mpi;

import dev.memwall.sharding.CommTotals;
import dev.memwall.sharding.ProcessGroup;
import dev.memwall.sharding.Work;
import dev.memwall.sharding.shm.ShmWorker;

import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A worker process for the MPI tests, started by {@code mpirun}:
 * <ul>
 *   <li>{@code script DIR SEED}: the shared-memory tests' sequence of collectives ({@link ShmWorker#script}), then one
 *       async all-reduce overlapped with compute; writes the results and the byte counters to DIR/rank&lt;r&gt;.bin;</li>
 *   <li>{@code script16 DIR SEED}: the 16-bit collectives of {@code Half16Script}; results and counters to
 *       DIR/rank&lt;r&gt;.bin;</li>
 *   <li>{@code scriptMax DIR SEED}: the all-reduce MAX calls of {@code MaxScript}; results and counters to
 *       DIR/rank&lt;r&gt;.bin;</li>
 *   <li>{@code loop}: prints "ready RANK PID" and all-reduces until killed;</li>
 *   <li>{@code fail RANK}: all ranks all-reduce; rank RANK throws after three rounds, the others keep waiting.</li>
 * </ul>
 */
public final class MpiWorker {
    private MpiWorker() {
    }

    public static void main(String[] args) throws IOException {
        ProcessGroup g = ProcessGroup.fromEnvironment(System.getenv(), "mpi");
        switch (args[0]) {
            case "script" -> {
                List<float[]> results = ShmWorker.script(g.rank(), g.worldSize(), Long.parseLong(args[1 + 1]), g);
                CommTotals counted = g.counters().total();
                results.add(overlapped(g));
                write(Path.of(args[1]).resolve("rank" + g.rank() + ".bin"), results, counted);
            }
            case "script16" -> {
                List<short[]> results = dev.memwall.sharding.Half16Script.run(g.rank(), g.worldSize(), Long.parseLong(args[2]), g);
                CommTotals counted = g.counters().total();
                try (DataOutputStream out = new DataOutputStream(Files.newOutputStream(Path.of(args[1]).resolve("rank" + g.rank() + ".bin")))) {
                    out.writeLong(counted.calls());
                    out.writeLong(counted.bytesSent());
                    out.writeLong(counted.bytesReceived());
                    for (short[] r : results) for (short v : r) out.writeShort(v);
                }
            }
            case "scriptMax" -> {
                List<float[]> results = dev.memwall.sharding.MaxScript.run(g.rank(), g.worldSize(), Long.parseLong(args[2]), g);
                write(Path.of(args[1]).resolve("rank" + g.rank() + ".bin"), results, g.counters().total());
            }
            case "loop" -> {
                float[] x = new float[100_000];
                g.barrier();
                System.out.println("ready " + g.rank() + " " + ProcessHandle.current().pid());
                System.out.flush();
                while (true) g.allReduce(x);
            }
            case "fail" -> {
                int victim = Integer.parseInt(args[1]);
                float[] x = new float[1000];
                for (int i = 0; ; i++) {
                    if (g.rank() == victim && i == 3) {
                        g.close(); // out of step: the others wait in the next all-reduce
                        throw new IllegalStateException("rank " + victim + " failed on purpose");
                    }
                    g.allReduce(x);
                }
            }
            default -> throw new IllegalArgumentException("unknown mode " + args[0]);
        }
        g.barrier();
        g.close();
    }

    /** An all-reduce issued async, the caller computing before it awaits: rank r contributes r + 1 everywhere. */
    private static float[] overlapped(ProcessGroup g) {
        float[] x = new float[200_000];
        java.util.Arrays.fill(x, g.rank() + 1);
        Work w = g.allReduceAsync(x, 0, x.length);
        double busy = 0;
        for (int i = 0; i < 1_000_000; i++) busy += Math.sqrt(busy + i);
        w.await();
        return new float[] {x[0], x[x.length - 1], busy > 0 ? 1 : 0};
    }

    private static void write(Path file, List<float[]> results, CommTotals counted) throws IOException {
        try (DataOutputStream out = new DataOutputStream(Files.newOutputStream(file))) {
            out.writeLong(counted.calls());
            out.writeLong(counted.bytesSent());
            out.writeLong(counted.bytesReceived());
            for (float[] r : results) for (float v : r) out.writeInt(Float.floatToRawIntBits(v));
        }
    }
}
