/**
 * Optimizers over element ranges of flat parameter and gradient buffers ({@link dev.memwall.nn.FlatParameters}):
 * {@link dev.memwall.optim.AdamW}, {@link dev.memwall.optim.Sgd}, global-norm clipping and learning-rate schedules.
 * State is allocated for the owned range only and counted as OPTIMIZER_STATE.
 */
package dev.memwall.optim;
