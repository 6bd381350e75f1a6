package dev.memwall.samediff;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TensorsTest {
    /** 0, 1, 2, ... as floats: every element tells where it came from. */
    private static float[] iota(int n) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) f[i] = i;
        return f;
    }

    @Test
    void cOrderRoundTripKeepsShapeAndValues() {
        Tensor t = Tensor.of(iota(24), 2, 3, 4);
        INDArray a = Tensors.toINDArray(t);
        assertThat(a.dataType()).isEqualTo(DataType.FLOAT);
        assertThat(a.ordering()).isEqualTo('c');
        assertThat(a.shape()).containsExactly(2, 3, 4);
        assertThat(a.getFloat(1, 2, 3)).isEqualTo(t.get(1, 2, 3)).isEqualTo(23f);
        assertThat(a.getFloat(0, 1, 2)).isEqualTo(6f);
        Tensor back = Tensors.fromINDArray(a);
        assertThat(back.shape()).containsExactly(2, 3, 4);
        assertThat(back.toFloatArray()).containsExactly(t.toFloatArray());
    }

    @Test
    void fOrderArrayIsReadInRowMajorOrder() {
        INDArray f = Nd4j.create(iota(6), new long[]{2, 3}, 'c').dup('f'); // same values, column-major buffer
        assertThat(f.ordering()).isEqualTo('f');
        assertThat(f.data().asFloat()).containsExactly(0, 3, 1, 4, 2, 5);
        Tensor t = Tensors.fromINDArray(f);
        assertThat(t.shape()).containsExactly(2, 3);
        assertThat(t.toFloatArray()).containsExactly(0, 1, 2, 3, 4, 5);
    }

    @Test
    void stridedViewsAreCopiedElementByElement() {
        INDArray base = Nd4j.create(iota(20), new long[]{4, 5}, 'c');
        // rows 1..2, every other column from 1: a view with an offset and a column stride of 2
        INDArray view = base.get(NDArrayIndex.interval(1, 3), NDArrayIndex.interval(1, 2, 5));
        assertThat(view.isView()).isTrue();
        Tensor t = Tensors.fromINDArray(view);
        assertThat(t.shape()).containsExactly(2, 2);
        assertThat(t.toFloatArray()).containsExactly(6, 8, 11, 13);
        Tensor transposed = Tensors.fromINDArray(base.transpose());
        assertThat(transposed.shape()).containsExactly(5, 4);
        assertThat(transposed.get(3, 2)).isEqualTo(13f);
        assertThat(transposed.get(4, 0)).isEqualTo(4f);
    }

    @Test
    void tensorViewIntoALargerStorageCopiesOnlyItsElements() {
        Tensor flat = Tensor.of(iota(10), 10);
        Tensor view = Tensor.view(flat, 4, 2, 3);
        INDArray a = Tensors.toINDArray(view);
        assertThat(a.shape()).containsExactly(2, 3);
        assertThat(a.data().asFloat()).containsExactly(4, 5, 6, 7, 8, 9);
    }

    @Test
    void scalarsAndEmptyArraysKeepTheirShapes() {
        Tensor s = Tensors.fromINDArray(Nd4j.scalar(2.5f));
        assertThat(s.shape()).isEmpty();
        assertThat(s.item()).isEqualTo(2.5f);
        INDArray back = Tensors.toINDArray(s);
        assertThat(back.rank()).isZero();
        assertThat(back.getFloat(0)).isEqualTo(2.5f);

        Tensor e = Tensors.fromINDArray(Nd4j.create(DataType.FLOAT, 0, 3));
        assertThat(e.shape()).containsExactly(0, 3);
        assertThat(e.numel()).isZero();
        INDArray eBack = Tensors.toINDArray(e);
        assertThat(eBack.isEmpty()).isTrue();
        assertThat(eBack.shape()).containsExactly(0, 3);
    }

    @Test
    void otherDtypesAreRefusedByName() {
        assertThatThrownBy(() -> Tensors.fromINDArray(Nd4j.create(DataType.DOUBLE, 2, 2)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("DOUBLE").hasMessageContaining("FLOAT");
        assertThatThrownBy(() -> Tensors.fromINDArray(Nd4j.createFromArray(1, 2, 3))) // ND4J names INT32 "INT"
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("dtype INT;");
        assertThatThrownBy(() -> Tensors.fromINDArray(Nd4j.create(DataType.HALF, 2)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("HALF");
        assertThatThrownBy(() -> Tensors.toINDArray(Tensor.of(iota(4), 4).to(DType.FP16)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("FP16");
        assertThatThrownBy(() -> Tensors.toINDArray(Tensor.ints(new int[]{1, 2}, 2)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("INT32");
    }

    @Test
    void releasedTensorIsRefused() {
        Tensor t = Tensor.of(iota(2), 2);
        t.release();
        assertThatThrownBy(() -> Tensors.toINDArray(t)).isInstanceOf(IllegalStateException.class);
    }
}
