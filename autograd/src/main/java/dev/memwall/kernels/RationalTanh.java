package dev.memwall.kernels;

/**
 * tanh as a rational minimax approximation (odd degree-13 numerator over even degree-6 denominator, input clamped to
 * ±7.9053, where it reaches ±1 in float), within 4e-7 of the exact value over all floats. Only multiplies, adds, a
 * divide and a clamp, so a loop of it vectorizes; {@link Math#tanh} and {@link Math#exp} do not, and cost several
 * times more.
 *
 * <p>The one definition every tanh of the project uses: {@link Elementwise#tanh}, the GELU kernels ({@link Gelu}),
 * the GELU rules of forward-over-reverse ({@code rop.GeluRop}) and, lane by lane with these coefficients, the Vector
 * API bodies. The method is small so that the JIT inlines it into their loops (a call left in a loop stops that loop
 * from vectorizing).
 */
public final class RationalTanh {
    /** Beyond ±CLAMP the approximation is ±1 in float. */
    static final float CLAMP = 7.90531110763549805f;
    // numerator p(x²)·x, highest power first; P2 enters with a minus sign
    static final float P0 = -2.76076847742355e-16f, P1 = 2.00018790482477e-13f, P2 = 8.60467152213735e-11f,
            P3 = 5.12229709037114e-08f, P4 = 1.48572235717979e-05f, P5 = 6.37261928875436e-04f,
            P6 = 4.89352455891786e-03f;
    // denominator q(x²), highest power first
    static final float Q0 = 1.19825839466702e-06f, Q1 = 1.18534705686654e-04f, Q2 = 2.26843463243900e-03f,
            Q3 = 4.89352518554385e-03f;

    private RationalTanh() {
    }

    /** tanh(u), within 4e-7; NaN for NaN. */
    public static float tanh(float u) {
        float x = Math.max(-CLAMP, Math.min(CLAMP, u));
        float x2 = x * x;
        float p = ((((((P0 * x2 + P1) * x2 - P2) * x2 + P3) * x2 + P4) * x2 + P5) * x2 + P6) * x;
        float q = ((Q0 * x2 + Q1) * x2 + Q2) * x2 + Q3;
        return p / q;
    }
}
