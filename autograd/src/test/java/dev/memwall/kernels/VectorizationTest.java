package dev.memwall.kernels;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The choice between the scalar and the Vector API bodies: the property, the JVM's conditions, and this JVM. */
class VectorizationTest {
    private static final Vectorization.Environment READY = new Vectorization.Environment(true, null);
    private static final KernelBodies FAKE_VECTOR = new ScalarKernels() {
        @Override
        public String name() {
            return "Vector API, fake";
        }
    };
    private final AtomicInteger loads = new AtomicInteger();
    private final Supplier<KernelBodies> loader = () -> {
        loads.incrementAndGet();
        return FAKE_VECTOR;
    };

    /** Surefire runs the module's tests with -Dmemwall.vector=on, so CI exercises the vector bodies everywhere. */
    @Test
    void forcedOnSelectsTheVectorBodiesInThisJvm() {
        assertThat(System.getProperty(Vectorization.MODE_PROPERTY)).as("set by surefire").isEqualTo("on");
        assertThat(Vectorization.vectorized()).isTrue();
        assertThat(Vectorization.bodies()).isNotSameAs(Vectorization.scalar());
        assertThat(Vectorization.bodies().getClass().getName()).isEqualTo(Vectorization.VECTOR_CLASS);
        assertThat(Vectorization.reason()).startsWith("Vector API, ").endsWith("(-Dmemwall.vector=on)");
        Integer bits = Integer.getInteger(Vectorization.BITS_PROPERTY);
        if (bits != null) assertThat(Vectorization.bodies().name()).isEqualTo("Vector API, " + bits + "-bit");
    }

    /** A child JVM (compare-memory's, a test's) must run the same bodies, or its sums differ in the last bits. */
    @Test
    void childJvmsAreGivenTheseBodies() {
        assertThat(Vectorization.childJvmOptions()).startsWith("--add-modules", "jdk.incubator.vector", "-Dmemwall.vector=on");
        String bits = System.getProperty(Vectorization.BITS_PROPERTY);
        if (bits != null) assertThat(Vectorization.childJvmOptions()).contains("-Dmemwall.vector.bits=" + bits);
    }

    @Test
    void thisJvmCanReadTheModuleAndRunsC2() {
        assertThat(Vectorization.environment()).isEqualTo(READY);
        assertThat(Vectorization.loadVectorKernels().name()).startsWith("Vector API, ");
    }

    @Test
    void offTakesTheScalarBodiesWithoutLoadingTheVectorOnes() {
        Vectorization.Choice c = Vectorization.lookup("off", 0, READY, loader);
        assertThat(c.bodies()).isSameAs(Vectorization.scalar());
        assertThat(c.vectorized()).isFalse();
        assertThat(c.reason()).isEqualTo("scalar: -Dmemwall.vector=off");
        assertThat(loads).hasValue(0);
    }

    @Test
    void autoTakesTheVectorBodiesWhenEverythingIsThere() {
        for (String mode : new String[]{null, "auto", " AUTO "}) {
            Vectorization.Choice c = Vectorization.lookup(mode, 0, READY, loader);
            assertThat(c.bodies()).isSameAs(FAKE_VECTOR);
            assertThat(c.vectorized()).isTrue();
            assertThat(c.reason()).isEqualTo("Vector API, fake");
        }
    }

    @Test
    void autoFallsBackWithAReasonWhenTheModuleIsNotReadable() {
        Vectorization.Choice c = Vectorization.lookup("auto", 0, new Vectorization.Environment(false, null), loader);
        assertThat(c.bodies()).isSameAs(Vectorization.scalar());
        assertThat(c.reason()).isEqualTo("scalar: jdk.incubator.vector is not readable (run java with --add-modules jdk.incubator.vector)");
        assertThat(loads).hasValue(0);
    }

    @Test
    void onRefusesToRunWithoutTheModule() {
        assertThatThrownBy(() -> Vectorization.lookup("on", 0, new Vectorization.Environment(false, null), loader))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("-Dmemwall.vector=on").hasMessageContaining("--add-modules jdk.incubator.vector");
    }

    @Test
    void autoFallsBackWithoutC2ButOnInsists() {
        Vectorization.Environment noC2 = new Vectorization.Environment(true, "C2 is off (-XX:TieredStopAtLevel=1)");
        assertThat(Vectorization.lookup("auto", 0, noC2, loader).reason()).isEqualTo("scalar: C2 is off (-XX:TieredStopAtLevel=1)");
        assertThat(Vectorization.lookup("on", 0, noC2, loader).bodies()).isSameAs(FAKE_VECTOR);
    }

    @Test
    void bodiesThatCannotRunHereFallBackUnderAutoAndFailUnderOn() {
        Supplier<KernelBodies> unusable = () -> {
            throw new UnsupportedOperationException("512-bit vectors asked for, this CPU has 256");
        };
        assertThat(Vectorization.lookup("auto", 512, READY, unusable).reason())
                .isEqualTo("scalar: 512-bit vectors asked for, this CPU has 256");
        assertThatThrownBy(() -> Vectorization.lookup("on", 512, READY, unusable))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("this CPU has 256");
    }

    @Test
    void badSettingsAreNamed() {
        assertThatThrownBy(() -> Vectorization.lookup("fast", 0, READY, loader))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("-Dmemwall.vector must be auto, on or off, got 'fast'");
        assertThatThrownBy(() -> Vectorization.lookup("on", 100, READY, loader))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("-Dmemwall.vector.bits must be 128, 256 or 512, got 100");
    }
}
