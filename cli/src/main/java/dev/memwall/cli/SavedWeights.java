package dev.memwall.cli;

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
}
