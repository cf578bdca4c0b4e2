// tips/model/attention.h - multi-head self-attention of both towers, on the fused q|k|v projection.
// The vision form stores `qkv` / `proj` Linears (DINOv2 keys); the text form stores torch
// nn.MultiheadAttention's `in_proj_weight` / `in_proj_bias` / `out_proj` (CLIP keys). Both call
// tips::compat::scaled_dot_product_attention (fused kernel on LibTorch 2.x; explicit math on 1.13, with the
// softmax of kernels/softmax.h on CPU), except bf16 CPU attention without padded keys (the vision tower), which
// is one kernel from the fused projection (kernels/attention.h).
//
// Legend: B batch, N tokens, D width, H heads, d = D / H.
#pragma once
#include <torch/torch.h>

#include "tips/model/linear.h"

namespace tips::model {

// softmax(q k^T / sqrt(d)) v for a fused projection: qkv (B, N, 3D) laid out [q | k | v], heads contiguous
// inside each third. key_padding_mask: undefined or bool (B, N), true = that key is ignored; a row whose keys
// are ALL padded attends to every key instead (finite output instead of NaN; the text tower zeroes such rows
// later). Returns the concatenated heads (B, N, D) before the output projection.
torch::Tensor fused_qkv_attention(const torch::Tensor& qkv, int64_t num_heads,
                                  const torch::Tensor& key_padding_mask = {});

// Vision attention: keys attn.qkv.{weight,bias} (3D, D)/(3D,), attn.proj.{weight,bias} (D, D)/(D,).
class AttentionImpl : public torch::nn::Cloneable<AttentionImpl> {
 public:
  AttentionImpl(int64_t dim, int64_t num_heads);
  void reset() override;

  // x: (B, N, D) -> (B, N, D).
  torch::Tensor forward(const torch::Tensor& x);
  // MaskCLIP "value" path: proj(v) per token, no token mixing. x: (B, N, D) -> (B, N, D).
  torch::Tensor forward_values(const torch::Tensor& x);
  // What each token writes into token 0's output (the first CLS): term j = sum over heads of
  // a_h(0 -> j) * proj_h(v_hj), the head's attention weight from token 0 to token j times j's value through the
  // head's slice of the output projection. The N terms sum to forward(x)[:, 0] minus proj's bias (Gandelsman et
  // al., ICLR 2024: the decomposition behind the `attribution` readout, model/cls_attribution.h). float32, or
  // float64 for a float64 x.
  // x: (B, N, D) -> (B, N, D).
  torch::Tensor cls_contributions(const torch::Tensor& x);

  Linear qkv{nullptr}, proj{nullptr};

 private:
  int64_t dim_, num_heads_;
};
TORCH_MODULE(Attention);

// Text attention: keys attn.in_proj_weight (3D, D), attn.in_proj_bias (3D,), attn.out_proj.{weight,bias}.
class TextAttentionImpl : public torch::nn::Cloneable<TextAttentionImpl> {
 public:
  TextAttentionImpl(int64_t dim, int64_t num_heads);
  void reset() override;

  // x: (B, L, D); key_padding_mask: undefined or bool (B, L), true = padded key. Returns (B, L, D).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& key_padding_mask = {});

  torch::Tensor in_proj_weight, in_proj_bias;  // (3D, D), (3D,)
  Linear out_proj{nullptr};

 private:
  int64_t dim_, num_heads_;
};
TORCH_MODULE(TextAttention);

}  // namespace tips::model
