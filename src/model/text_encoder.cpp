#include "tips/model/text_encoder.h"

#include <cmath>

#include "init_impl.h"
#include "tips/core/rng.h"
#include "tips/model/length_buckets.h"

namespace tips::model {

namespace {
constexpr double kTextInitStd = 0.02;  // Linear / in_proj weights (CLIP-style; the official code has no init)
}  // namespace

torch::Tensor sinusoidal_positions(int64_t length, int64_t dim) {
  // float32 throughout, as the official PyTorch port computes it.
  const int64_t n = dim / 2;
  const auto opts = torch::TensorOptions().dtype(torch::kFloat);
  const auto increment = std::log(10000.0f) / static_cast<float>(std::max<int64_t>(n - 1, 1));
  const auto inv_ts = torch::exp(torch::arange(n, opts) * -increment);                // (D/2,)
  const auto t = torch::arange(length, opts).unsqueeze(1) * inv_ts.unsqueeze(0);       // (L, D/2)
  auto signal = torch::cat({torch::sin(t), torch::cos(t)}, 1);                         // (L, 2*(D/2))
  if (dim % 2 == 1) signal = torch::cat({signal, torch::zeros({length, 1}, opts)}, 1);
  return signal.unsqueeze(0);  // (1, L, D)
}

TextTransformerImpl::TextTransformerImpl(const TextBlockConfig& block_cfg, int64_t depth)
    : block_cfg_(block_cfg), depth_(depth) {
  reset();
}

void TextTransformerImpl::reset() {
  resblocks = register_module("resblocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < depth_; ++i) resblocks->push_back(TextBlock(block_cfg_));
}

torch::Tensor TextTransformerImpl::forward(const torch::Tensor& x, const torch::Tensor& pad) {
  auto y = x;
  for (size_t i = 0; i < resblocks->size(); ++i) y = resblocks->ptr<TextBlockImpl>(i)->forward(y, pad);
  return y;  // (B, L, D)
}

TextEncoderImpl::TextEncoderImpl(const TextConfig& cfg, uint64_t seed) : cfg_(cfg), seed_(seed) {
  TORCH_CHECK(cfg.dim > 0 && cfg.num_heads > 0 && cfg.dim % cfg.num_heads == 0, "TextEncoder: dim=", cfg.dim,
              " is not divisible by num_heads=", cfg.num_heads);
  TORCH_CHECK(cfg.depth > 0 && cfg.vocab_size > 0 && cfg.mlp_hidden > 0, "TextEncoder: depth=", cfg.depth,
              ", vocab_size=", cfg.vocab_size, ", mlp_hidden=", cfg.mlp_hidden, " must all be positive");
  reset();
}

void TextEncoderImpl::reset() {
  token_embedding = register_module("token_embedding", torch::nn::Embedding(cfg_.vocab_size, cfg_.dim));
  TextBlockConfig b;
  b.dim = cfg_.dim;
  b.num_heads = cfg_.num_heads;
  b.mlp_hidden = cfg_.mlp_hidden;
  b.norm_eps = cfg_.norm_eps;
  transformer = register_module("transformer", TextTransformer(b, cfg_.depth));
  ln_final = register_module("ln_final", torch::nn::LayerNorm(torch::nn::LayerNormOptions({cfg_.dim}).eps(cfg_.norm_eps)));
  init_parameters();
}

void TextEncoderImpl::init_parameters() {
  at::Generator gen = rng::generator(rng::derive(seed_, 0));
  init::normal(token_embedding->weight, 1.0 / std::sqrt(static_cast<double>(cfg_.dim)), gen);
  for (const auto& m : modules(/*include_self=*/false)) {
    if (auto* lin = m->as<Linear>()) init::linear(*lin, kTextInitStd, gen);
    if (auto* att = m->as<TextAttention>()) {
      init::trunc_normal(att->in_proj_weight, kTextInitStd, gen);
      torch::NoGradGuard no_grad;
      att->in_proj_bias.zero_();
    }
  }
}

torch::Tensor TextEncoderImpl::forward(const torch::Tensor& ids) {
  TORCH_CHECK(ids.dim() == 2 && !ids.is_floating_point(), "TextEncoder: ids must be integer (B, L), got ", ids.sizes(),
              " ", ids.scalar_type());
  const auto tokens = ids.to(torch::kLong);
  const auto buckets = length_buckets(valid_lengths(tokens));
  if (buckets.size() == 1) return forward_padded(tokens.narrow(1, 0, buckets[0].length));
  std::vector<torch::Tensor> parts;
  std::vector<int64_t> bucket_order;  // batch row of each output row, bucket by bucket
  for (const auto& bucket : buckets) {
    const auto rows = torch::tensor(bucket.rows, tokens.options());
    parts.push_back(forward_padded(tokens.index_select(0, rows).narrow(1, 0, bucket.length)));
    bucket_order.insert(bucket_order.end(), bucket.rows.begin(), bucket.rows.end());
  }
  std::vector<int64_t> position(bucket_order.size());  // output row of each batch row
  for (size_t i = 0; i < bucket_order.size(); ++i) position[bucket_order[i]] = static_cast<int64_t>(i);
  return torch::cat(parts, 0).index_select(0, torch::tensor(position, tokens.options()));
}

torch::Tensor TextEncoderImpl::forward_padded(const torch::Tensor& ids) {
  TORCH_CHECK(ids.dim() == 2 && !ids.is_floating_point(), "TextEncoder: ids must be integer (B, L), got ",
              ids.sizes(), " ", ids.scalar_type());
  const auto tokens = ids.to(torch::kLong);
  const auto pad = tokens == 0;  // (B, L) true = padding
  auto x = token_embedding(tokens) * std::sqrt(static_cast<double>(cfg_.dim));  // (B, L, D)
  x = x + sinusoidal_positions(ids.size(1), cfg_.dim).to(x.options());
  x = ln_final(transformer(x, pad));
  const auto keep = pad.logical_not().unsqueeze(-1);                       // (B, L, 1)
  const auto sum = torch::where(keep, x, torch::zeros_like(x)).sum(1);     // (B, D)
  const auto count = keep.sum(1).to(x.scalar_type());                      // (B, 1)
  return sum / (count + 1e-8);
}

}  // namespace tips::model
