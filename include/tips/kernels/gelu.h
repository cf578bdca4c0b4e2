// tips/kernels/gelu.h - the exact (erf) GELU of bf16 activations by table lookup (CPU), forward and backward.
// A bf16 value has 65536 bit patterns, so gelu(x) and gelu'(x) are computed once per process, in double, for
// every one of them. The forward is then one lookup per element, correctly rounded to bf16; the backward one
// lookup and one product. ATen's bf16 GELU widens to float, evaluates Sleef's erf (about 50 vector instructions
// per 16 values on this path) and narrows again, and in the negative tail it loses every digit to cancellation
// in 1 + erf(x / sqrt 2); the tables use erfc there.
//
// Example (what model::Mlp and the heads' MLPs call):
//   auto h = tips::kernels::gelu(x);   // the tables for bf16 CPU tensors, torch::gelu otherwise
#pragma once
#include <torch/torch.h>

namespace tips::kernels {

// fused_cpu_kernels() and a bf16 CPU tensor.
bool fused_gelu_applies(const torch::Tensor& x);

// The exact GELU, differentiable: the table kernels where fused_gelu_applies(x), torch::gelu (erf form) otherwise.
torch::Tensor gelu(const torch::Tensor& x);

// gelu(x) of a bf16 tensor, as a new bf16 tensor of its shape. Requires fused_gelu_applies(x).
torch::Tensor gelu_forward_bf16(const torch::Tensor& x);

// grad * gelu'(x) rounded to bf16; grad and x bf16 of one shape. Requires fused_gelu_applies(x).
torch::Tensor gelu_backward_bf16(const torch::Tensor& grad, const torch::Tensor& x);

}  // namespace tips::kernels
