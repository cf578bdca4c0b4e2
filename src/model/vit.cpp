#include "tips/model/vit.h"

#include <cmath>
#include <map>
#include <stdexcept>

#include "init_impl.h"
#include "tips/core/compat.h"
#include "tips/core/rng.h"
#include "tips/model/activation_checkpoint.h"
#include "tips/model/cls_attribution.h"

namespace tips::model {

namespace F = torch::nn::functional;

PatchEmbedImpl::PatchEmbedImpl(int64_t patch_size, int64_t dim) : patch_size_(patch_size), dim_(dim) { reset(); }

void PatchEmbedImpl::reset() {
  proj = register_module(
      "proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, dim_, patch_size_).stride(patch_size_)));
}

torch::Tensor PatchEmbedImpl::forward(const torch::Tensor& images) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == 3 && images.size(2) % patch_size_ == 0 &&
                  images.size(3) % patch_size_ == 0,
              "PatchEmbed: images must be (B, 3, H, W) with H and W multiples of patch_size=", patch_size_, ", got ",
              images.sizes());
  // The patches do not overlap (stride = kernel), so the convolution is one GEMM over B*h*w rows of 3*p*p pixels in
  // the kernel's (C, p, p) order: cheaper than the CPU convolution forward and backward, and the output comes
  // out (B, h*w, D) contiguous. The weights stay the Conv2d's, so checkpoints and exports do not change.
  const int64_t B = images.size(0), p = patch_size_, h = images.size(2) / p, w = images.size(3) / p;
  const auto patches = images.reshape({B, 3, h, p, w, p}).permute({0, 2, 4, 1, 3, 5});  // (B, h, w, 3, p, p) view
  // Under autocast the linear would cast the gathered rows to the low precision in a second pass; gathering
  // straight into that dtype gives the same bits in one.
  const auto autocast = compat::autocast_state(images.device().type());
  const bool to_low = autocast.enabled && images.scalar_type() == torch::kFloat;
  const auto rows = to_low ? torch::empty(patches.sizes(), images.options().dtype(autocast.dtype)).copy_(patches)
                           : patches.contiguous();
  return torch::linear(rows.view({B, h * w, 3 * p * p}), proj->weight.view({dim_, 3 * p * p}), proj->bias);
}

torch::Tensor resize_pos_embed(const torch::Tensor& pos_embed, int64_t h, int64_t w) {
  TORCH_CHECK(pos_embed.dim() == 3 && pos_embed.size(0) == 1, "resize_pos_embed: expected (1, 1 + G*G, D), got ",
              pos_embed.sizes());
  const int64_t n = pos_embed.size(1) - 1, D = pos_embed.size(2);
  const auto G = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  TORCH_CHECK(G * G == n, "resize_pos_embed: ", n, " patch rows do not form a square grid");
  TORCH_CHECK(h > 0 && w > 0, "resize_pos_embed: empty target grid ", h, "x", w);
  if (h == G && w == G) return pos_embed;
  // half/bf16 tables are resized in float32 (as DINOv2 does); float32/float64 in their own precision.
  const bool reduced = pos_embed.scalar_type() == torch::kHalf || pos_embed.scalar_type() == torch::kBFloat16;
  const auto table = reduced ? pos_embed.to(torch::kFloat) : pos_embed;
  const auto grid = table.narrow(1, 1, n).reshape({1, G, G, D}).permute({0, 3, 1, 2});  // (1, D, G, G)
  const auto resized = F::interpolate(grid, F::InterpolateFuncOptions()
                                                .size(std::vector<int64_t>{h, w})
                                                .mode(torch::kBilinear)
                                                .align_corners(false)
                                                .antialias(true));  // (1, D, h, w)
  const auto patches = resized.permute({0, 2, 3, 1}).reshape({1, h * w, D});
  return torch::cat({table.narrow(1, 0, 1), patches}, 1).to(pos_embed.scalar_type());
}

VisionTransformerImpl::VisionTransformerImpl(const VisionConfig& cfg, uint64_t seed) : cfg_(cfg), seed_(seed) {
  TORCH_CHECK(cfg.patch_size > 0 && cfg.depth > 0 && cfg.pos_grid > 0, "VisionTransformer: patch_size=",
              cfg.patch_size, ", depth=", cfg.depth, ", pos_grid=", cfg.pos_grid, " must all be positive");
  TORCH_CHECK(cfg.dim > 0 && cfg.num_heads > 0 && cfg.dim % cfg.num_heads == 0, "VisionTransformer: dim=", cfg.dim,
              " is not divisible by num_heads=", cfg.num_heads);
  reset();
}

