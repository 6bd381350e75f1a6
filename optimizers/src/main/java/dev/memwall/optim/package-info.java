/**
 * Optimizers over element ranges of flat parameter and gradient buffers ({@link dev.memwall.nn.FlatParameters}):
 * {@link dev.memwall.optim.AdamW}, {@link dev.memwall.optim.Sgd}, {@link dev.memwall.optim.AdaHessian} (with
 * {@link dev.memwall.optim.Hutchinson}'s Hessian-diagonal estimate and the {@link dev.memwall.optim.SecondOrder} step
 * protocol), global-norm clipping and learning-rate schedules.
 * State is allocated for the owned range only and counted as OPTIMIZER_STATE. A {@link dev.memwall.optim.Shard}
 * generalizes the range to several segments whose gradients live in an array of their own (ZeRO stage 2).
 */
package dev.memwall.optim;
