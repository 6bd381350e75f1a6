package dev.memwall.kernels;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * Chooses the {@link KernelBodies} once, at class initialization, as Lucene's {@code VectorizationProvider} does: the
 * Vector API implementation ({@code VectorKernels}, loaded reflectively, compiled against the incubating
 * {@code jdk.incubator.vector}) only when that module is readable, C2 compiles the code (Vector API code that C2 does
 * not intrinsify is many times slower than plain loops) and the preferred vector species is at least 128 bits wide;
 * otherwise the scalar loops ({@link ScalarKernels}).
 *
 * <ul>
 *   <li>{@code -Dmemwall.vector=auto} (default) decides as above; {@code on} insists on the Vector API (skipping the
 *       C2 check; an error when the module is missing, which is what tests want); {@code off} takes the scalar
 *       loops.</li>
 *   <li>{@code -Dmemwall.vector.bits=128|256|512} uses that species width instead of the preferred one (for tests of
 *       the narrower paths; wider than the CPU supports is refused).</li>
 *   <li>The choice and, on a fall-back, its reason go to {@link System.Logger} at DEBUG (routable to SLF4J through its
 *       JDK platform-logging bridge), and to stderr as one line with {@code -Dmemwall.vector.verbose=true}.</li>
 * </ul>
 * The JVM needs {@code --add-modules jdk.incubator.vector} for the Vector API (the {@code memwall} launcher and the
 * tests pass it); it then prints a one-line incubator warning on stderr. Without the flag everything runs scalar.
 */
public final class Vectorization {
    public static final String MODE_PROPERTY = "memwall.vector";
    public static final String BITS_PROPERTY = "memwall.vector.bits";
    public static final String VERBOSE_PROPERTY = "memwall.vector.verbose";
    static final String VECTOR_MODULE = "jdk.incubator.vector";
    static final String VECTOR_CLASS = "dev.memwall.kernels.VectorKernels";

    private static final Choice CHOICE = choose();

    private Vectorization() {
    }

    /** The implementation chosen and why: a description of the vector one, or the reason for the scalar one. */
    public record Choice(KernelBodies bodies, String reason) {
        public boolean vectorized() {
            return bodies != ScalarKernels.INSTANCE;
        }
    }

    /** What the JVM offers: whether the vector module is readable, and why C2 is not in use (null when it is). */
    record Environment(boolean moduleReadable, String noC2) {
    }

    /** The bodies every kernel class uses. */
    public static KernelBodies bodies() {
        return CHOICE.bodies();
    }

    /** Why these bodies: e.g. "Vector API, 512-bit" or "scalar: jdk.incubator.vector is not readable (...)". */
    public static String reason() {
        return CHOICE.reason();
    }

    public static boolean vectorized() {
        return CHOICE.vectorized();
    }

    /** The scalar bodies, whatever was chosen: the oracle for tests and the baseline for benchmarks. */
    public static KernelBodies scalar() {
        return ScalarKernels.INSTANCE;
    }

    /**
     * The Vector API bodies whatever was chosen (for benchmarks and tests that compare the two);
     * {@link UnsupportedOperationException} naming the reason when they cannot run in this JVM.
     */
    public static KernelBodies vector() {
        if (vectorized()) return bodies();
        if (!environment().moduleReadable()) {
            throw new UnsupportedOperationException(VECTOR_MODULE + " is not readable (run java with --add-modules " + VECTOR_MODULE + ")");
        }
        return loadVectorKernels();
    }

    /**
     * JVM options that give a child JVM (started with this JVM's class path) the same kernel bodies as this one, so
     * that both compute the same bits: the vector module and this JVM's settings, or the scalar loops.
     */
    public static List<String> childJvmOptions() {
        if (!vectorized()) return List.of("-D" + MODE_PROPERTY + "=off");
        List<String> options = new ArrayList<>(List.of("--add-modules", VECTOR_MODULE, "-D" + MODE_PROPERTY + "=on"));
        String bits = System.getProperty(BITS_PROPERTY);
        if (bits != null) options.add("-D" + BITS_PROPERTY + "=" + bits);
        return options;
    }

