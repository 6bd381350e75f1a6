package dev.memwall.train;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.io.SafeTensors;
import dev.memwall.io.SafeTensorsFile;
import dev.memwall.precision.MixedPrecision;
import dev.memwall.precision.fp8.Fp8State;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The FP8 recipe's state in a checkpoint: delayed scaling's amax histories ({@link Fp8State#toArrays()}, one FP32
 * tensor per layer and role: window, head, filled, scale, non-finite count) in {@code fp8.safetensors}, so that a
 * resumed run quantizes with the scales the uninterrupted run would have used. The stateless recipes (current, MXFP8,
 * block scaling) have nothing to save and write no file.
 *
 * <p>Under data parallelism the histories are not all-reduced (no Transformer Engine {@code reduce_amax}): each rank
 * records the amaxes of its own micro-batches, so the ranks' histories differ. Rank 0's are saved and every rank
 * resumes from them, which is exact on one process and, under data parallelism, one more way the ranks' scales already
 * differ (the weights, which the gradients' all-reduce keeps identical, are unaffected by which history scaled them).
 * At ZeRO stage 3 they are agreed ({@link Fp8Units}: the weights' amaxes at each forward gather, the activations' and
 * gradients' after each forward and backward), so rank 0's histories are every rank's.
 */
final class Fp8Checkpoint {
    static final String NAME = "fp8.safetensors";

    private Fp8Checkpoint() {
    }

    /** Writes {@code trainer}'s FP8 state into {@code target} (atomically); whether there was any to write. */
    static boolean write(Path target, Trainer trainer) throws IOException {
        Fp8State state = state(trainer);
        if (state == null) return false;
        Map<String, float[]> arrays = state.toArrays();
        if (arrays.isEmpty()) return false;
        try (Scope s = Scope.open()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            arrays.forEach((k, a) -> tensors.put(k, Tensor.of(a, a.length)));
            SafeTensors.write(target.resolve(NAME), tensors, Map.of("recipe", state.recipe().name()));
        }
        return true;
    }

    /** Reads the saved histories of {@code file} (already verified against the manifest). */
    static Map<String, float[]> read(Path file) throws IOException {
        Map<String, float[]> out = new LinkedHashMap<>();
        try (SafeTensorsFile f = SafeTensors.read(file)) {
            f.tensors().forEach((k, t) -> out.put(k, t.toFloatArray()));
        }
        return out;
    }

    /**
     * Hands the saved histories to {@code trainer}'s FP8 state before its first step; refuses them when the trainer
     * does not train in FP8 (a checkpoint of a delayed-scaling run resumed in another precision).
     */
    static void restore(Map<String, float[]> saved, Trainer trainer, Path file) throws IOException {
        Fp8State state = state(trainer);
        if (state == null) throw new IOException(file + ": holds FP8 amax histories, but this run does not train in FP8");
        try {
            state.load(saved);
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
    }

    private static Fp8State state(Trainer trainer) {
        MixedPrecision mp = trainer.mixedPrecision();
        return mp == null ? null : mp.fp8();
    }
}
