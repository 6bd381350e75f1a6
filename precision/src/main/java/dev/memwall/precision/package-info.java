/**
 * Mixed precision for memwall training: {@link dev.memwall.precision.Autocast} regions (GEMM operands in BF16 or FP16,
 * products accumulated in FP32, everything else FP32; op lists in {@link dev.memwall.precision.AutocastOps}), the
 * per-region cache of low-precision weight copies (counted under PARAMETER, released at the region's end), and loss
 * scaling ({@link dev.memwall.precision.GradScaler}, {@link dev.memwall.precision.LossScale}). Under a region the
 * activations nodes save are BF16 (layer-norm statistics apart). The master weights and the optimizer state stay
 * FP32; the parameters' gradients too, unless {@link dev.memwall.precision.GradDtype} ({@code --grad-dtype}) holds
 * them in BF16 or FP16 between backward and the update. The ops live below this module, in autograd; they reach
 * a region through {@link dev.memwall.autograd.CastPolicy}, which {@code Autocast} installs. {@link
 * dev.memwall.precision.Precision} names every {@code --precision} value, the FP8 recipes of
 * {@code dev.memwall.precision.fp8} included, and {@link dev.memwall.precision.MixedPrecision} opens the right one per
 * step. See docs/precision.md.
 */
package dev.memwall.precision;
