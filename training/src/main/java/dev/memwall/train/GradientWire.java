package dev.memwall.train;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.sharding.HalfFormat;
import dev.memwall.sharding.ProcessGroup;
import dev.memwall.sharding.Work;

/**
 * Gradient reductions in the format of {@code --reduce-dtype}: FP32 (null, the default: the group's float
 * collectives on the caller's buffers) or a 16-bit wire and buffer format. In 16 bits the FP32 gradients are rounded
 * once into a COMMUNICATION buffer (2 bytes per element), the collective sums every element in FP32 in rank order and
 * rounds the sum once ({@link ProcessGroup#reduceScatter16}), and the result is decoded back into the FP32 gradient
 * where the caller wants it. So the sum is as deterministic as in FP32 and only the inputs and the result are rounded:
 * FSDP's {@code reduce_dtype=bf16} instead adds in BF16 inside NCCL, which is where pytorch#106395's instability comes
 * from. Bytes on the wire (ring-equivalent) are half FP32's.
 */
final class GradientWire {
    private GradientWire() {
    }

    /** {@code --reduce-dtype} as a format: null for fp32, else bf16. */
    static HalfFormat parse(String reduceDtype) {
        if (reduceDtype == null) return null;
        return switch (reduceDtype.toLowerCase(java.util.Locale.ROOT)) {
            case "fp32" -> null;
            case "bf16" -> HalfFormat.BF16;
            default -> throw new IllegalArgumentException("--reduce-dtype " + reduceDtype + ": expected fp32 or bf16 "
                    + "(fp16 is not offered: its range would overflow summed gradients that BF16 and FP32 hold)");
        };
    }

    /** Sums {@code g[off, off + len)} over ranks in place (stage 0's all-reduce). */
    static void allReduce(ProcessGroup group, HalfFormat format, float[] g, int off, int len) {
        if (format == null) {
            group.allReduce(g, off, len);
            return;
        }
        Tensor wire = Tensor.empty(dtype(format), Category.COMMUNICATION, "grad_wire16", len);
        try {
            format.encode(g, off, wire.shortData(), wire.offset(), len);
            group.allReduce16(wire.shortData(), wire.offset(), len, format);
            format.decode(wire.shortData(), wire.offset(), g, off, len);
        } finally {
            wire.release();
        }
    }

    /**
     * Reduce-scatter of {@code in[inOff, inOff + N·shard)}: this rank's shard of the sum written to
     * {@code out[outOff, outOff + shard)} once the returned work is awaited.
     * {@code out} may be this rank's shard of {@code in}. In 16 bits {@code in} is encoded before this returns, so the
     * caller may reuse it at once; {@code out} is written by {@link Work#await()} on the caller's thread.
     */
    static Work reduceScatter(ProcessGroup group, HalfFormat format, float[] in, int inOff, float[] out, int outOff,
                              int shard) {
        int n = group.worldSize();
        if (format == null) return group.reduceScatterAsync(in, inOff, out, outOff, shard);
        Tensor wire = Tensor.empty(dtype(format), Category.COMMUNICATION, "grad_wire16", n * shard);
        short[] w = wire.shortData();
        format.encode(in, inOff, w, wire.offset(), n * shard);
        int own = wire.offset() + group.rank() * shard;
        Work inner = group.reduceScatter16Async(w, wire.offset(), w, own, shard, format);
        return new Work() {
            private boolean delivered;

            @Override
            public void await() {
                if (delivered) return;
                try {
                    inner.await();
                    format.decode(w, own, out, outOff, shard);
                } finally {
                    delivered = true;
                    wire.release();
                }
            }

            @Override
            public boolean isDone() {
                return delivered || inner.isDone();
            }
        };
    }

    static DType dtype(HalfFormat format) {
        return format == HalfFormat.BF16 ? DType.BF16 : DType.FP16;
    }
}
