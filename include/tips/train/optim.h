// tips/train/optim.h - parameter groups and the optimizers (AdamW from LibTorch; Adafactor, the paper's).
// AdamW keeps LibTorch's state and checkpoint archive; on CPU it runs its update as one fused pass over every
// tensor (kernels/adamw.h) where that applies, else LibTorch's own step.
//
// Groups: no weight decay for 1-D tensors (norm weights, biases, LayerScale gammas), tokens, positional
// embeddings and the temperature; optional layer-wise lr decay over vision blocks and an lr multiplier for
// patch_embed. Schedules set the base lr/wd every step; each group applies its multipliers.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "tips/train/config.h"

namespace tips::train {

struct NamedParam {
  std::string name;        // "vision/blocks.3.attn.qkv.weight", "text/...", "heads/dino/...", "temperature"
  torch::Tensor param;
  int64_t vision_layer;    // for layer decay: -1 embeddings, i block i, depth final norm; INT64_MIN = not vision
};

struct ParamGroup {
  std::string name;                 // e.g. "decay/lr1.000", for logs
  std::vector<torch::Tensor> params;
  std::vector<std::string> names;
  double lr_mult = 1.0;
  double wd_mult = 1.0;             // 0 = no weight decay
};

// True for parameters that get no weight decay (by name and rank).
bool no_weight_decay(const std::string& name, const torch::Tensor& p);

// Groups params by (lr_mult, wd_mult). vision_depth is the number of vision blocks (for layer decay).
std::vector<ParamGroup> make_param_groups(const std::vector<NamedParam>& params, const OptimConfig& cfg,
                                          int64_t vision_depth);

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // Base values from the schedules; each group scales them by its multipliers.
  virtual void set_lr_wd(double lr, double weight_decay) = 0;
  // One update from the gradients times grad_scale (the global-norm clip's factor; 1 = the gradients as they are).
  // The gradients are not read again before the next zero_grad(): a path may scale them in place or only as it
  // reads them.
  virtual void step_scaled(double grad_scale) = 0;
  void step() { step_scaled(1.0); }
  // Every gradient undefined again (not zeroed): a parameter that gets no gradient before the next step is left
  // as it is by that step.
  virtual void zero_grad() = 0;
  virtual void save(torch::serialize::OutputArchive& ar) const = 0;
  virtual void load(torch::serialize::InputArchive& ar) = 0;
  // Bytes of optimizer state currently held (for memory reports).
  virtual int64_t state_bytes() const = 0;
};

// The global-norm clip's factor for the gradients: max_norm / (grad_norm + 1e-6) when grad_norm exceeds
// max_norm > 0, else 1 (max_norm 0 turns the clip off).
double clip_factor(double grad_norm, double max_norm);

std::unique_ptr<Optimizer> make_optimizer(const std::vector<ParamGroup>& groups, const OptimConfig& cfg);

// Adafactor (Shazeer & Stern 2018) with factored second moments for >= 2-D tensors, update clipping (d = 1),
// optional first moment (beta1 > 0), decoupled weight decay. Pure tensor math, one parameter at a time.
struct AdafactorOptions {
  double beta1 = 0.9;      // 0 = no momentum (the original paper); big_vision-style 0.9 by default
  double beta2 = 0.999;    // second-moment decay
  double eps = 1e-30;      // added to g^2
  double clip_threshold = 1.0;
};

}  // namespace tips::train
