/**
 * Forward-over-reverse (Pearlmutter's R-operator) with fused rules: every op the GPT uses carries a tangent through
 * its forward (ẏ = J·ẋ) and through its backward (the tangent of its vector-Jacobian product), on heap arrays and
 * {@code kernels.Gemm}, so one forward and one backward pass give the gradient g and a Hessian-vector product H·z
 * together. {@link dev.memwall.rop.GptRop} is the pass over {@code nn.Gpt}; docs/checkpointing.md says why it is an
 * explicit pass rather than a rule on every autograd node.
 */
package dev.memwall.rop;
