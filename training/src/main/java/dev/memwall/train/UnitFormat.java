package dev.memwall.train;

import dev.memwall.autograd.Storage;
import dev.memwall.autograd.Tensor;
import dev.memwall.sharding.Work;

import java.util.Map;

/**
 * How ZeRO stage 3 gathers a unit when not in FP32 ({@link ParameterShards}): the GEMM weights as views of a compact
 * gathered buffer, every other parameter decoded into one FP32 buffer per unit. BF16/FP16 ({@link WorkingUnits}) and the
 * FP8 per-tensor recipes ({@link Fp8Units}).
 */
interface UnitFormat {
    /**
     * Starts unit u's gather from this rank's FP32 piece {@code masters[from, from + piece)}; {@code forward} is false
     * for the gathers of backward (the unit's second gather of a micro-batch). Returns the gathered buffer, whose
     * contents are valid once {@link #lastIssued()} has completed and {@link #decode} has run.
     */
    Tensor issue(int u, float[] masters, int from, int piece, boolean forward);

    /** The collective to await before {@link #decode}: the last one {@link #issue} started. */
    Work lastIssued();

    /** Once unit u is gathered: its non-GEMM parameters decoded into one FP32 buffer, registered as the unit's. */
    void decode(int u, Tensor buf, int[] params, int[] offsetInUnit, int[][] shapes, Map<Storage, Integer> unitOfStorage);

    /** Parameter k of unit u, once gathered: a view of the gathered buffer for a GEMM weight, else of the decoded copy. */
    Tensor view(int u, int k, Tensor buf, int offsetInUnit, int[] shape);

    /** The non-GEMM parameter of {@code params} (unit u's, model order) whose decoded elements include {@code offset}. */
    int paramAtDecoded(int u, int offset, int[] params);

    boolean isDecoded(int u, Tensor t);

    Tensor decoded(int u);

    /** Releases unit u's decoded copy (and anything else but the gathered buffer). */
    void release(int u, Map<Storage, Integer> unitOfStorage);

    /** At the end of a forward (before backward) and of a backward: a collective point every rank reaches alike. */
    default void passEnded() {
    }

    /**
     * {@link #paramAtDecoded} for a format whose parameter k travels in the gathered buffer when {@code gathered[k]}
     * and is otherwise decoded at {@code decodedOffset[k]} (offsets growing in model order).
     */
    static int decodedParamAt(boolean[] gathered, int[] decodedOffset, int u, int offset, int[] params) {
        int found = -1;
        for (int k : params) {
            if (!gathered[k] && decodedOffset[k] <= offset) found = k;
        }
        if (found < 0) throw new IllegalArgumentException("offset " + offset + " lies in no decoded parameter of unit " + u);
        return found;
    }
}