void VisionTransformerImpl::reset() {
  const int64_t D = cfg_.dim;
  cls_token = register_parameter("cls_token", torch::zeros({1, 1, D}));
  pos_embed = register_parameter("pos_embed", torch::zeros({1, 1 + cfg_.pos_grid * cfg_.pos_grid, D}));
  register_tokens = register_parameter("register_tokens", torch::zeros({1, 1, D}));
  mask_token = register_parameter("mask_token", torch::zeros({1, D}));
  patch_embed = register_module("patch_embed", PatchEmbed(cfg_.patch_size, D));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < cfg_.depth; ++i) {
    BlockConfig b;
    b.dim = D;
    b.num_heads = cfg_.num_heads;
    b.mlp_hidden = cfg_.mlp_hidden;
    b.ffn = cfg_.ffn;
    b.norm_eps = cfg_.norm_eps;
    b.layerscale_init = cfg_.layerscale_init;
    // Stochastic depth linear over depth: 0 at the first block, cfg.drop_path at the last.
    b.drop_path = cfg_.depth > 1 ? cfg_.drop_path * static_cast<double>(i) / static_cast<double>(cfg_.depth - 1) : 0.0;
    blocks->push_back(Block(b));
  }
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({D}).eps(cfg_.norm_eps)));
  init_parameters();
  drop_gen_ = rng::generator(rng::derive(seed_, 1));
}

void VisionTransformerImpl::init_parameters() {
  at::Generator gen = rng::generator(rng::derive(seed_, 0));
  init::trunc_normal(pos_embed, cfg_.init_std, gen);
  init::normal(cls_token, 1e-6, gen);
  init::normal(register_tokens, 1e-6, gen);
  // PyTorch's default Conv2d init (kaiming_uniform(a=sqrt 5) == U(+-1/sqrt(fan_in))), from our generator.
  const double bound = 1.0 / std::sqrt(3.0 * static_cast<double>(cfg_.patch_size * cfg_.patch_size));
  init::uniform(patch_embed->proj->weight, bound, gen);
  init::uniform(patch_embed->proj->bias, bound, gen);
  for (const auto& m : modules(/*include_self=*/false)) {
    if (auto* lin = m->as<Linear>()) init::linear(*lin, cfg_.init_std, gen);
  }
}

PatchTokens VisionTransformerImpl::embed(const torch::Tensor& images) {
  const int64_t p = cfg_.patch_size;
  return {patch_embed(images), images.size(2) / p, images.size(3) / p};  // PatchEmbed checks the shape
}

torch::Tensor VisionTransformerImpl::prepare_tokens(const torch::Tensor& images, const torch::Tensor& patch_mask) {
  return prepare_tokens(embed(images), patch_mask);
}

torch::Tensor VisionTransformerImpl::prepare_tokens(const PatchTokens& patches, const torch::Tensor& patch_mask) {
  auto x = patches.rows;  // (B, N, D)
  TORCH_CHECK(x.defined() && x.dim() == 3 && x.size(1) == patches.grid_h * patches.grid_w,
              "VisionTransformer: patch rows ", x.defined() ? x.sizes() : torch::IntArrayRef{}, " do not fill a ",
              patches.grid_h, "x", patches.grid_w, " grid");
  const int64_t B = x.size(0);  // after the check: an undefined or flat tensor has no batch size to read
  if (patch_mask.defined()) {
    TORCH_CHECK(patch_mask.scalar_type() == torch::kBool && patch_mask.sizes() == x.sizes().slice(0, 2),
                "VisionTransformer: patch_mask must be bool (B, N) = ", x.sizes().slice(0, 2), ", got ",
                patch_mask.sizes(), " ", patch_mask.scalar_type());
    x = torch::where(patch_mask.unsqueeze(-1), mask_token.to(x.scalar_type()).unsqueeze(0), x);
  }
  x = torch::cat({cls_token.expand({B, -1, -1}), x}, 1);  // (B, 1 + N, D)
  x = x + resize_pos_embed(pos_embed, patches.grid_h, patches.grid_w).to(x.scalar_type());
  return torch::cat({x.narrow(1, 0, 1), register_tokens.expand({B, -1, -1}), x.narrow(1, 1, x.size(1) - 1)},
                    1);  // (B, 2 + N, D)
}

VisionOutput VisionTransformerImpl::forward(const torch::Tensor& images, const torch::Tensor& patch_mask,
                                            bool dense_readouts) {
  return forward(embed(images), patch_mask, dense_readouts);
}

