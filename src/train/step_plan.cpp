#include "tips/train/step_plan.h"

#include <algorithm>
#include <cstdio>

#include "tips/core/error.h"
#include "tips/core/system.h"
#include "tips/kernels/cpu_kernels.h"

namespace tips::train {

namespace {

// The teacher features come for free from the unmasked student forward when the teacher backbone IS the student
// backbone (head_only, none) and that forward is deterministic (no stochastic depth). Otherwise a separate
// no-grad pass in eval mode, of the student (head_only, none) or of the EMA copy (full).
TeacherPass pick_teacher_pass(const config::RunConfig& cfg, bool unmasked_student) {
  if (cfg.teacher.source == TeacherSource::kFrozen) return TeacherPass::kFrozen;
  if (cfg.teacher.ema == EmaScope::kFull) return TeacherPass::kEmaBackbone;
  if (unmasked_student && cfg.model.drop_path == 0.0) return TeacherPass::kSharedStudent;
  return TeacherPass::kStudentNoGrad;
}

void pick_precision(const config::RunConfig& cfg, const torch::Device& device, StepPlan& plan) {
  const Precision p = cfg.train.precision;
  if (p == Precision::kFp32) {
    plan.precision_note = "fp32 (train.precision=fp32)";
    return;
  }
  const bool native = device.is_cuda() || sys::cpu_has_native_bf16();
  if (p == Precision::kAuto && !native) {
    plan.precision_note = "fp32: this CPU has no native bf16 matmul (no AVX512-BF16 / AMX); train.precision=auto";
    return;
  }
  plan.bf16 = true;
  // The bf16 GEMMs run in oneDNN on LibTorch's OpenMP threads; the few fp32 products left (losses, Sinkhorn) are
  // small. An OpenBLAS pool of its own would spin after each of them against the OpenMP threads on the same cores.
  if (!device.is_cuda()) plan.blas_threads = 1;
  plan.precision_note = device.is_cuda() ? "bf16 autocast (CUDA)"
                        : native        ? "bf16 autocast (CPU with " + sys::cpu_bf16_feature() + ")"
                                        : "bf16 autocast, emulated: this CPU has no AVX512-BF16 / AMX (slower than fp32)";
}

// A frozen teacher gives either prototype distributions from its heads (read by the DINO / iBOT terms) or its tokens
// (read by the distill term); a config mixing the two, or reading neither, would silently train something else.
void check_teacher_source(const config::RunConfig& cfg) {
  const auto& t = cfg.teacher;
  const auto& l = cfg.loss;
  const bool ssl = l.dino.weight > 0 || l.ibot.weight > 0;
  if (t.source != TeacherSource::kFrozen) {
    if (l.distill.weight > 0)
      throw ConfigError("loss.distill.weight > 0 needs a frozen teacher (teacher.source=frozen, teacher.targets="
                        "features)", "set teacher.source=frozen and teacher.weights=..., or loss.distill.weight=0");
    if (t.text != TextInit::kScratch)
      throw ConfigError("teacher.text copies the frozen teacher's text tower, but teacher.source is ema",
                        "set teacher.text=scratch, or teacher.source=frozen");
    return;
  }
  if (t.targets == DistillTargets::kHeads && (!ssl || l.distill.weight > 0))
    throw ConfigError("teacher.targets=heads: the frozen teacher's heads are read by loss.dino / loss.ibot, and "
                      "loss.distill is for teacher.targets=features",
                      "set loss.dino.weight and/or loss.ibot.weight > 0 and loss.distill.weight=0, or use "
                      "teacher.targets=features with loss.distill.weight > 0");
  if (t.targets == DistillTargets::kFeatures && (ssl || l.distill.weight <= 0))
    throw ConfigError("teacher.targets=features: the frozen teacher's tokens are read by loss.distill alone",
                      "set loss.distill.weight > 0 and loss.dino.weight=0, loss.ibot.weight=0 (or use "
                      "teacher.targets=heads with a teacher checkpoint that has heads)");
}

}  // namespace

const char* teacher_pass_name(TeacherPass pass) {
  switch (pass) {
    case TeacherPass::kNone: return "none (no self-distillation term)";
    case TeacherPass::kSharedStudent: return "shared with the unmasked student forward (detached)";
    case TeacherPass::kStudentNoGrad: return "student backbone, separate no-grad eval-mode pass";
    case TeacherPass::kEmaBackbone: return "EMA backbone copy, no-grad eval-mode pass";
    case TeacherPass::kFrozen: return "frozen teacher model, no-grad eval-mode pass";
  }
  return "?";
}

StepPlan make_step_plan(const config::RunConfig& cfg, const torch::Device& device) {
  check_teacher_source(cfg);
  StepPlan plan;
  plan.terms = make_loss_terms(cfg);
  if (plan.terms.empty())
    throw ConfigError("every loss weight is 0: the step would train nothing",
                      "set loss.contrastive.weight, loss.dino.weight or loss.ibot.weight > 0");
  bool teacher = false;
  for (const auto& term : plan.terms) {
    const TermNeeds n = term->needs();
    teacher = teacher || n.teacher;
    plan.unmasked_student = plan.unmasked_student || n.unmasked_student;
    plan.masked_student = plan.masked_student || n.masked_student;
    plan.local_student = plan.local_student || n.local_student;
    plan.text_streams = std::max(plan.text_streams, n.text_streams);
    plan.heads = plan.heads || n.heads;
    plan.contrastive_scalars = plan.contrastive_scalars || n.contrastive_scalars;
    plan.distill_projection = plan.distill_projection || n.distill_projection;
    for (Gathered g : n.gathered)
      if (std::find(plan.gathered.begin(), plan.gathered.end(), g) == plan.gathered.end()) plan.gathered.push_back(g);
  }
  if (teacher) plan.teacher = pick_teacher_pass(cfg, plan.unmasked_student);
  plan.student_grid = cfg.data.crops.global_size / cfg.model.patch_size;
  if (plan.teacher == TeacherPass::kFrozen)
    plan.teacher_image_size = cfg.teacher.image_size > 0 ? cfg.teacher.image_size : cfg.data.crops.global_size;
  pick_precision(cfg, device, plan);
  return plan;
}

std::vector<std::pair<std::string, std::string>> describe(const StepPlan& plan) {
  std::vector<std::pair<std::string, std::string>> rows;
  for (const auto& term : plan.terms)
    rows.emplace_back("loss." + term->name(), "weight " + weight_text(term->weight()) + ": " + term->describe());
  std::string students;
  const auto add = [&](bool on, const char* what) {
    if (on) students += (students.empty() ? "" : ", ") + std::string(what);
  };
  add(plan.unmasked_student, "unmasked global");
  add(plan.masked_student, "masked global");
  add(plan.local_student, "local crops");
  rows.emplace_back("student forwards", students.empty() ? "none" : students);
  rows.emplace_back("text streams", std::to_string(plan.text_streams));
  std::string teacher = teacher_pass_name(plan.teacher);
  if (plan.teacher == TeacherPass::kFrozen) teacher += " at " + std::to_string(plan.teacher_image_size) + " px";
  rows.emplace_back("teacher forward", teacher);
  rows.emplace_back("precision", plan.precision_note);
  rows.emplace_back("fused CPU kernels", kernels::fused_cpu_kernels_status());
  if (plan.blas_threads > 0)
    rows.emplace_back("OpenBLAS threads", std::to_string(plan.blas_threads) + " (bf16 GEMMs run in oneDNN)");
  return rows;
}

}  // namespace tips::train
