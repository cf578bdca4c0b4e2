// tips/kernels/softmax.h - softmax(x * scale) over the last dim in one pass each way (CPU), for attention.
// On LibTorch 1.13 attention is explicit math: the (B, H, N, N) scores are multiplied by 1/sqrt(d) (a pass, and a
// bf16 rounding before the softmax), then ATen's bf16 softmax widens, exponentiates and narrows each row in a
// pass of its own; backward runs both again. This kernel reads the unscaled scores once, applies the scale in
// float32 and writes the probabilities once; its backward reads the saved probabilities and the gradient once.
// On 2.x attention is ATen's fused SDPA kernel instead and this is not called. Where no key is padded (the vision
// tower) kernels/attention.h replaces the whole attention and this is not called either.
//
// Example (what model::fused_qkv_attention does on 1.13 with padded keys, e.g. the text tower's):
//   auto probs = tips::kernels::scaled_softmax(scores, 1.0 / std::sqrt(d));   // falls back to ATen elsewhere
#pragma once
#include <torch/torch.h>

namespace tips::kernels {

// fused_cpu_kernels() and a float32 or bf16 CPU tensor of at least one dim.
bool fused_softmax_applies(const torch::Tensor& x);

// softmax(x * scale, dim = -1), differentiable; scale > 0, so -inf entries (masked keys) get probability 0 and a row
// of only -inf gives NaN, as ATen's softmax. The fused kernels where fused_softmax_applies(x), ATen otherwise.
torch::Tensor scaled_softmax(const torch::Tensor& x, double scale);

// The kernel's forward: a new tensor of x's dtype. Requires fused_softmax_applies(x).
torch::Tensor scaled_softmax_forward(const torch::Tensor& x, double scale);

// The kernel's backward: scale * y * (grad - sum(grad * y, -1)), in y's dtype; grad and y (the forward's output)
// of one shape and dtype. Requires fused_softmax_applies(y).
torch::Tensor scaled_softmax_backward(const torch::Tensor& grad, const torch::Tensor& y, double scale);

}  // namespace tips::kernels