VisionOutput VisionTransformerImpl::forward(const PatchTokens& patches, const torch::Tensor& patch_mask,
                                            bool dense_readouts) {
  auto x = prepare_tokens(patches, patch_mask);  // (B, 2 + N, D)
  const bool checkpoint = checkpoint_blocks_ && is_training() && torch::GradMode::is_enabled();
  torch::Tensor attribution;  // dense_readouts: every token's attention terms into the first CLS, summed over blocks
  const auto add_attribution = [&](BlockImpl& b) {
    const auto terms = b.cls_attribution(x);
    attribution = attribution.defined() ? attribution + terms : terms;
  };
  for (int64_t i = 0; i + 1 < cfg_.depth; ++i) {
    if (dense_readouts) add_attribution(block(i));
    x = checkpoint ? checkpointed_forward(block(i), x, &drop_gen_) : block(i).forward(x, &drop_gen_);
  }
  BlockImpl& last = block(cfg_.depth - 1);
  VisionOutput out;
  if (dense_readouts) {
    const auto v = norm(last.forward_values(x));
    out.value_patches = v.narrow(1, 2, v.size(1) - 2);
    const auto pen = norm(x);
    out.penultimate_patches = pen.narrow(1, 2, pen.size(1) - 2);
    add_attribution(last);
  }
  x = checkpoint ? checkpointed_forward(last, x, &drop_gen_) : last.forward(x, &drop_gen_);
  if (dense_readouts)
    out.attribution_patches = linearised_layer_norm(norm, x.select(1, 0), attribution.narrow(1, 2, x.size(1) - 2));
  x = norm(x);
  out.cls1 = x.select(1, 0);
  out.cls2 = x.select(1, 1);
  out.patches = x.narrow(1, 2, x.size(1) - 2);
  return out;
}

std::vector<VisionOutput> VisionTransformerImpl::forward_multi(const std::vector<torch::Tensor>& crops,
                                                               const std::vector<torch::Tensor>& masks) {
  std::vector<PatchTokens> embedded;
  for (size_t i = 0; i < crops.size(); ++i) {
    TORCH_CHECK(crops[i].dim() == 4, "forward_multi: crop ", i, " must be (B, 3, H, W), got ", crops[i].sizes());
    embedded.push_back(embed(crops[i]));
  }
  return forward_multi(embedded, masks);
}

std::vector<VisionOutput> VisionTransformerImpl::forward_multi(const std::vector<PatchTokens>& crops,
                                                               const std::vector<torch::Tensor>& masks) {
  TORCH_CHECK(masks.empty() || masks.size() == crops.size(), "forward_multi: ", masks.size(), " masks for ",
              crops.size(), " crops");
  // Group crops by grid, keeping the order of first appearance.
  std::map<std::pair<int64_t, int64_t>, std::vector<size_t>> groups;
  std::vector<std::pair<int64_t, int64_t>> order;
  for (size_t i = 0; i < crops.size(); ++i) {
    const auto key = std::make_pair(crops[i].grid_h, crops[i].grid_w);
    if (groups.find(key) == groups.end()) order.push_back(key);
    groups[key].push_back(i);
  }
  std::vector<VisionOutput> outs(crops.size());
  for (const auto& key : order) {
    const auto& idx = groups[key];
    std::vector<torch::Tensor> rows, ms;
    bool any_mask = false;
    for (size_t i : idx) any_mask = any_mask || (!masks.empty() && masks[i].defined());
    for (size_t i : idx) {
      rows.push_back(crops[i].rows);
      if (!any_mask) continue;
      const auto& r = crops[i].rows;
      ms.push_back(masks[i].defined() ? masks[i]
                                      : torch::zeros({r.size(0), r.size(1)}, r.options().dtype(torch::kBool)));
    }
    const PatchTokens group{rows.size() == 1 ? rows[0] : torch::cat(rows, 0), key.first, key.second};
    const VisionOutput o = forward(group, any_mask ? torch::cat(ms, 0) : torch::Tensor());
    int64_t start = 0;
    for (size_t i : idx) {
      const int64_t b = crops[i].rows.size(0);
      outs[i] = VisionOutput{
          o.cls1.narrow(0, start, b), o.cls2.narrow(0, start, b), o.patches.narrow(0, start, b), {}, {}, {}};
      start += b;
    }
  }
  return outs;
}

int64_t VisionTransformerImpl::layer_id(const std::string& name) const {
  const auto starts = [&](const char* prefix) { return name.rfind(prefix, 0) == 0; };
  if (name == "cls_token" || name == "pos_embed" || name == "register_tokens" || name == "mask_token" ||
      starts("patch_embed.")) {
    return -1;
  }
  if (starts("norm.")) return cfg_.depth;
  if (starts("blocks.")) {
    size_t end = 0;
    const std::string rest = name.substr(7);
    int64_t i = -1;
    try {
      i = std::stoll(rest, &end);
    } catch (const std::exception&) {
      end = 0;
    }
    if (end > 0 && i >= 0 && i < cfg_.depth && rest[end] == '.') return i;
  }
  throw std::invalid_argument("VisionTransformer::layer_id: '" + name + "' is not a parameter of the image tower");
}

}  // namespace tips::model
