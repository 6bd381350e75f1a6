package dev.memwall.precision.fp8;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Deferred amax records (what a sharded run agrees over ranks before recording): kept in call order, recorded only
 * by {@link Fp8State#recordAgreed}, which then leaves each history exactly as recording the agreed values at once
 * would have; a count mismatch and switching off with records pending are refused.
 */
class Fp8StateDeferredRecordsTest {
    @Test
    void pendingRecordsLandOnlyWhenAgreedAndAsIfRecordedAtOnce() {
        Fp8State deferred = new Fp8State(new DelayedScaling()), direct = new Fp8State(new DelayedScaling());
        deferred.deferRecords(true);
        AmaxHistory a = deferred.history("gemm0", TensorRole.INPUT), b = deferred.history("gemm0", TensorRole.GRAD_OUTPUT);
        deferred.record(a, 2f);
        deferred.record(b, 8f);
        deferred.record(a, 3f);
        assertThat(a.history()).as("nothing recorded yet").isEmpty();
        assertThat(a.scale()).isEqualTo(1f);
        assertThat(deferred.pendingAmaxes()).containsExactly(2f, 8f, 3f);
        float[] agreed = {4f, 16f, 5f}; // e.g. the maximum over the ranks
        deferred.recordAgreed(agreed);
        assertThat(deferred.pendingAmaxes()).isEmpty();
        AmaxHistory da = direct.history("gemm0", TensorRole.INPUT), db = direct.history("gemm0", TensorRole.GRAD_OUTPUT);
        direct.record(da, 4f);
        direct.record(db, 16f);
        direct.record(da, 5f);
        assertThat(a.toArray()).isEqualTo(da.toArray());
        assertThat(b.toArray()).isEqualTo(db.toArray());
        deferred.deferRecords(false);
        deferred.record(a, 1f);
        assertThat(a.history()).as("recorded at once again").containsExactly(4f, 5f, 1f);
    }

    @Test
    void mismatchesAreRefused() {
        Fp8State s = new Fp8State(new DelayedScaling());
        s.deferRecords(true);
        s.record(s.history("gemm0", TensorRole.INPUT), 1f);
        assertThatThrownBy(() -> s.recordAgreed(new float[2])).hasMessageContaining("2 agreed amaxes for 1 pending records");
        assertThatThrownBy(() -> s.deferRecords(false)).hasMessageContaining("1 amax records are still pending");
    }
}
