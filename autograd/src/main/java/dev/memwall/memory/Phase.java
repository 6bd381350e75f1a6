package dev.memwall.memory;

/** The part of a training step an allocation happened in; set by the engine and the trainer, read by reports. */
public enum Phase { SETUP, FORWARD, BACKWARD, OPTIMIZER, RECOMPUTE, COMMUNICATION, EVAL }
