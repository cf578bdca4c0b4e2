// tips/model/heads.h - DINO / iBOT projection ("prototype") heads, DINOv2-style:
// MLP (GELU) -> bottleneck -> L2 normalise -> weight-normalised prototype layer without bias -> logits.
// Not the losses (loss/*.h) and not the teacher copy (train/teacher.h); the teacher clones these modules.
//
// Legend: B batch, N tokens, D input width (vision dim), F MLP hidden, P bottleneck, K prototypes.
// Parameter names (for optimiser groups / last-layer freezing):
//   mlp.0.weight|bias, mlp.2.*, ..., mlp.{2(L-1)}.*   Linear layers (GELU modules sit at odd indices)
//   last_layer.weight_v                               (K, P) prototypes; rows are L2-normalised in forward,
//                                                     i.e. weight_norm with weight_g fixed to 1.
// Example:
//   ProjectionHeads heads(cfg.heads, /*in_dim=*/768, /*seed=*/rng::derive(seed, 7));
//   auto cls_logits   = heads->dino->forward(cls);        // (B, D)    -> (B, K)
//   auto patch_logits = heads->ibot()->forward(patches);  // (B, N, D) -> (B, N, K)
#pragma once
#include <torch/torch.h>

#include <cstdint>

#include "tips/model/config.h"

namespace tips::model {

// Weight-normalised Linear without bias: y = x W^T with each row of W = weight_v row / ||row||_2.
class PrototypeLayerImpl : public torch::nn::Cloneable<PrototypeLayerImpl> {
 public:
  PrototypeLayerImpl(int64_t in_dim, int64_t prototypes, uint64_t seed);
  void reset() override;  // creates weight_v and fills it from the stored seed (trunc-normal, std 0.02)

  // x: (..., P) -> (..., K), in x's dtype.
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight_v;  // (K, P)

 private:
  int64_t in_dim_, prototypes_;
  uint64_t seed_;
};
TORCH_MODULE(PrototypeLayer);

// One projection head. cfg.num_layers counts the Linear layers of the MLP including the one that outputs
// the bottleneck (DINOv2's nlayers): 1 -> Linear(D, P); 3 -> Linear(D, F), GELU, Linear(F, F), GELU, Linear(F, P).
class DinoHeadImpl : public torch::nn::Cloneable<DinoHeadImpl> {
 public:
  // seed: every weight is drawn from generators derived from it (explicit RNG; clone() reproduces it).
  DinoHeadImpl(const HeadsConfig& cfg, int64_t in_dim, uint64_t seed);
  void reset() override;

  // x: (B, D) or (B, N, D) -> logits (B, K) or (B, N, K), cosine scores in [-1, 1] (not temperature-scaled).
  torch::Tensor forward(const torch::Tensor& x);
  // The L2-normalised bottleneck features: (..., D) -> (..., P).
  torch::Tensor embed(const torch::Tensor& x);

  const HeadsConfig& config() const { return cfg_; }
  int64_t in_dim() const { return in_dim_; }

  torch::nn::Sequential mlp{nullptr};
  PrototypeLayer last_layer{nullptr};

 private:
  HeadsConfig cfg_;
  int64_t in_dim_;
  uint64_t seed_;
};
TORCH_MODULE(DinoHead);

// The DINO head and, when cfg.ibot_separate, a separate iBOT head (submodule names `dino`, `ibot`).
class ProjectionHeadsImpl : public torch::nn::Cloneable<ProjectionHeadsImpl> {
 public:
  ProjectionHeadsImpl(const HeadsConfig& cfg, int64_t in_dim, uint64_t seed);
  void reset() override;

  // The head for patch tokens: the separate iBOT head, or the DINO head itself when shared.
  DinoHead ibot() const { return ibot_ ? ibot_ : dino; }
  bool ibot_separate() const { return static_cast<bool>(ibot_); }
  const HeadsConfig& config() const { return cfg_; }
  int64_t in_dim() const { return in_dim_; }

  DinoHead dino{nullptr};

 private:
  DinoHead ibot_{nullptr};  // registered as "ibot"; null when shared
  HeadsConfig cfg_;
  int64_t in_dim_;
  uint64_t seed_;
};
TORCH_MODULE(ProjectionHeads);

// Parameters of one DinoHead with input width in_dim (analytic; equals the module's count).
int64_t dino_head_param_count(const HeadsConfig& cfg, int64_t in_dim);
// Parameters of ProjectionHeads: one head, or two when cfg.ibot_separate.
int64_t heads_param_count(const HeadsConfig& cfg, int64_t in_dim);

}  // namespace tips::model
