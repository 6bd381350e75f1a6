package dev.memwall.kernels;

import org.junit.jupiter.api.Test;

import java.util.function.Consumer;

import static dev.memwall.kernels.GemmReference.paths;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Arguments that would make BLAS read or write outside an array are exceptions naming the operand, on every path,
 * and nothing is written. (On the no-copy path BLAS works on the heap arrays themselves: an unchecked index there
 * would corrupt the heap instead.)
 */
class GemmBoundsTest {
    /** A valid 4×3·3×5 call with A, B, C at offset 1 in arrays with 2 floats to spare; the lambda spoils one thing. */
    private static void rejects(Class<? extends RuntimeException> type, String message, Consumer<int[]> spoil) {
        for (Gemm.Path path : paths()) {
            // {offA, lda, strideA, offB, ldb, strideB, offC, ldc, strideC, batch, m, n, k}
            int[] p = {1, 3, 0, 1, 5, 0, 1, 5, 20, 1, 4, 5, 3};
            spoil.accept(p);
            float[] a = new float[1 + 12 + 2], b = new float[1 + 15 + 2], c = new float[1 + 20 + 2];
            java.util.Arrays.fill(a, 1f);
            java.util.Arrays.fill(b, 1f);
            java.util.Arrays.fill(c, 9f);
            GemmCall g = new GemmCall(p[9], false, false, p[10], p[11], p[12], 1f, a, p[0], p[1], p[2], b, p[3], p[4], p[5],
                    0f, c, p[6], p[7], p[8]);
            assertThatThrownBy(() -> Gemm.run(path, g)).as("%s", path).isInstanceOf(type).hasMessageContaining(message);
            assertThat(c).as("%s: nothing written", path).containsOnly(9f);
        }
    }

    @Test
    void theValidCallRuns() {
        for (Gemm.Path path : paths()) {
            float[] a = new float[15], b = new float[18], c = new float[23];
            java.util.Arrays.fill(a, 1f);
            java.util.Arrays.fill(b, 1f);
            Gemm.run(path, new GemmCall(1, false, false, 4, 5, 3, 1f, a, 1, 3, 0, b, 1, 5, 0, 0f, c, 1, 5, 20));
            assertThat(c[1]).isEqualTo(3f);
            assertThat(c[20]).isEqualTo(3f);
            assertThat(c[21]).isZero();
        }
    }

    @Test
    void operandsRunningPastTheirArraysAreRejected() {
        rejects(IndexOutOfBoundsException.class, "operand A out of bounds", p -> p[0] = 4);
        rejects(IndexOutOfBoundsException.class, "operand B out of bounds", p -> p[3] = 4);
        rejects(IndexOutOfBoundsException.class, "operand C out of bounds", p -> p[6] = 4);
        rejects(IndexOutOfBoundsException.class, "operand A out of bounds", p -> p[1] = 4);  // rows too far apart
        rejects(IndexOutOfBoundsException.class, "operand C out of bounds", p -> p[7] = 6);
        rejects(IndexOutOfBoundsException.class, "operand A out of bounds", p -> { p[9] = 2; p[2] = 12; p[8] = 20; });
        rejects(IndexOutOfBoundsException.class, "operand A out of bounds", p -> p[10] = 5);   // m larger than A holds
        rejects(IndexOutOfBoundsException.class, "negative offset", p -> p[3] = -1);
        rejects(IndexOutOfBoundsException.class, "negative offset", p -> p[2] = -12);
    }

    @Test
    void inconsistentArgumentsAreRejected() {
        rejects(IllegalArgumentException.class, "leading dimension 2 < 3", p -> p[1] = 2);
        rejects(IllegalArgumentException.class, "leading dimension 4 < 5", p -> p[7] = 4);
        rejects(IllegalArgumentException.class, "sizes must be >= 0", p -> p[12] = -1);
        rejects(IllegalArgumentException.class, "outputs of the batch overlap", p -> { p[9] = 2; p[8] = 0; p[2] = 0; p[5] = 0; });
    }

    @Test
    void aNullOperandIsNamed() {
        for (Gemm.Path path : paths()) {
            GemmCall g = new GemmCall(1, false, false, 1, 1, 1, 1f, null, 0, 1, 0, new float[1], 0, 1, 0, 0f, new float[1], 0, 1, 0);
            assertThatThrownBy(() -> Gemm.run(path, g)).isInstanceOf(NullPointerException.class).hasMessageContaining("operand A");
        }
    }

    /** The public entry points check too (they take the process's path). */
    @Test
    void thePublicEntryPointsCheck() {
        assertThatThrownBy(() -> Gemm.sgemm(false, false, 4, 5, 3, 1f, new float[12], 1, new float[15], 0, 0f, new float[20], 0))
                .isInstanceOf(IndexOutOfBoundsException.class).hasMessageContaining("operand A");
        assertThatThrownBy(() -> Gemm.sgemmBatched(2, false, false, 4, 5, 3, 1f, new float[24], 0, 12, new float[15], 0, 0,
                0f, new float[39], 0, 20)).isInstanceOf(IndexOutOfBoundsException.class).hasMessageContaining("operand C");
    }
}
