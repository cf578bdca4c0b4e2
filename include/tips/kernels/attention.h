// tips/kernels/attention.h - multi-head self-attention straight from a fused (B, N, 3D) qkv projection (CPU, bf16).
// The composite (model::fused_qkv_attention on LibTorch 1.13) copies q, k and v into (3, B, H, N, d) order, runs
// two batched GEMMs of tiny (N x d) matrices around a softmax over (B, H, N, N) scores, and copies the output back
// to (B, N, D); backward adds a stack and a second permuting copy of the gradient. This kernel reads each head's
// rows from the projection in place, keeps the head's scores in a small float32 scratch (never a (B, H, N, N)
// tensor in memory, never rounded to bf16; the probabilities are rounded to bf16 for p v, as the composite's
// bf16 GEMM does), multiplies with AVX512-BF16 dot products and writes the output in (B, N, D) order. Backward
// recomputes the probabilities from the saved log-sum-exp of each row and writes the three gradients into one
// (B, N, 3D) tensor. It runs on LibTorch 2.x's CPU path as well (in place of ATen's SDPA there, not measured: the
// framework's 2.x builds so far target CUDA, where it never applies).
//
// Example (what model::fused_qkv_attention does when no key is padded):
//   auto out = tips::kernels::qkv_attention(qkv, num_heads);   // (B, N, D) bf16
#pragma once
#include <torch/torch.h>

namespace tips::kernels {

// fused_cpu_kernels(), a CPU with AVX512-BF16, and qkv a bf16 CPU tensor (B, N, 3D) with D divisible by num_heads
// into an even head width (and N, D > 0).
bool fused_attention_applies(const torch::Tensor& qkv, int64_t num_heads);

// softmax(q k^T / sqrt(d)) v per head, heads concatenated: (B, N, D) bf16, differentiable in qkv. q, k and v are
// qkv's thirds and each head is a d = D / num_heads slice of them, as in model::fused_qkv_attention. Requires
// fused_attention_applies(qkv, num_heads).
torch::Tensor qkv_attention(const torch::Tensor& qkv, int64_t num_heads);

// The kernels themselves (no autograd). Forward: out (B, N, D) bf16 and lse (B, H, N) float32, the log-sum-exp
// of each row of scaled logits.
struct AttentionRows {
  torch::Tensor out, lse;
};
AttentionRows qkv_attention_forward(const torch::Tensor& qkv, int64_t num_heads);

// Backward: the gradient of qkv (B, N, 3D) bf16 from grad_out (B, N, D) bf16 and the forward's lse.
torch::Tensor qkv_attention_backward(const torch::Tensor& grad_out, const torch::Tensor& qkv, const torch::Tensor& lse,
                                     int64_t num_heads);

}  // namespace tips::kernels
