package dev.memwall.ops;

import dev.memwall.autograd.Engine;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.function.BiFunction;
import java.util.function.Supplier;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.params.provider.Arguments.arguments;

/** Error messages name the op and the shapes; the graph refuses a second backward; released tensors are refused. */
class ErrorsTest {
    static Tensor t(int... shape) {
        return Tensor.zeros(shape);
    }

    static BiFunction<Tensor, Tensor, Tensor> binary(String op) {
        return switch (op) {
            case "add" -> F::add;
            case "sub" -> F::sub;
            case "mul" -> F::mul;
            default -> F::div;
        };
    }

    @ParameterizedTest
    @ValueSource(strings = {"add", "sub", "mul", "div"})
    void broadcastMismatchNamesOpAndBothShapes(String op) {
        try (Scope s = Scope.open()) {
            assertThatThrownBy(() -> binary(op).apply(t(2, 3), t(4)))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining(op).hasMessageContaining("[2, 3]").hasMessageContaining("[4]");
            assertThatThrownBy(() -> binary(op).apply(t(3, 1, 5), t(2, 4)))
                    .hasMessageContaining(op).hasMessageContaining("[3, 1, 5]").hasMessageContaining("[2, 4]");
        }
    }

    static Stream<Arguments> shapeErrors() {
        return Stream.of(
                arguments("matmul inner", (Supplier<Tensor>) () -> F.matmul(t(2, 3), t(4, 5), false, false), new String[]{"matmul", "[2, 3]", "[4, 5]"}),
                arguments("matmul inner transB", (Supplier<Tensor>) () -> F.matmul(t(2, 3), t(5, 4), false, true), new String[]{"matmul", "[2, 3]", "[5, 4]"}),
                arguments("matmul inner transA", (Supplier<Tensor>) () -> F.matmul(t(2, 3), t(2, 5), true, true), new String[]{"matmul", "[2, 3]", "[2, 5]"}),
                arguments("matmul batch", (Supplier<Tensor>) () -> F.matmul(t(2, 3, 4), t(3, 4, 5), false, false), new String[]{"matmul", "[2, 3, 4]", "[3, 4, 5]"}),
                arguments("linear", (Supplier<Tensor>) () -> F.linear(t(2, 3), t(5, 4), null), new String[]{"linear", "[2, 3]", "[5, 4]"}),
                arguments("linear bias", (Supplier<Tensor>) () -> F.linear(t(2, 4), t(5, 4), t(4)), new String[]{"linear", "[4]", "[5, 4]"}),
                arguments("causalSoftmax", (Supplier<Tensor>) () -> F.causalSoftmax(t(2, 3, 4), 1f), new String[]{"causal_softmax", "[2, 3, 4]"}),
                arguments("expand", (Supplier<Tensor>) () -> F.expand(t(3, 2), 3, 4), new String[]{"expand", "[3, 2]", "[3, 4]"}),
                arguments("sumTo", (Supplier<Tensor>) () -> F.sumTo(t(3, 4), 5), new String[]{"sum_to", "[3, 4]", "[5]"}),
                arguments("reshape", (Supplier<Tensor>) () -> F.reshape(t(2, 3), 4, 2), new String[]{"reshape", "[2, 3]", "[4, 2]"}),
                arguments("concat", (Supplier<Tensor>) () -> F.concat(0, t(2, 3), t(2, 4)), new String[]{"concat", "[2, 3]", "[2, 4]"}),
                arguments("layerNorm", (Supplier<Tensor>) () -> F.layerNorm(t(2, 3), t(4), null, 1e-5f), new String[]{"layer_norm", "[4]", "[2, 3]"}),
                arguments("crossEntropy", (Supplier<Tensor>) () -> F.crossEntropy(t(3, 5), Tensor.ints(new int[]{1, 2}, 2)), new String[]{"cross_entropy", "[3, 5]", "[2]"}),
                arguments("causalMask", (Supplier<Tensor>) () -> F.causalMask(t(2, 3, 4), 0f), new String[]{"causal_mask", "[2, 3, 4]"}),
                arguments("slice", (Supplier<Tensor>) () -> F.slice(t(2, 3), 1, 1, 5), new String[]{"slice", "[2, 3]"}));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapeErrors")
    void shapeErrorsNameOpAndShapes(String what, Supplier<Tensor> op, String[] expected) {
        try (Scope s = Scope.open()) {
            assertThatThrownBy(op::get).isInstanceOf(IllegalArgumentException.class).satisfies(e -> {
                for (String x : expected) assertThat(e.getMessage()).contains(x);
            });
        }
    }

    @Test
    void outOfRangeIdsAndTargetsAreRefused() {
        try (Scope s = Scope.open()) {
            assertThatThrownBy(() -> F.embedding(t(4, 2), Tensor.ints(new int[]{1, 4}, 2))).hasMessageContaining("4");
            assertThatThrownBy(() -> F.crossEntropy(t(2, 3), Tensor.ints(new int[]{0, 3}, 2))).hasMessageContaining("3");
        }
    }

    @Test
    void secondBackwardWithoutRetainGraphNamesRetainGraph() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[]{0.5f, -1f, 2f}, 3).requiresGrad(true);
            Tensor y = F.sumAll(F.mul(F.exp(x), x));
            y.backward();
            assertThatThrownBy(y::backward).hasMessageContaining("retainGraph");
            Tensor z = F.sumAll(F.tanh(x));
            Engine.grad(z, x, false);
            assertThatThrownBy(() -> Engine.grad(z, x, false)).hasMessageContaining("retainGraph");
        }
    }

    @Test
    void backwardTwiceWithRetainGraphDoublesGrad() {
        float[] xv = {0.5f, -1f, 2f};
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(xv, 3).requiresGrad(true);
            Tensor y = F.sumAll(F.mul(F.exp(x), x)); // d/dx = e^x (1 + x)
            y.backward(null, true, false);
            double[] once = new double[3], twice = new double[3];
            for (int i = 0; i < 3; i++) {
                once[i] = Math.exp(xv[i]) * (1 + xv[i]);
                twice[i] = 2 * once[i];
            }
            Fd.assertClose("grad after one backward", x.grad().toFloatArray(), once, 1e-6);
            y.backward(null, true, false);
            Fd.assertClose("grad after two backwards", x.grad().toFloatArray(), twice, 1e-6);
        }
    }

    static Stream<Arguments> opsOnReleased() {
        return Stream.of(
                arguments("exp", (java.util.function.Function<Tensor, Tensor>) F::exp),
                arguments("add", (java.util.function.Function<Tensor, Tensor>) x -> F.add(Tensor.zeros(2, 2), x)),
                arguments("matmul", (java.util.function.Function<Tensor, Tensor>) x -> F.matmul(x, Tensor.zeros(2, 2), false, false)),
                arguments("reshape", (java.util.function.Function<Tensor, Tensor>) x -> F.reshape(x, 4)),
                arguments("softmax", (java.util.function.Function<Tensor, Tensor>) F::softmax),
                arguments("layerNorm", (java.util.function.Function<Tensor, Tensor>) x -> F.layerNorm(x, null, null, 1e-5f)),
                arguments("sumAll", (java.util.function.Function<Tensor, Tensor>) F::sumAll),
                arguments("permute", (java.util.function.Function<Tensor, Tensor>) x -> F.permute(x, 1, 0)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("opsOnReleased")
    void opsOnReleasedTensorFail(String name, java.util.function.Function<Tensor, Tensor> op) {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[]{1f, 2f, 3f, 4f}, 2, 2);
            x.release();
            assertThatThrownBy(() -> op.apply(x)).hasMessageContaining("released");
        }
        Tensor escaped;
        try (Scope s = Scope.open()) {
            escaped = Tensor.of(new float[]{1f, 2f, 3f, 4f}, 2, 2);
        }
        assertThatThrownBy(() -> op.apply(escaped)).as("temporary used after its scope closed").hasMessageContaining("released");
    }
}
