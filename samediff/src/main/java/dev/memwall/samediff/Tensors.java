package dev.memwall.samediff;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.Objects;

/**
 * Copies between memwall {@link Tensor}s and ND4J {@link INDArray}s, for users who hold INDArrays (DL4J models, data
 * pipelines). Both directions copy: a memwall tensor lives in a Java heap array, an INDArray in native memory, and
 * neither can read the other's. Only FP32 converts (ND4J's {@code FLOAT}); any other type is refused with its name,
 * so nothing is rounded or reinterpreted silently.
 */
public final class Tensors {
    private Tensors() {
    }

    /**
     * A new FP32 tensor (a TEMPORARY of the open scope, like {@link Tensor#of}) with the INDArray's shape and values.
     * Any ordering and any view (offsets, strides, a transpose) is read element by element in row-major (C) order,
     * which is memwall's only layout; a rank-0 INDArray becomes a rank-0 tensor and an empty one an empty tensor.
     *
     * @throws IllegalArgumentException if the INDArray is not FLOAT or has more elements than a Java array holds
     */
    public static Tensor fromINDArray(INDArray array) {
        Objects.requireNonNull(array, "fromINDArray: array is null");
        if (array.dataType() != DataType.FLOAT) {
            throw new IllegalArgumentException("fromINDArray: INDArray has dtype " + array.dataType()
                    + "; only FLOAT (FP32) converts, e.g. array.castTo(DataType.FLOAT) first");
        }
        int[] shape = intShape(array.shape());
        Tensor t = Tensor.empty("fromINDArray", shape);
        if (t.numel() == 0) return t;
        // A C-ordered array that owns its whole buffer is read directly; any other layout is first made dense in C order
        // by ND4J (one native copy), then bulk-copied into the heap.
        INDArray dense = isDenseC(array) ? array : array.dup('c');
        dense.data().asNioFloat().get(t.data(), t.offset(), t.numel());
        return t;
    }

    /**
     * A new dense C-ordered FLOAT INDArray with the tensor's shape and values (the tensor may be a view into a larger
     * storage, e.g. a parameter in a flat buffer; only its own elements are copied).
     *
     * @throws IllegalArgumentException if the tensor is not FP32 (convert it with {@code tensor.to(DType.FP32)})
     */
    public static INDArray toINDArray(Tensor tensor) {
        Objects.requireNonNull(tensor, "toINDArray: tensor is null");
        tensor.checkAlive("toINDArray");
        if (tensor.dtype() != DType.FP32) {
            throw new IllegalArgumentException("toINDArray: tensor has dtype " + tensor.dtype()
                    + "; only FP32 converts, e.g. tensor.to(DType.FP32) first");
        }
        long[] shape = Arrays.stream(tensor.shape()).asLongStream().toArray();
        if (tensor.numel() == 0) return Nd4j.create(DataType.FLOAT, shape, 'c');
        INDArray r = Nd4j.createUninitialized(DataType.FLOAT, shape, 'c');
        r.data().asNioFloat().put(tensor.data(), tensor.offset(), tensor.numel());
        return r;
    }

    /** C order, element-wise stride 1 and exactly as long as its buffer: the buffer is the array, element for element. */
    private static boolean isDenseC(INDArray a) {
        return a.ordering() == 'c' && !a.isView() && a.offset() == 0 && a.elementWiseStride() == 1
                && a.data().length() == a.length();
    }

    private static int[] intShape(long[] shape) {
        int[] r = new int[shape.length];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            numel *= shape[i];
            if (shape[i] > Integer.MAX_VALUE || numel > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException("fromINDArray: shape " + Arrays.toString(shape)
                        + " has more elements than a Java array holds");
            }
            r[i] = (int) shape[i];
        }
        return r;
    }
}
