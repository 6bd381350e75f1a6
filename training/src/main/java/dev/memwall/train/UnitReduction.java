package dev.memwall.train;

import dev.memwall.autograd.Tensor;
import dev.memwall.nn.FlatParameters;
import dev.memwall.sharding.HalfFormat;
import dev.memwall.sharding.ProcessGroup;
import dev.memwall.sharding.Work;

/**
 * ZeRO stage 3's one gradient reduction in flight ({@link ParameterShards}): unit u's gradient buffer of N·p_u floats,
 * reduce-scattered in place, and, once awaited, rank r's piece of the sum added into this rank's gradient shard —
 * the FP32 shard array, or with {@code --grad-dtype bf16|fp16} the 2-byte one ({@link HalfGradients}: each unit's sum
 * reduced in FP32, or in {@code --reduce-dtype}, then rounded into the shard; with several micro-batches the running
 * sum is rounded after each, as at stages 0 and 1).
 */
final class UnitReduction {
    private final ProcessGroup group;
    private final UnitLayout layout;
    private final FlatParameters local;
    private final UnitStepFigures figures;
    private Work work;
    private int unit = -1;
    private Tensor buffer;
    /** The gradient shard in 2 bytes, or null: the FP32 shard array of {@link #local}. */
    private HalfGradients held;

    UnitReduction(ProcessGroup group, UnitLayout layout, FlatParameters local, UnitStepFigures figures) {
        this.group = group;
        this.layout = layout;
        this.local = local;
        this.figures = figures;
    }

    /** From now on the reduced pieces go into {@code shard}; the FP32 shard array is released (made again per update). */
    void holdIn(HalfGradients shard) {
        if (shard.length() != local.length()) {
            throw new IllegalArgumentException("a 2-byte shard of " + shard.length() + " elements for a shard of " + local.length());
        }
        local.grads().release();
        held = shard;
    }

    /** Starts the reduce-scatter of unit u's complete gradients in {@code b}, in place (call {@link #complete} first). */
    void start(int u, Tensor b, HalfFormat reduceFormat) {
        if (work != null) throw new IllegalStateException("unit " + unit + "'s reduction is still in flight");
        float[] d = b.data();
        unit = u;
        buffer = b;
        work = GradientWire.reduceScatter(group, reduceFormat, d, b.offset(), d, b.offset() + group.rank() * layout.piece[u], layout.piece[u]);
        figures.reductionInBackward();
    }

    /** Whether no reduction is in flight. */
    boolean idle() {
        return work == null;
    }

    /** Whether a reduction is in flight and has finished. */
    boolean finished() {
        return work != null && work.isDone();
    }

    /** Awaits the reduction in flight (if any), adds this rank's sum into its gradient shard, releases the buffer. */
    void complete() {
        if (work == null) return;
        long t0 = System.nanoTime();
        work.await();
        figures.waited(System.nanoTime() - t0);
        int piece = layout.piece[unit];
        float[] src = buffer.data();
        int s = buffer.offset() + group.rank() * piece, d = layout.localStart[unit];
        if (held != null) {
            held.add(d, src, s, piece);
        } else {
            float[] dst = local.grads().whole().data();
            for (int i = 0; i < piece; i++) dst[d + i] += src[s + i];
        }
        figures.released(buffer.bytes());
        buffer.release();
        work = null;
        buffer = null;
        unit = -1;
    }
}
