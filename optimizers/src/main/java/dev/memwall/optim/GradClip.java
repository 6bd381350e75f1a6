package dev.memwall.optim;

import dev.memwall.autograd.OpStats;
import dev.memwall.kernels.Parallel;
import dev.memwall.kernels.Reductions;
import dev.memwall.kernels.Vectorization;
import dev.memwall.nn.FlatParameters;

/** Global-norm gradient clipping over the flat gradient buffer, like {@code torch.nn.utils.clip_grad_norm_}. */
public final class GradClip {
    private GradClip() {
    }

    /** L2 norm of grads[from, to): float runs summed in double (Reductions.sumOfSquares), independent of the thread count. */
    public static double norm(FlatParameters params, int from, int to) {
        OpStats.Frame frame = OpStats.begin("grad_norm");
        double s = Reductions.sumOfSquares(params.grads().whole().data(), from, to - from);
        if (frame != null) frame.end(2.0 * (to - from), 4.0 * (to - from));
        return Math.sqrt(s);
    }

    /**
     * Scales all gradients by maxNorm / (norm + 1e-6) when the global norm exceeds {@code maxNorm}; returns the norm
     * before clipping.
     */
    public static double clipGradNorm(FlatParameters params, double maxNorm) {
        if (!(maxNorm > 0)) throw new IllegalArgumentException("max norm must be > 0, got " + maxNorm);
        double norm = norm(params, 0, params.length());
        if (norm > maxNorm) {
            OpStats.Frame frame = OpStats.begin("grad_clip");
            float scale = (float) (maxNorm / (norm + 1e-6));
            float[] g = params.grads().whole().data();
            Parallel.range(params.length(), 1, (lo, hi) -> Vectorization.bodies().scale(g, lo, hi - lo, scale));
            if (frame != null) frame.end(params.length(), 8.0 * params.length());
        }
        return norm;
    }
}
