package dev.memwall.cli;

import dev.memwall.io.SafeTensorsHeader;
import dev.memwall.nn.GptConfig;
import dev.memwall.train.TrainingState;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What a {@code --weights} argument names: a {@code train --save} run directory (its newest checkpoint), one of its
 * step directories, that directory's {@code model.safetensors} — each with the step's saved model config — or any
 * other safetensors file, for which {@link #saved()} is null (the head count must then come from an option).
 */
record SavedWeights(Path file, GptConfig saved) {
    static SavedWeights locate(Path weights) throws IOException {
        Path stepDir = null;
        if (Files.isDirectory(weights)) {
            stepDir = TrainingState.holdsRun(weights) ? TrainingState.inspect(weights).directory() : weights;
        } else if (weights.endsWith("model.safetensors") && Files.isRegularFile(weights.resolveSibling("state.json"))) {
            stepDir = weights.toAbsolutePath().getParent();
        }
        if (stepDir == null) return new SavedWeights(weights, null);
        return new SavedWeights(stepDir.resolve("model.safetensors"), TrainingState.inspectStep(stepDir).config());
    }

    /** The GPT whose parameters have exactly the shapes in {@code file}. */
    static GptConfig configFrom(SafeTensorsHeader file, int heads, Path where) throws IOException {
        int[] tok = shape(file, "tok.weight"), pos = shape(file, "pos.weight");
        if (tok == null || tok.length != 2) throw new IOException(where + ": tok.weight [V, D] missing or not 2-D");
        if (pos == null || pos.length != 2 || pos[1] != tok[1]) throw new IOException(where + ": pos.weight [T, D] missing or its D differs from tok.weight");
        int layers = 0;
        while (shape(file, "blocks." + layers + ".qkv.weight") != null) layers++;
        if (tok[1] % heads != 0) {
            throw new IllegalArgumentException("--heads " + heads + " does not divide the model width " + tok[1] + " of " + where);
        }
        return new GptConfig(tok[0], pos[0], tok[1], heads, layers, 0f);
    }

    private static int[] shape(SafeTensorsHeader h, String name) {
        SafeTensorsHeader.Entry e = h.entry(name);
        return e == null ? null : e.shape();
    }
}
