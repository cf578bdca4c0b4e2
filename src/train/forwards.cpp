#include "tips/train/forwards.h"

#include <cmath>

#include "tips/core/compat.h"

namespace tips::train {

namespace F = torch::nn::functional;

namespace {

model::VisionOutput detached(const model::VisionOutput& o) {
  return {o.cls1.detach(), o.cls2.detach(), o.patches.detach(), {}, {}, {}};
}

torch::Tensor unit_rows(const torch::Tensor& x) {
  return F::normalize(x.to(torch::kFloat), F::NormalizeFuncOptions().dim(-1));
}

// Restores a module's training flag on scope exit (also when the forward throws).
class TrainingFlagGuard {
 public:
  explicit TrainingFlagGuard(torch::nn::Module& m) : module_(m), was_training_(m.is_training()) {}
  ~TrainingFlagGuard() { module_.train(was_training_); }
  TrainingFlagGuard(const TrainingFlagGuard&) = delete;
  TrainingFlagGuard& operator=(const TrainingFlagGuard&) = delete;

 private:
  torch::nn::Module& module_;
  bool was_training_;
};

void text_forwards(const StepPlan& plan, model::TipsModel& model, const data::Batch& b, StepForwards& out) {
  if (plan.text_streams == 0) return;
  const int64_t B = b.tokens1.size(0);
  if (plan.text_streams == 2) {
    // One text forward for both streams: (2B, L) -> (2B, D).
    const auto both = unit_rows(model->text->forward(torch::cat({b.tokens1, b.tokens2}, 0)));
    out.text1 = both.narrow(0, 0, B);
    out.text2 = both.narrow(0, B, B);
  } else {
    out.text1 = unit_rows(model->text->forward(b.tokens1));
  }
}

// The frozen teacher's features on the student's patch grid: the crops resized to the teacher's input side, and
// its (h x h) patch tokens bilinearly resampled to the student's (g x g) grid when the two differ (another patch
// size or resolution). CLS tokens need no resampling.
model::VisionOutput frozen_teacher_features(const StepPlan& plan, model::VisionTransformer& backbone,
                                            const torch::Tensor& globals) {
  torch::Tensor inputs = globals;
  if (globals.size(-1) != plan.teacher_image_size)
    inputs = F::interpolate(globals, F::InterpolateFuncOptions()
                                         .size(std::vector<int64_t>{plan.teacher_image_size, plan.teacher_image_size})
                                         .mode(torch::kBilinear)
                                         .align_corners(false));
  model::VisionOutput out = teacher_features(backbone, inputs, plan.bf16);
  const int64_t n = out.patches.size(1), side = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(n))));
  if (side != plan.student_grid) {
    torch::NoGradGuard no_grad;
    const auto grid = out.patches.to(torch::kFloat).transpose(1, 2).reshape({out.patches.size(0), -1, side, side});
    const auto resized = F::interpolate(grid, F::InterpolateFuncOptions()
                                                  .size(std::vector<int64_t>{plan.student_grid, plan.student_grid})
                                                  .mode(torch::kBilinear)
                                                  .align_corners(false));
    out.patches = resized.flatten(2).transpose(1, 2).contiguous();  // (G*B, g*g, D_teacher)
  }
  return out;
}

}  // namespace

model::VisionOutput teacher_features(model::VisionTransformer& backbone, const torch::Tensor& globals, bool bf16) {
  torch::NoGradGuard no_grad;
  compat::AutocastGuard autocast(globals.device().type(), bf16, torch::kBFloat16);
  const TrainingFlagGuard restore(*backbone);
  backbone->eval();  // no stochastic depth, and no draws from the student's drop-path generator
  return backbone->forward(globals);
}

StepForwards run_forwards(const StepPlan& plan, model::TipsModel& model, const Teacher& teacher,
                          const data::Batch& b) {
  StepForwards out;
  const auto globals = b.global_crops.flatten(0, 1);  // (G*B, 3, Sg, Sg)
  // The global crops' patch embeddings, made once for the unmasked and the masked student forwards.
  model::PatchTokens global_tokens;
  const auto embedded_globals = [&] {
    if (!global_tokens.rows.defined()) global_tokens = model->vision->embed(globals);
    return global_tokens;
  };
  switch (plan.teacher) {
    case TeacherPass::kNone: break;
    case TeacherPass::kSharedStudent: {
      compat::AutocastGuard autocast(globals.device().type(), plan.bf16, torch::kBFloat16);
      out.unmasked = model->vision->forward(embedded_globals());
      out.teacher = detached(out.unmasked);
      break;
    }
    case TeacherPass::kStudentNoGrad: out.teacher = teacher_features(model->vision, globals, plan.bf16); break;
    case TeacherPass::kEmaBackbone: {
      auto backbone = teacher.teacher_backbone(model->vision);
      out.teacher = teacher_features(backbone, globals, plan.bf16);
      break;
    }
    case TeacherPass::kFrozen: {
      auto backbone = teacher.teacher_backbone(model->vision);
      out.teacher = frozen_teacher_features(plan, backbone, globals);
      break;
    }
  }
  compat::AutocastGuard autocast(globals.device().type(), plan.bf16, torch::kBFloat16);
  std::vector<model::PatchTokens> crops;
  std::vector<torch::Tensor> crop_masks;
  if (plan.masked_student) crops.push_back(embedded_globals()), crop_masks.push_back(b.masks.flatten(0, 1));
  if (plan.local_student)
    crops.push_back(model->vision->embed(b.local_crops.flatten(0, 1))), crop_masks.push_back(torch::Tensor());
  if (!crops.empty()) {
    auto outs = model->vision->forward_multi(crops, crop_masks);
    size_t i = 0;
    if (plan.masked_student) out.masked = outs[i++];
    if (plan.local_student) out.local = outs[i++];
  }
  if (plan.unmasked_student && !out.unmasked.cls1.defined()) out.unmasked = model->vision->forward(embedded_globals());
  text_forwards(plan, model, b, out);
  return out;
}

}  // namespace tips::train
