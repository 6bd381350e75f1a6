/**
 * memwall beside ND4J: {@link dev.memwall.samediff.Tensors} copies between memwall tensors and INDArrays, and
 * {@link dev.memwall.samediff.SameDiffGpt} runs memwall's GPT benchmark step in SameDiff as a benchmark peer. This
 * module has its own class path (ND4J's JavaCPP 1.5.7 and OpenBLAS 0.3.19, not memwall's 1.5.13): nothing here calls
 * memwall's GEMM.
 */
package dev.memwall.samediff;
