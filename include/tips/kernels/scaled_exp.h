// tips/kernels/scaled_exp.h - exp(x * scale) into float32 in one pass (CPU), for Sinkhorn-Knopp's start.
// The teacher's prototype scores come out of the bf16 heads as (rows, K); Sinkhorn-Knopp starts from
// E = exp(scores / T) in float32. As ATen ops that is a cast, a division and an exp, three passes over a matrix
// that is 1568 x 1024 in the demo and far larger at recipe scale; this reads x once and writes E once.
//
// Example:
//   if (tips::kernels::fused_scaled_exp_applies(scores)) e = tips::kernels::scaled_exp(scores, 1.0 / temp);
#pragma once
#include <torch/torch.h>

namespace tips::kernels {

// fused_cpu_kernels(), a CPU tensor of float32 or bf16, no gradient wanted.
bool fused_scaled_exp_applies(const torch::Tensor& x);

// exp(x * scale) as a new float32 tensor of x's shape. Requires fused_scaled_exp_applies(x).
torch::Tensor scaled_exp(const torch::Tensor& x, double scale);

}  // namespace tips::kernels
