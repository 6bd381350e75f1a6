/**
 * The training loop and its persistent state: {@link dev.memwall.train.Trainer} runs one explicit step (forward,
 * backward, clip, update) and reports {@link dev.memwall.train.StepStats} with the step's memory figures and bytes
 * communicated; {@link dev.memwall.train.DataParallel} makes the same step one rank of a data-parallel job at a
 * {@link dev.memwall.train.ZeroStage} (which rows, which range of the flat buffers, which collectives), with
 * {@code GradientBuckets} reducing stage 2's gradients during backward from the parameters' gradient-ready hooks and
 * {@code ParameterShards} gathering stage 3's parameter units around their forward and backward (laid out by
 * {@code UnitLayout}, saved by reference through {@code ParameterReferenceHooks}, one reduction in flight in
 * {@code UnitReduction}), at most two unit buffers at once, and {@code LowPrecisionGradients} holding the gradients a
 * rank keeps — at stages 2 and 3 its gradient shard — in BF16/FP16 between backward and the update
 * ({@code --grad-dtype}, in a {@code HalfGradients} array);
 * {@link dev.memwall.train.TrainingState} saves and resumes model, optimizer, step and RNG state atomically — under
 * data parallelism each rank its optimizer range and rank 0 the model and a manifest, resumable (resharded) on any
 * world size and stage, and consolidated into one weights file.
 */
package dev.memwall.train;
