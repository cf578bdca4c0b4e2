// tips/kernels/soft_cross_entropy.h - the soft cross-entropy over K prototypes in one pass each way (CPU).
// The DINO/iBOT student term is, per row, CE = -sum_k p_k log_softmax(s / T)_k with target probabilities p; for
// iBOT++ it runs over every patch (rows = B x N, e.g. 1568 x 1024 in the demo, 64 x 256 x 65536 at recipe scale).
// As ATen ops that is a cast of bf16 logits to float32, a scale, log_softmax, a product and a sum forward, and an
// exp, a scale, a subtraction and a cast back in backward, each a pass over (rows, K) floats. These kernels read
// each row once into L1 and write only per-row scalars forward and the logits' gradient (in the logits' dtype)
// backward. loss::detail::soft_cross_entropy uses them where fused_soft_cross_entropy_applies().
//
// Example:
//   auto rows = tips::kernels::soft_cross_entropy_forward(logits, probs, 1.0 / temp);   // rows.ce: (M)
//   auto grad = tips::kernels::soft_cross_entropy_backward(grad_ce, logits, probs, rows, 1.0 / temp);
#pragma once
#include <torch/torch.h>

namespace tips::kernels {

// Per-row results of the forward, each (...) = the logits' shape without K, float32.
struct SoftCrossEntropyRows {
  torch::Tensor ce;       // -sum_k p_k log_softmax(z)_k with z = logits * inv_temp
  torch::Tensor max;      // max_k z_k            } kept for backward instead of the (..., K) log_softmax;
  torch::Tensor log_sum;  // log sum_k exp(z_k - max) } two numbers, so that z - max stays exact near the max
  torch::Tensor mass;     // sum_k p_k (1 for probability rows)
};

// Whether the fused kernels take these operands: fused_cpu_kernels(), CPU tensors, logits float32 or bf16, probs
// float32 of the same shape, no gradient wanted for probs, and at least one row.
bool fused_soft_cross_entropy_applies(const torch::Tensor& logits, const torch::Tensor& probs);

// logits: (..., K) float32 or bf16; probs: (..., K) float32. Requires fused_soft_cross_entropy_applies().
SoftCrossEntropyRows soft_cross_entropy_forward(const torch::Tensor& logits, const torch::Tensor& probs,
                                                double inv_temp);

// grad_ce: (...) the gradient of the rows' ce. Returns d/d logits: grad_ce * inv_temp * (mass * softmax(z) - p),
// (..., K) in the logits' dtype.
torch::Tensor soft_cross_entropy_backward(const torch::Tensor& grad_ce, const torch::Tensor& logits,
                                          const torch::Tensor& probs, const SoftCrossEntropyRows& rows,
                                          double inv_temp);

}  // namespace tips::kernels
