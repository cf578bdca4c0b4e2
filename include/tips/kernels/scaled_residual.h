// tips/kernels/scaled_residual.h - a block's residual add through LayerScale, x + branch * gamma, in one pass each
// way (CPU). Under bf16 autocast the residual stream x is float32 and the branch (attention's or the MLP's output
// projection) bf16: the composite multiplies by gamma into a new float32 tensor, adds it to x into another, and
// backward multiplies the gradient by gamma (float32), casts it to bf16 for the projection, multiplies it by the
// branch and sums over rows for gamma's gradient. These kernels read x and the branch once and write the sum once;
// backward reads the gradient and the branch once, writes the bf16 branch gradient once, sums gamma's gradient in
// the same pass and hands the gradient on to x as it is.
//
// Example (model::Block, outside training with drop_path):
//   auto y = tips::kernels::scaled_residual(x, attn(h), ls1->gamma);   // x + branch * gamma
#pragma once
#include <torch/torch.h>

namespace tips::kernels {

// fused_cpu_kernels(), x float32 (..., D) on CPU, branch bf16 of x's shape, gamma float32 (D).
bool fused_scaled_residual_applies(const torch::Tensor& x, const torch::Tensor& branch, const torch::Tensor& gamma);

// x + branch * gamma, differentiable in all three: the kernels where fused_scaled_residual_applies(), ATen
// otherwise (the same float32 values up to one rounding: the kernel uses a fused multiply-add).
torch::Tensor scaled_residual(const torch::Tensor& x, const torch::Tensor& branch, const torch::Tensor& gamma);

// The kernels themselves (no autograd). Forward: x + branch * gamma, float32.
torch::Tensor scaled_residual_forward(const torch::Tensor& x, const torch::Tensor& branch, const torch::Tensor& gamma);

// Backward from grad (float32, x's shape): the branch's gradient grad * gamma in bf16, and gamma's, the sum over
// rows of grad * branch (float32 (D)). x's gradient is grad itself.
struct ScaledResidualGrads {
  torch::Tensor branch, gamma;
};
ScaledResidualGrads scaled_residual_backward(const torch::Tensor& grad, const torch::Tensor& branch,
                                             const torch::Tensor& gamma);

}  // namespace tips::kernels
