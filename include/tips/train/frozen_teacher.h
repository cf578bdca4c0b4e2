// tips/train/frozen_teacher.h - distillation from a fixed model (teacher.source = frozen): the teacher's image tower
// (and, for teacher.targets = heads, its DINO/iBOT heads) read from teacher.weights, and the student's text tower
// started from the teacher's (teacher.text). The teacher never gets a gradient, an optimizer state or an EMA step;
// it is not in the training checkpoint (a resumed run reads teacher.weights again). docs/distillation.md.
//
// Example (what the Trainer does):
//   const WeightSet w = read_weights(cfg.teacher.weights);
//   FrozenModel frozen = load_frozen_teacher(cfg, w, device);
//   init_student_text(student, cfg, w);
#pragma once
#include <torch/torch.h>

#include <string>

#include "tips/config/config.h"
#include "tips/model/tips_model.h"
#include "tips/train/teacher.h"
#include "tips/train/weights.h"

namespace tips::train {

// The frozen teacher on `device`, in eval mode, every parameter with requires_grad false. Its image tower is
// cfg.teacher.model, loaded strictly from `weights` (position table resized to teacher.image_size). For
// teacher.targets = heads, its heads (cfg.heads on the teacher's width; the EMA teacher heads of a `tips train`
// checkpoint when it has them, else its student heads). Throws CheckpointError for a file that lacks a part or
// whose shapes differ, ConfigError for a teacher input size that is not a multiple of its patch size.
FrozenModel load_frozen_teacher(const config::RunConfig& cfg, const WeightSet& weights, const torch::Device& device);

// teacher.text = copy_frozen | copy_trained: copies the teacher file's text tower into `student` (strict; text.*
// must match), and for copy_frozen sets requires_grad false on it. scratch: nothing. Returns a line for the log.
std::string init_student_text(model::TipsModel& student, const config::RunConfig& cfg, const WeightSet& weights);

// Parameters of the frozen teacher, for `tips plan` (no gradient, no optimizer state).
int64_t frozen_teacher_parameter_count(const config::RunConfig& cfg);

}  // namespace tips::train
