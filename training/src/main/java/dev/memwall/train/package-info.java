/**
 * The training loop and its persistent state: {@link dev.memwall.train.Trainer} runs one explicit step (forward,
 * backward, clip, update) and reports {@link dev.memwall.train.StepStats} with the step's memory figures;
 * {@link dev.memwall.train.TrainingState} saves and resumes model, optimizer, step and RNG state atomically.
 */
package dev.memwall.train;
