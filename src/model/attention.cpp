#include "tips/model/attention.h"

#include <cmath>

#include "tips/core/compat.h"
#include "tips/kernels/attention.h"
#include "tips/kernels/softmax.h"

namespace tips::model {

torch::Tensor fused_qkv_attention(const torch::Tensor& qkv, int64_t num_heads, const torch::Tensor& key_padding_mask) {
  TORCH_CHECK(qkv.dim() == 3 && qkv.size(2) % (3 * num_heads) == 0,
              "fused_qkv_attention: qkv must be (B, N, 3D) with D divisible by num_heads=", num_heads, ", got ",
              qkv.sizes());
  // With no padded key, bf16 on CPU: one kernel reads the heads from qkv in place (kernels/attention.h).
  if (!key_padding_mask.defined() && kernels::fused_attention_applies(qkv, num_heads))
    return kernels::qkv_attention(qkv, num_heads);
  const int64_t B = qkv.size(0), N = qkv.size(1), D = qkv.size(2) / 3;
  // One copy into (3, B, H, N, d) order, then unbind: q, k and v come out contiguous, and the backward is one stack
  // (indexing parts[0..2] would zero-fill a (3, B, H, N, d) gradient per part and add the three).
  const auto parts = qkv.view({B, N, 3, num_heads, D / num_heads})
                         .permute({2, 0, 3, 1, 4})
                         .contiguous()
                         .unbind(0);  // 3 x (B, H, N, d)
  torch::Tensor mask;
  if (key_padding_mask.defined()) {
    TORCH_CHECK(key_padding_mask.sizes() == torch::IntArrayRef({B, N}) && key_padding_mask.scalar_type() == torch::kBool,
                "fused_qkv_attention: key_padding_mask must be bool (", B, ", ", N, "), got ",
                key_padding_mask.sizes(), " ", key_padding_mask.scalar_type());
    // A row with every key padded would be softmax(-inf, ...) = NaN: let it attend everywhere instead.
    mask = key_padding_mask & key_padding_mask.logical_not().any(/*dim=*/1, /*keepdim=*/true);
  }
  // On 1.13 the softmax is tips' fused one (the scale applied inside it; ATen's wherever the kernel does not apply).
  const auto out = compat::scaled_dot_product_attention(parts[0], parts[1], parts[2], mask,
                                                        &kernels::scaled_softmax);  // (B, H, N, d)
  return out.transpose(1, 2).reshape({B, N, D});
}

AttentionImpl::AttentionImpl(int64_t dim, int64_t num_heads) : dim_(dim), num_heads_(num_heads) {
  TORCH_CHECK(num_heads > 0 && dim % num_heads == 0, "Attention: dim=", dim, " is not divisible by num_heads=",
              num_heads);
  reset();
}

void AttentionImpl::reset() {
  qkv = register_module("qkv", Linear(dim_, 3 * dim_));
  proj = register_module("proj", Linear(dim_, dim_));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x) {
  return proj(fused_qkv_attention(qkv(x), num_heads_));  // (B, N, D)
}

torch::Tensor AttentionImpl::forward_values(const torch::Tensor& x) {
  // Only the v third of the fused projection is needed.
  const auto w_v = qkv->weight.narrow(0, 2 * dim_, dim_);
  const auto b_v = qkv->bias.narrow(0, 2 * dim_, dim_);
  return proj(torch::linear(x, w_v, b_v));  // (B, N, D)
}

torch::Tensor AttentionImpl::cls_contributions(const torch::Tensor& x) {
  const int64_t B = x.size(0), N = x.size(1), d = dim_ / num_heads_;
  const auto dtype = x.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
  const auto qkv_rows = torch::linear(x.to(dtype), qkv->weight.to(dtype), qkv->bias.to(dtype))
                            .view({B, N, 3, num_heads_, d});              // (B, N, 3, H, d)
  const auto q0 = qkv_rows.select(2, 0).narrow(1, 0, 1).transpose(1, 2);  // (B, H, 1, d)
  const auto k = qkv_rows.select(2, 1).transpose(1, 2);                   // (B, H, N, d)
  const auto v = qkv_rows.select(2, 2).transpose(1, 2);                   // (B, H, N, d)
  const auto weights = torch::softmax(torch::matmul(q0, k.transpose(2, 3)) / std::sqrt(static_cast<double>(d)),
                                      -1);  // (B, H, 1, N)
  // Scaling each head's value rows by their weight and projecting the concatenated heads sums the heads' terms.
  const auto weighted = (v * weights.transpose(2, 3)).transpose(1, 2).reshape({B, N, dim_});
  return torch::matmul(weighted, proj->weight.to(dtype).t());  // (B, N, D)
}

TextAttentionImpl::TextAttentionImpl(int64_t dim, int64_t num_heads) : dim_(dim), num_heads_(num_heads) {
  TORCH_CHECK(num_heads > 0 && dim % num_heads == 0, "TextAttention: dim=", dim, " is not divisible by num_heads=",
              num_heads);
  reset();
}

void TextAttentionImpl::reset() {
  in_proj_weight = register_parameter("in_proj_weight", torch::empty({3 * dim_, dim_}));
  in_proj_bias = register_parameter("in_proj_bias", torch::zeros({3 * dim_}));
  out_proj = register_module("out_proj", Linear(dim_, dim_));
}

torch::Tensor TextAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& key_padding_mask) {
  const auto qkv = torch::linear(x, in_proj_weight, in_proj_bias);  // (B, L, 3D)
  return out_proj(fused_qkv_attention(qkv, num_heads_, key_padding_mask));
}

}  // namespace tips::model
