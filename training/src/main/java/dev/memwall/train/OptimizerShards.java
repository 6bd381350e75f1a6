package dev.memwall.train;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import dev.memwall.io.SafeTensors;
import dev.memwall.io.SafeTensorsHeader;
import dev.memwall.optim.Optimizer;
import dev.memwall.optim.Shard;
import dev.memwall.sharding.ProcessGroup;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Optimizer state by flat range: each state tensor (AdamW's exp_avg, exp_avg_sq) is one FP32 value per element of
 * the range [from, to) the optimizer owns. A rank writes its range to its own safetensors file; a rank resuming at any
 * world size and stage reads its new range (or, at ZeRO stage 2, its piece of every gradient bucket, at stage 3 of every
 * parameter unit) from the
 * overlapping parts of the saved files — only those bytes, so resharding
 * never holds more than this rank's share in memory.
 */
final class OptimizerShards {
    private static final int CHUNK = 1 << 16; // floats moved per read

    private OptimizerShards() {
    }

    /** The file of rank {@code rank}'s range: {@code optimizer.safetensors} when one range is the whole [0, Ψ). */
    static String fileName(int rank, int worldSize, boolean whole) {
        return whole ? "optimizer.safetensors" : String.format("optimizer-rank%05d-of-%05d.safetensors", rank, worldSize);
    }

    /**
     * The ranges of the flat buffer whose optimizer state the ranks own, one per writing rank, in order and tiling
     * [0, Ψ): the shard [r·s, min((r+1)·s, Ψ)) of every rank with a non-empty one when the stage shards the optimizer
     * state, else rank 0's whole [0, Ψ) (every rank holds the same state then).
     */
    static List<int[]> ranges(ZeroStage stage, int params, int worldSize) {
        List<int[]> out = new ArrayList<>();
        if (!stage.shardsOptimizerState() || worldSize == 1) {
            if (params > 0) out.add(new int[]{0, 0, params});
            return out;
        }
        int s = ProcessGroup.shardLength(params, worldSize);
        for (int r = 0; r < worldSize; r++) {
            int from = (int) Math.min((long) r * s, params), to = (int) Math.min((long) (r + 1) * s, params);
            if (to > from) out.add(new int[]{r, from, to});
        }
        return out;
    }

    /** Writes the optimizer's state over its range to {@code dir}/{@link #fileName}; the caller decides which ranks write. */
    static void write(Path file, Optimizer optimizer) throws IOException {
        try (dev.memwall.autograd.Scope scope = dev.memwall.autograd.Scope.open()) { // compact state: FP32 copies, released here
            write(file, optimizer.getClass().getSimpleName(), optimizer.savedState(), optimizer.from(), optimizer.to());
        }
    }

    /**
     * Writes {@code state} — one FP32 value per element of the flat range [from, to) per tensor, in the optimizer's
     * order — as {@code optimizer}'s state (ZeRO stages 2 and 3 write their state regrouped into the range, {@link StateRegroup}).
     */
    static void write(Path file, String optimizer, Map<String, Tensor> state, int from, int to) throws IOException {
        for (Map.Entry<String, Tensor> e : state.entrySet()) {
            Tensor t = e.getValue();
            if (t.dtype() != DType.FP32 || t.shape().length != 1 || t.shape()[0] != to - from) {
                throw new IllegalStateException("optimizer state " + e.getKey() + " " + t.dtype() + Arrays.toString(t.shape())
                        + " is not one FP32 value per element of its range [" + from + ", " + to + ")");
            }
        }
        SafeTensors.write(file, state, Map.of("optimizer", optimizer, "from", Integer.toString(from), "to", Integer.toString(to)));
    }

    /**
     * Checks every shard overlapping the optimizer's range: it holds exactly the optimizer's state names, each FP32 of
     * the shard's length. Nothing is loaded.
     */
    static void check(CheckpointManifest m, Optimizer optimizer, int[] flatStarts) throws IOException {
        for (CheckpointManifest.Shard s : overlapping(m, optimizer, flatStarts)) {
            Path f = m.directory().resolve(s.file().name());
            SafeTensorsHeader h = SafeTensors.inspect(f);
            Map<String, Tensor> state;
            try (dev.memwall.autograd.Scope scope = dev.memwall.autograd.Scope.open()) {
                state = new java.util.LinkedHashMap<>(optimizer.savedState()); // only the names and sizes are read
            }
            if (h.entries().size() != state.size()) {
                throw new IOException(f + ": holds " + h.entries().size() + " tensors, " + optimizer.getClass().getSimpleName()
                        + " has " + state.size() + " state tensors " + state.keySet());
            }
            for (String name : state.keySet()) {
                SafeTensorsHeader.Entry e = h.entry(name);
                if (e == null) throw new IOException(f + ": no tensor " + name);
                if (e.dtype() != DType.FP32 || !Arrays.equals(e.shape(), new int[]{s.to() - s.from()})) {
                    throw new IOException(f + ": " + name + " is " + e + ", the manifest's range [" + s.from() + ", " + s.to()
                            + ") needs F32[" + (s.to() - s.from()) + "]");
                }
            }
        }
    }

    /**
     * Loads the optimizer's state from the shards that overlap it: for each of its segments (one range, or at ZeRO stage
     * 2 one piece per gradient bucket, at stage 3 one per parameter unit) the saved values of those flat elements, into
     * the state at the segment's offset. Segment k starts at flat element {@code flatStarts[k]} (the shard's own
     * starts, except at stage 3, whose shard indexes the rank's shard arrays: {@link DataParallel#flatStarts}).
     */
    static void read(CheckpointManifest m, Optimizer optimizer, int[] flatStarts) throws IOException {
        try (dev.memwall.autograd.Scope scope = dev.memwall.autograd.Scope.open()) { // compact state: filled FP32 copies
            Map<String, Tensor> state = optimizer.savedState();
            readInto(m, optimizer, flatStarts, state);
            optimizer.loadSavedState(state);
        }
    }

    private static void readInto(CheckpointManifest m, Optimizer optimizer, int[] flatStarts, Map<String, Tensor> state) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(CHUNK * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        Shard owned = optimizer.shard();
        for (CheckpointManifest.Shard s : overlapping(m, optimizer, flatStarts)) {
            Path f = m.directory().resolve(s.file().name());
            SafeTensorsHeader h = SafeTensors.inspect(f);
            try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
                int stateAt = 0;
                for (int k = 0; k < owned.starts().length; stateAt += owned.lengths()[k], k++) {
                    int from = flatStarts[k], lo = Math.max(from, s.from()), hi = Math.min(from + owned.lengths()[k], s.to());
                    if (hi <= lo) continue;
                    for (Map.Entry<String, Tensor> e : state.entrySet()) {
                        long at = h.dataStart() + h.entry(e.getKey()).begin() + (long) (lo - s.from()) * Float.BYTES;
                        Tensor t = e.getValue();
                        float[] dst = t.data();
                        for (int done = lo; done < hi; done += CHUNK) {
                            int n = Math.min(CHUNK, hi - done);
                            buf.clear().limit(n * Float.BYTES);
                            while (buf.hasRemaining()) {
                                if (ch.read(buf, at + buf.position()) < 0) throw new IOException(f + ": ends inside " + e.getKey());
                            }
                            buf.flip();
                            buf.asFloatBuffer().get(dst, t.offset() + stateAt + done - from, n);
                            at += (long) n * Float.BYTES;
                        }
                    }
                }
            }
        }
    }

    /** The saved shards that overlap any of the optimizer's segments. */
    private static List<CheckpointManifest.Shard> overlapping(CheckpointManifest m, Optimizer optimizer, int[] flatStarts) {
        Shard owned = optimizer.shard();
        if (flatStarts.length != owned.starts().length) {
            throw new IllegalArgumentException(flatStarts.length + " flat starts for " + owned.starts().length + " segments");
        }
        List<CheckpointManifest.Shard> out = new ArrayList<>();
        for (CheckpointManifest.Shard s : m.shards()) {
            for (int k = 0; k < owned.starts().length; k++) {
                if (owned.lengths()[k] > 0 && s.from() < flatStarts[k] + owned.lengths()[k] && s.to() > flatStarts[k]) {
                    out.add(s);
                    break;
                }
            }
        }
        return out;
    }
}
