/**
 * Differentiable ops. {@link dev.memwall.ops.F} is the public entry point; each op allocates its output, runs a
 * kernel from {@code dev.memwall.kernels}, and, when grad mode is on and an input requires a gradient, records a
 * node that saves only what its backward rule reads. Backward rules are written with these same ops, so every op
 * supports higher-order gradients; fused ops add a fast first-order rule.
 */
package dev.memwall.ops;
