// src/train/terms/terms.h (private) - the factories of the loss terms, one per file in this folder, called by the
// registration list (make_loss_terms in src/train/loss_term.cpp). Each throws ConfigError when its config would
// make it a silent no-op.
#pragma once
#include <memory>

#include "tips/train/loss_term.h"

namespace tips::train::terms {

std::shared_ptr<const LossTerm> make_contrastive(const config::RunConfig& cfg);
std::shared_ptr<const LossTerm> make_patch_text(const config::RunConfig& cfg);
std::shared_ptr<const LossTerm> make_dino(const config::RunConfig& cfg);
std::shared_ptr<const LossTerm> make_ibot(const config::RunConfig& cfg);
std::shared_ptr<const LossTerm> make_koleo(const config::RunConfig& cfg);
std::shared_ptr<const LossTerm> make_distill(const config::RunConfig& cfg);

}  // namespace tips::train::terms

namespace tips::train::terms {

// float32 copy of x with unit rows over the last dim.
inline torch::Tensor unit_rows_f32(const torch::Tensor& x) {
  namespace F = torch::nn::functional;
  return F::normalize(x.to(torch::kFloat), F::NormalizeFuncOptions().dim(-1));
}

}  // namespace tips::train::terms
