/**
 * Runnable examples: {@code TrainGpt} is the README's (train a GPT through the Java API,
 * {@code mvn -q -pl examples -am compile exec:java}); {@code CheckpointGpt} compares memory with and without
 * checkpointing ({@code ... exec:java -Dexample=dev.memwall.examples.CheckpointGpt}).
 */
package dev.memwall.examples;
