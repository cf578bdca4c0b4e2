#include "tips/model/block.h"

#include "tips/kernels/layer_norm.h"
#include "tips/kernels/scaled_residual.h"

namespace tips::model {

namespace {
torch::nn::LayerNorm layer_norm(int64_t dim, double eps) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(eps));
}

// Every norm of a block feeds linear layers only (the attention's qkv or in_proj, the MLP's first layer), which
// under bf16 autocast cast their input to bf16: on CPU the norm writes bf16 itself (kernels/layer_norm.h).
torch::Tensor pre_norm(const torch::nn::LayerNorm& norm, const torch::Tensor& x) {
  return kernels::layer_norm_for_linear(x, norm->weight, norm->bias, norm->options.eps());
}
}  // namespace

BlockImpl::BlockImpl(const BlockConfig& cfg) : cfg_(cfg) {
  TORCH_CHECK(cfg.dim > 0 && cfg.num_heads > 0 && cfg.dim % cfg.num_heads == 0, "BlockConfig: dim=", cfg.dim,
              " is not divisible by num_heads=", cfg.num_heads);
  TORCH_CHECK(cfg.drop_path >= 0.0 && cfg.drop_path < 1.0, "BlockConfig: drop_path must be in [0, 1), got ",
              cfg.drop_path);
  reset();
}

void BlockImpl::reset() {
  norm1 = register_module("norm1", layer_norm(cfg_.dim, cfg_.norm_eps));
  attn = register_module("attn", Attention(cfg_.dim, cfg_.num_heads));
  ls1 = register_module("ls1", LayerScale(cfg_.dim, cfg_.layerscale_init));
  norm2 = register_module("norm2", layer_norm(cfg_.dim, cfg_.norm_eps));
  if (cfg_.ffn == FfnKind::kSwiGlu) {
    swiglu = register_module("mlp", SwiGluMlp(cfg_.dim, cfg_.mlp_hidden));
  } else {
    mlp = register_module("mlp", Mlp(cfg_.dim, cfg_.mlp_hidden));
  }
  ls2 = register_module("ls2", LayerScale(cfg_.dim, cfg_.layerscale_init));
}

torch::Tensor BlockImpl::ffn(const torch::Tensor& x) { return swiglu ? swiglu(x) : mlp(x); }

torch::Tensor BlockImpl::drop_path(const torch::Tensor& branch, at::Generator* gen) {
  if (!is_training() || cfg_.drop_path == 0.0) return branch;
  TORCH_CHECK(gen != nullptr, "Block: drop_path=", cfg_.drop_path, " in training needs a generator");
  const double keep = 1.0 - cfg_.drop_path;
  // Per-sample Bernoulli on the CPU (the generator is a CPU one), then moved next to the activations.
  auto draw = torch::empty({branch.size(0)}, torch::kFloat).bernoulli_(keep, *gen).div_(keep);
  std::vector<int64_t> shape(branch.dim(), 1);
  shape[0] = branch.size(0);
  return branch * draw.to(branch.options()).view(shape);
}

torch::Tensor BlockImpl::residual(const torch::Tensor& x, LayerScale ls, const torch::Tensor& branch,
                                  at::Generator* gen) {
  if (is_training() && cfg_.drop_path > 0.0) return x + drop_path(ls(branch), gen);
  return kernels::scaled_residual(x, branch, ls->gamma);
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, at::Generator* gen) {
  auto y = residual(x, ls1, attn(pre_norm(norm1, x)), gen);  // (B, N, D)
  return residual(y, ls2, ffn(pre_norm(norm2, y)), gen);
}

torch::Tensor BlockImpl::forward_values(const torch::Tensor& x) {
  auto y = kernels::scaled_residual(x, attn->forward_values(pre_norm(norm1, x)), ls1->gamma);
  return kernels::scaled_residual(y, ffn(pre_norm(norm2, y)), ls2->gamma);
}

torch::Tensor BlockImpl::cls_attribution(const torch::Tensor& x) {
  const auto terms = attn->cls_contributions(pre_norm(norm1, x));
  return ls1->gamma.to(terms.scalar_type()) * terms;
}

TextBlockImpl::TextBlockImpl(const TextBlockConfig& cfg) : cfg_(cfg) {
  TORCH_CHECK(cfg.dim > 0 && cfg.num_heads > 0 && cfg.dim % cfg.num_heads == 0, "TextBlockConfig: dim=", cfg.dim,
              " is not divisible by num_heads=", cfg.num_heads);
  reset();
}

void TextBlockImpl::reset() {
  attn = register_module("attn", TextAttention(cfg_.dim, cfg_.num_heads));
  ln_1 = register_module("ln_1", layer_norm(cfg_.dim, cfg_.norm_eps));
  mlp = register_module("mlp", TextMlp(cfg_.dim, cfg_.mlp_hidden));
  ln_2 = register_module("ln_2", layer_norm(cfg_.dim, cfg_.norm_eps));
}

torch::Tensor TextBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& pad) {
  auto y = x + attn(pre_norm(ln_1, x), pad);  // (B, L, D)
  return y + mlp(pre_norm(ln_2, y), pad.defined() ? pad.logical_not() : torch::Tensor());
}

}  // namespace tips::model
