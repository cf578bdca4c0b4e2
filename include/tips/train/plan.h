// tips/train/plan.h - what a run will cost, computed from the config alone (no model is built):
// parameters per module, teacher EMA copies under each teacher.ema policy, analytic FLOPs per step and a
// weights + gradients + AdamW-state memory estimate. Printed by `tips plan`.
//
// "Training parameters" (the paper's "42% fewer training parameters" for ViT-B, recipe section 3) is counted as
//   student vision + teacher vision (EMA copy, full only) + student heads + teacher heads (EMA copy; none: 0),
// the text tower EXCLUDED. With ViT-B/14 and two 8192-prototype heads this gives 41.9% saving for
// full -> head_only, the paper's number; counting the text tower too would give ~30%.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tips/config/config.h"

namespace tips::train {

struct PolicyPlan {
  EmaScope ema = EmaScope::kHeadOnly;
  int64_t teacher_vision = 0;     // EMA backbone copy (full only)
  int64_t teacher_heads = 0;      // EMA head copies (head_only, full)
  int64_t trainable = 0;          // student vision + text + heads + contrastive scalars
  int64_t ema_total = 0;          // teacher_vision + teacher_heads
  int64_t total = 0;              // trainable + ema_total
  int64_t training_params = 0;    // the paper's count (see the file comment)
  double flops_per_step = 0;      // forward + backward (backward = 2x forward), global batch; captions counted at
                                  // text.max_len, an upper bound: the text tower trims their padding
  double memory_bytes = 0;        // fp32 weights (all, a frozen teacher's included) + fp32 grads + AdamW m, v
                                  // (trainable only); no activations
};

struct Plan {
  std::string vision_desc, text_desc, heads_desc, batch_desc;  // one-line descriptions for the header
  int64_t student_vision = 0, student_text = 0, student_heads = 0, contrastive_scalars = 0;
  // teacher.source = frozen: the fixed teacher (weights only; the same in every column), the student's text tower
  // when copied from it and frozen, and the learned projection of feature distillation (trainable).
  int64_t frozen_teacher = 0, frozen_text = 0, distill_projection = 0;
  std::string teacher_desc;  // "" unless frozen
  EmaScope configured = EmaScope::kHeadOnly;
  std::vector<PolicyPlan> policies;  // head_only, full, none (in that order)

  const PolicyPlan& policy(EmaScope ema) const;
  // 1 - training_params(head_only) / training_params(full): the head-only EMA saving.
  double head_only_saving() const;
};

Plan make_plan(const config::RunConfig& cfg);

// Multiply-adds x 2 of one caption's forward through the text tower at `length` token positions.
double text_forward_flops(const model::TextConfig& c, int64_t length);

// The side-by-side table printed by `tips plan` (one column per policy, the configured one marked).
std::string format_plan(const Plan& plan);

}  // namespace tips::train
