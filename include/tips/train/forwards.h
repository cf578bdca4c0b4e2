// tips/train/forwards.h - every model forward of one training step, run as a StepPlan asks: the teacher features
// (no gradient, deterministic), the student on the unmasked global crops, on the masked global crops and on the
// local crops, and the caption streams through the text tower. The loss terms read the result; nothing here
// computes a loss.
//
// Determinism: the teacher pass never draws from the student's stochastic-depth generator and never applies
// stochastic depth (it runs in eval mode), so the student's draws do not depend on the teacher policy.
//
// Legend: G global crops, M local crops, B per-rank batch, N patches of a global crop, D width.
#pragma once
#include <torch/torch.h>

#include "tips/data/sample.h"
#include "tips/model/tips_model.h"
#include "tips/train/step_plan.h"
#include "tips/train/teacher.h"

namespace tips::train {

struct StepForwards {
  model::VisionOutput teacher;   // (G*B, ...) detached teacher features; undefined fields when plan.teacher == kNone.
                                 // A frozen teacher's have its own width, and patches on the student's grid
  model::VisionOutput unmasked;  // (G*B, ...) student on the unmasked global crops, with gradient
  model::VisionOutput masked;    // (G*B, ...) student on the masked global crops
  model::VisionOutput local;     // (M*B, ...) student on the local crops
  torch::Tensor text1, text2;    // (B, D) float32 unit rows: caption streams 1 and 2 (text2 only with 2 streams)
};

// Runs the plan's forwards on `batch` (already on the model's device), in this order: the teacher pass (or the
// shared unmasked student forward), the masked and local crops, the unmasked crops when not shared, the text.
StepForwards run_forwards(const StepPlan& plan, model::TipsModel& model, const Teacher& teacher,
                          const data::Batch& batch);

// The teacher features alone: `backbone` (the student's tower or the EMA copy) on the unmasked global crops
// (G*B, 3, S, S), without gradient and in eval mode (its training flag is restored afterwards).
model::VisionOutput teacher_features(model::VisionTransformer& backbone, const torch::Tensor& globals, bool bf16);

}  // namespace tips::train
