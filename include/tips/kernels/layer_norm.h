// tips/kernels/layer_norm.h - a block's LayerNorm written straight into bf16 for the linear layer that reads it.
// Under bf16 autocast a pre-norm block keeps its residual stream in float32; LayerNorm is on autocast's float32
// list, so ATen writes the normalised rows in float32 and the next linear (attention's qkv, the MLP's fc1) casts
// them to bf16: two passes forward, and in backward a cast of the bf16 gradient back to float32 before
// LayerNorm's own. These kernels read the float32 rows once and write bf16 once forward, and take the bf16
// gradient as it comes backward. Same float32 arithmetic as ATen, so the bf16 values the linear sees are the
// same up to float32 summation order.
//
// Example (model::Block):
//   auto h = attn(tips::kernels::layer_norm_for_linear(x, norm1->weight, norm1->bias, eps));
#pragma once
#include <torch/torch.h>

namespace tips::kernels {

// fused_cpu_kernels(), CPU bf16 autocast on, x a float32 CPU tensor (..., D), weight and bias float32 (D).
bool fused_layer_norm_applies(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);

// LayerNorm over the last dim, differentiable in x, weight and bias: bf16 from the kernels where
// fused_layer_norm_applies(), torch::layer_norm otherwise (float32 under autocast). Use it only where a linear
// layer (which casts to bf16 under autocast anyway) is the output's reader.
torch::Tensor layer_norm_for_linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                    double eps);

// The kernels themselves (no autograd). Forward: y (..., D) bf16, and per row mean and 1/std (...) float32.
struct LayerNormRows {
  torch::Tensor y, mean, rstd;
};
LayerNormRows layer_norm_bf16_forward(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                      double eps);

// Backward from grad_y (..., D) bf16 or float32: grad_x (..., D) float32, grad_weight and grad_bias (D) float32.
struct LayerNormGrads {
  torch::Tensor x, weight, bias;
};
LayerNormGrads layer_norm_bf16_backward(const torch::Tensor& grad_y, const torch::Tensor& x,
                                        const torch::Tensor& weight, const torch::Tensor& mean,
                                        const torch::Tensor& rstd);

}  // namespace tips::kernels