    private static Choice choose() {
        Choice c = lookup(System.getProperty(MODE_PROPERTY), Integer.getInteger(BITS_PROPERTY, 0), environment(),
                Vectorization::loadVectorKernels);
        String line = "memwall kernels: " + c.reason();
        System.getLogger(Vectorization.class.getName()).log(System.Logger.Level.DEBUG, line);
        if (Boolean.getBoolean(VERBOSE_PROPERTY)) System.err.println(line);
        return c;
    }

    /**
     * The decision, apart from the JVM it runs in. {@code bits} 0 means the preferred width; {@code vector} loads the
     * Vector API bodies and throws {@link UnsupportedOperationException} with a reason when they cannot run here.
     */
    static Choice lookup(String mode, int bits, Environment env, Supplier<KernelBodies> vector) {
        String m = mode == null ? "auto" : mode.trim().toLowerCase(Locale.ROOT);
        if (!m.equals("auto") && !m.equals("on") && !m.equals("off")) {
            throw new IllegalArgumentException("-D" + MODE_PROPERTY + " must be auto, on or off, got '" + mode + "'");
        }
        if (bits != 0 && bits != 128 && bits != 256 && bits != 512) {
            throw new IllegalArgumentException("-D" + BITS_PROPERTY + " must be 128, 256 or 512, got " + bits);
        }
        if (m.equals("off")) return new Choice(scalar(), "scalar: -D" + MODE_PROPERTY + "=off");
        boolean forced = m.equals("on");
        if (!env.moduleReadable()) {
            String why = VECTOR_MODULE + " is not readable (run java with --add-modules " + VECTOR_MODULE + ")";
            if (forced) throw new IllegalStateException("-D" + MODE_PROPERTY + "=on but " + why);
            return new Choice(scalar(), "scalar: " + why);
        }
        if (env.noC2() != null && !forced) return new Choice(scalar(), "scalar: " + env.noC2());
        try {
            KernelBodies k = vector.get();
            return new Choice(k, k.name() + (forced ? " (-D" + MODE_PROPERTY + "=on)" : ""));
        } catch (UnsupportedOperationException e) {
            if (forced) throw new IllegalStateException("-D" + MODE_PROPERTY + "=on but " + e.getMessage(), e);
            return new Choice(scalar(), "scalar: " + e.getMessage());
        }
    }

    static Environment environment() {
        boolean readable = ModuleLayer.boot().findModule(VECTOR_MODULE)
                .map(Vectorization.class.getModule()::canRead).orElse(false);
        return new Environment(readable, noC2());
    }

    /** Why C2 does not compile this JVM's code, or null when it does (HotSpot's flags, as Lucene reads them). */
    static String noC2() {
        String info = System.getProperty("java.vm.info", "");
        if (info.contains("interpreted mode")) return "the JIT is off (-Xint)";
        if (info.contains("emulated-client")) return "C2 is off (client emulation)";
        try {
            var hotspot = ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
            if (hotspot == null) return null;
            if ("false".equals(option(hotspot, "UseCompiler"))) return "the JIT is off (-XX:-UseCompiler)";
            if ("true".equals(option(hotspot, "UseJVMCICompiler"))) return "a JVMCI compiler replaces C2";
            String level = option(hotspot, "TieredStopAtLevel");
            if (level != null && "true".equals(option(hotspot, "TieredCompilation")) && Integer.parseInt(level) < 4) {
                return "C2 is off (-XX:TieredStopAtLevel=" + level + ")";
            }
        } catch (RuntimeException | LinkageError e) {
            return null; // not HotSpot, or no management module: nothing to go by, so assume an optimizing JIT
        }
        return null;
    }

    private static String option(com.sun.management.HotSpotDiagnosticMXBean hotspot, String name) {
        try {
            return hotspot.getVMOption(name).getValue();
        } catch (IllegalArgumentException e) {
            return null; // this VM has no such flag
        }
    }

    /** Loads {@code VectorKernels} reflectively, so this class links without the incubator module. */
    static KernelBodies loadVectorKernels() {
        try {
            return (KernelBodies) Class.forName(VECTOR_CLASS).getDeclaredConstructor().newInstance();
        } catch (java.lang.reflect.InvocationTargetException e) {
            if (e.getCause() instanceof UnsupportedOperationException u) throw u;
            throw new UnsupportedOperationException("the Vector API bodies failed to start: " + e.getCause(), e.getCause());
        } catch (ReflectiveOperationException | LinkageError e) {
            throw new UnsupportedOperationException("the Vector API bodies could not be loaded: " + e, e);
        }
    }
}
