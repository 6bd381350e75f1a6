/**
 * Test support shared with the other modules through the autograd test jar: an independent double-precision GPT
 * ({@link dev.memwall.testing.ReferenceGpt}) and Hessian-vector products of {@code nn.Gpt} checked against it
 * parameter by parameter ({@link dev.memwall.testing.GptHvp}).
 */
package dev.memwall.testing;
