#include "tips/train/frozen_teacher.h"

#include <spdlog/spdlog.h>

#include "tips/core/error.h"
#include "tips/model/heads.h"
#include "tips/model/param_count.h"

namespace tips::train {

namespace {

void freeze(torch::nn::Module& m) {
  for (auto& p : m.parameters()) p.requires_grad_(false);
  m.eval();
}

// The teacher's heads: a `tips train` checkpoint holds the student heads ("heads.*") and, unless it ran with
// teacher.ema=none, the EMA teacher heads ("teacher.heads.*") that made its own targets; those are preferred.
model::ProjectionHeads load_teacher_heads(const config::RunConfig& cfg, const WeightSet& w) {
  const std::string group = w.has_group("teacher.heads") ? "teacher.heads" : "heads";
  if (!w.has_group(group))
    throw CheckpointError(w.source + ": teacher.targets=heads but the file has no DINO/iBOT heads",
                          "official .npz pairs ship without heads: use teacher.targets=features with "
                          "loss.distill.weight > 0, or a `tips train` checkpoint as teacher.weights");
  model::ProjectionHeads heads(cfg.heads, cfg.teacher.model.dim, 0);
  load_group(*heads, w, group);  // the student's heads.* config must match the teacher's
  spdlog::info("frozen teacher: heads from {}.* of {}", group, w.source);
  return heads;
}

}  // namespace

FrozenModel load_frozen_teacher(const config::RunConfig& cfg, const WeightSet& weights, const torch::Device& device) {
  const auto& t = cfg.teacher;
  const int64_t side = t.image_size > 0 ? t.image_size : cfg.data.crops.global_size;
  if (side % t.model.patch_size != 0)
    throw ConfigError("the frozen teacher's input side " + std::to_string(side) + " px is not a multiple of "
                      "teacher.model.patch_size=" + std::to_string(t.model.patch_size),
                      "set teacher.image_size to a multiple of the teacher's patch size");
  model::VisionTransformer backbone(t.model, 0);
  load_vision_weights(backbone, weights);
  FrozenModel frozen;
  frozen.backbone = backbone.ptr();
  if (t.targets == DistillTargets::kHeads) frozen.heads = load_teacher_heads(cfg, weights);
  backbone->to(device);
  freeze(*backbone);
  if (frozen.heads) {
    frozen.heads->to(device);
    freeze(*frozen.heads);
  }
  spdlog::info("frozen teacher: {} (D {}, depth {}, patch {}) at {} px from {}", t.model.preset.empty() ? "custom"
               : t.model.preset, t.model.dim, t.model.depth, t.model.patch_size, side, weights.source);
  return frozen;
}

std::string init_student_text(model::TipsModel& student, const config::RunConfig& cfg, const WeightSet& weights) {
  const TextInit how = cfg.teacher.text;
  if (how == TextInit::kScratch) return "text tower: trained from scratch";
  if (!weights.has_group("text"))
    throw CheckpointError(weights.source + ": teacher.text copies the teacher's text tower, but the file has none",
                          "set teacher.text=scratch");
  load_text_weights(student->text, weights);
  if (how == TextInit::kCopyFrozen)
    for (auto& p : student->text->parameters()) p.requires_grad_(false);
  return std::string("text tower: copied from ") + weights.source +
         (how == TextInit::kCopyFrozen ? ", frozen" : ", then trained");
}

int64_t frozen_teacher_parameter_count(const config::RunConfig& cfg) {
  if (cfg.teacher.source != TeacherSource::kFrozen) return 0;
  int64_t n = model::vision_param_count(cfg.teacher.model);
  if (cfg.teacher.targets == DistillTargets::kHeads) n += model::heads_param_count(cfg.heads, cfg.teacher.model.dim);
  return n;
}

}  // namespace tips::train
