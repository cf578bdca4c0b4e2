// tips/model/tips_model.h - the student: both towers, the projection heads and the contrastive temperature,
// as one module so checkpoints, export, evaluation and the optimiser see one consistent parameter list.
// Submodules: vision (VisionTransformer), text (TextEncoder), heads (ProjectionHeads), distill (a Linear, only
// for feature distillation from a frozen teacher); parameters
// log_temperature (tau = exp(log_temperature), learnable, never clamped) and logit_bias (SigLIP only).
#pragma once
#include <torch/torch.h>

#include "tips/model/config.h"
#include "tips/model/heads.h"
#include "tips/model/linear.h"
#include "tips/model/text_encoder.h"
#include "tips/model/vit.h"

namespace tips::model {

struct TipsModelConfig {
  VisionConfig vision;
  TextConfig text;
  HeadsConfig heads;
  double temperature_init = 0.07;   // initial tau of the contrastive loss
  bool learn_temperature = true;
  double logit_bias_init = -10.0;   // SigLIP bias init
  uint64_t seed = 0;                // every initial weight derives from it
  int64_t distill_dim = 0;          // > 0: a Linear(vision dim -> distill_dim) for feature distillation
};

class TipsModelImpl : public torch::nn::Module {
 public:
  explicit TipsModelImpl(const TipsModelConfig& cfg);

  torch::Tensor temperature() const { return log_temperature.exp(); }  // () tau > 0

  // L2-normalised text embeddings of token ids (B, L) -> (B, D).
  torch::Tensor embed_text(const torch::Tensor& ids);

  const TipsModelConfig& config() const { return cfg_; }

  VisionTransformer vision{nullptr};
  TextEncoder text{nullptr};
  ProjectionHeads heads{nullptr};
  Linear distill{nullptr};        // "distill": student tokens -> the frozen teacher's width (when configured)
  torch::Tensor log_temperature;  // ()
  torch::Tensor logit_bias;       // ()

 private:
  TipsModelConfig cfg_;
};
TORCH_MODULE(TipsModel);

}  // namespace tips::model
