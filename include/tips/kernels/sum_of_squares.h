// tips/kernels/sum_of_squares.h - the sum of squares of many tensors together, in one parallel pass (CPU).
// The global gradient-norm clip needs sqrt(sum over every gradient of g^2) once per step. As ATen ops that is one
// norm per tensor, a stack and a norm: about 215 dispatched ops for the demo's 106 gradients, run one after
// another while the other thread waits. This kernel reads each tensor once, accumulates in float64 over fixed
// pieces, and adds the pieces in order: the result does not depend on the thread count.
//
// Example (train_step.cpp, the gradient norm):
//   if (tips::kernels::fused_sum_of_squares_applies(grads))
//     norm = std::sqrt(tips::kernels::sum_of_squares(grads));
#pragma once
#include <torch/torch.h>

#include <vector>

namespace tips::kernels {

// fused_cpu_kernels(), at least one tensor, and every tensor defined, on the CPU, contiguous, float32 or float64.
bool fused_sum_of_squares_applies(const std::vector<torch::Tensor>& tensors);

// Sum over every element x of every tensor of x^2, accumulated in float64. Requires
// fused_sum_of_squares_applies(tensors).
double sum_of_squares(const std::vector<torch::Tensor>& tensors);

}  // namespace tips::kernels
