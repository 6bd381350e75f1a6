package dev.memwall.autograd;

import dev.memwall.format.Fp16;
import dev.memwall.format.Fp8E4M3;
import dev.memwall.format.Fp8E5M2;
import dev.memwall.format.Overflow;
import dev.memwall.kernels.Bf16Arrays;
import dev.memwall.memory.Category;

/** Conversions between floating storage formats; arithmetic happens in FP32, storage may be compact. */
final class Casts {
    private Casts() {
    }

    /**
     * A copy of {@code x} in {@code target}, accounted under {@code category}. Callers pass TEMPORARY unless they ask
     * for a persistent copy: a cast of a parameter made every step (autocast) must go with the step's scope, not
     * become a new PARAMETER buffer that nothing releases.
     */
    static Tensor convert(Tensor x, DType target, Overflow overflow, Category category) {
        x.checkAlive("to");
        if (!target.isFloating() || !x.dtype().isFloating()) {
            throw new IllegalArgumentException("to: conversion between " + x.dtype() + " and " + target + " is not supported");
        }
        if (category == null || category == Category.ACTIVATION) {
            throw new IllegalArgumentException("to: a copy is accounted as TEMPORARY or a persistent category, not " + category
                    + " (a tensor counts as ACTIVATION while a node saves it)");
        }
        // Every element of the copy is written below, so a reused array is not zeroed first.
        Tensor out = new Tensor(Storage.allocateForOverwrite(target, x.numel(), category, "to_" + target.name().toLowerCase()),
                0, x.shape());
        if (x.dtype() != DType.FP32) ConversionCounts.decoded(x.dtype(), x.numel());
        if (target != DType.FP32) ConversionCounts.encoded(target, x.numel());
        if (target == DType.FP32 && x.dtype() != DType.FP32) { // widening: decode straight into the output, no scratch
            decodeInto(x, out.data(), 0);
            return out;
        }
        float[] src;
        int off;
        if (x.dtype() == DType.FP32) {
            src = x.data();
            off = x.offset();
        } else {
            src = decode(x);
            off = 0;
        }
        int n = x.numel();
        switch (target) {
            case FP32 -> System.arraycopy(src, off, out.data(), 0, n);
            case FP16 -> Fp16.encode(src, off, out.shortData(), 0, n, overflow);
            case BF16 -> Bf16Arrays.encode(src, off, out.shortData(), 0, n, overflow);
            case FP8_E4M3 -> Fp8E4M3.encode(src, off, out.byteData(), 0, n, overflow);
            case FP8_E5M2 -> Fp8E5M2.encode(src, off, out.byteData(), 0, n, overflow);
            default -> throw new IllegalArgumentException("to: unsupported target " + target);
        }
        return out;
    }

    static float[] decode(Tensor x) {
        float[] r = new float[x.numel()];
        decodeInto(x, r, 0);
        return r;
    }

    private static void decodeInto(Tensor x, float[] r, int at) {
        int n = x.numel(), off = x.offset();
        switch (x.dtype()) {
            case FP32 -> System.arraycopy(x.data(), off, r, at, n);
            case FP16 -> Fp16.decode(x.shortData(), off, r, at, n);
            case BF16 -> Bf16Arrays.decode(x.shortData(), off, r, at, n);
            case FP8_E4M3 -> Fp8E4M3.decode(x.byteData(), off, r, at, n);
            case FP8_E5M2 -> Fp8E5M2.decode(x.byteData(), off, r, at, n);
            default -> throw new IllegalArgumentException("cannot decode " + x.dtype() + " as floats");
        }
    }
}
