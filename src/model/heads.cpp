#include "tips/model/heads.h"

#include "init_impl.h"
#include "tips/core/rng.h"
#include "tips/model/gelu.h"
#include "tips/model/linear.h"

namespace tips::model {
namespace {

constexpr double kInitStd = 0.02;  // DINOv2 / timm trunc_normal_(std=0.02)

}  // namespace

PrototypeLayerImpl::PrototypeLayerImpl(int64_t in_dim, int64_t prototypes, uint64_t seed)
    : in_dim_(in_dim), prototypes_(prototypes), seed_(seed) {
  reset();
}

void PrototypeLayerImpl::reset() {
  TORCH_CHECK(in_dim_ >= 1 && prototypes_ >= 1, "PrototypeLayer: bad sizes in=", in_dim_, " K=", prototypes_);
  weight_v = register_parameter("weight_v", torch::empty({prototypes_, in_dim_}));
  auto gen = rng::generator(seed_);
  init::trunc_normal(weight_v, kInitStd, gen);
}

torch::Tensor PrototypeLayerImpl::forward(const torch::Tensor& x) {
  // weight_g == 1: only the direction of each prototype row is learned.
  const auto w = torch::nn::functional::normalize(weight_v, torch::nn::functional::NormalizeFuncOptions().dim(1));
  return torch::linear(x, w.to(x.scalar_type()));
}

DinoHeadImpl::DinoHeadImpl(const HeadsConfig& cfg, int64_t in_dim, uint64_t seed)
    : cfg_(cfg), in_dim_(in_dim), seed_(seed) {
  reset();
}

void DinoHeadImpl::reset() {
  TORCH_CHECK(cfg_.num_layers >= 1, "DinoHead: num_layers must be >= 1, got ", cfg_.num_layers);
  auto gen = rng::generator(rng::derive(seed_, 0));
  mlp = torch::nn::Sequential();
  int64_t width = in_dim_;
  for (int64_t i = 0; i < cfg_.num_layers; ++i) {
    const bool last = i + 1 == cfg_.num_layers;
    const int64_t out = last ? cfg_.bottleneck : cfg_.hidden;
    Linear lin(width, out);
    init::linear(*lin, kInitStd, gen);
    mlp->push_back(lin);
    if (!last) mlp->push_back(Gelu());
    width = out;
  }
  register_module("mlp", mlp);
  last_layer = register_module("last_layer", PrototypeLayer(cfg_.bottleneck, cfg_.prototypes, rng::derive(seed_, 1)));
}

torch::Tensor DinoHeadImpl::embed(const torch::Tensor& x) {
  TORCH_CHECK((x.dim() == 2 || x.dim() == 3) && x.size(-1) == in_dim_, "DinoHead: expected (B, D) or (B, N, D) with D=",
              in_dim_, ", got ", x.sizes());
  // eps 1e-6 (not 1e-12) keeps the normalisation finite in bf16, as in DINOv2.
  return torch::nn::functional::normalize(mlp->forward(x),
                                          torch::nn::functional::NormalizeFuncOptions().dim(-1).eps(1e-6));
}

torch::Tensor DinoHeadImpl::forward(const torch::Tensor& x) { return last_layer->forward(embed(x)); }

ProjectionHeadsImpl::ProjectionHeadsImpl(const HeadsConfig& cfg, int64_t in_dim, uint64_t seed)
    : cfg_(cfg), in_dim_(in_dim), seed_(seed) {
  reset();
}

void ProjectionHeadsImpl::reset() {
  dino = register_module("dino", DinoHead(cfg_, in_dim_, rng::derive(seed_, 0)));
  ibot_ = DinoHead{nullptr};
  if (cfg_.ibot_separate) ibot_ = register_module("ibot", DinoHead(cfg_, in_dim_, rng::derive(seed_, 1)));
}

int64_t dino_head_param_count(const HeadsConfig& cfg, int64_t in_dim) {
  int64_t n = 0, width = in_dim;
  for (int64_t i = 0; i < cfg.num_layers; ++i) {
    const int64_t out = i + 1 == cfg.num_layers ? cfg.bottleneck : cfg.hidden;
    n += width * out + out;
    width = out;
  }
  return n + cfg.prototypes * cfg.bottleneck;
}

int64_t heads_param_count(const HeadsConfig& cfg, int64_t in_dim) {
  return dino_head_param_count(cfg, in_dim) * (cfg.ibot_separate ? 2 : 1);
}

}  // namespace tips::model
