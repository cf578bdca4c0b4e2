// tips/loss/distill.h - token distances for feature distillation from a frozen teacher: the student's tokens
// (already projected to the teacher's width) against the teacher's. Pure functions; which tokens, their weights and
// the projection are the caller's (src/train/terms/distill_term.cpp).
//
// Legend: M tokens of any leading shape, D the teacher's width.
// Example:
//   auto per_token = loss::token_distance(proj(student_patches), teacher_patches, loss::DistillKind::kCosine);
//   auto l = (per_token * patch_weights).sum();      // (B, N) weights summing to 1
#pragma once
#include <torch/torch.h>

#include "tips/loss/config.h"

namespace tips::loss {

// student, teacher: (..., D), any float dtype (math in float32). Returns (...) float32:
//   cosine:    1 - cos(student, teacher)                         in [0, 2]
//   smooth_l1: mean over D of Huber(student - teacher), beta 1   >= 0
// Gradient flows to `student` only (the teacher is detached).
torch::Tensor token_distance(const torch::Tensor& student, const torch::Tensor& teacher, DistillKind kind);

}  // namespace tips::loss
