// tips/train/step_plan.h - what one training step does, decided once from the config: which loss terms run,
// which forwards they need, where the teacher features come from, and the precision. The trainer runs it,
// `tips plan` counts its FLOPs, `tips bench train` times it, and the run's startup table prints it.
// Not the forwards themselves (forwards.h) nor the terms' math (loss_term.h, loss/*.h).
//
// The TIPSv2 switches, and where each one acts:
//   loss.ibot.all_patches    the iBOT term's patch weights (iBOT++: every patch)       src/train/terms/ibot_term.cpp
//   teacher.ema              TeacherPass below, and the EMA copies in teacher.h
//   data.captions.stream2    the caption field CLS2's stream draws (data/captions.h)
//
// Example:
//   const StepPlan plan = make_step_plan(cfg, torch::kCPU);   // throws ConfigError for a no-op config
//   log::table("step plan", describe(plan));
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "tips/config/config.h"
#include "tips/train/loss_term.h"

namespace tips::train {

// Where the teacher features of the unmasked global crops come from.
enum class TeacherPass {
  kNone,           // no term needs them
  kSharedStudent,  // the unmasked student forward, detached: free (head_only/none; the forward is deterministic)
  kStudentNoGrad,  // the student backbone once more without gradient, in eval mode (head_only/none, drop_path > 0)
  kEmaBackbone,    // the EMA backbone copy without gradient, in eval mode (teacher.ema = full)
  kFrozen,         // a fixed teacher model (teacher.source = frozen) at its own input size, its patch grid resampled
                   // to the student's
};

struct StepPlan {
  LossTerms terms;                 // the terms with weight > 0, in summation order
  TeacherPass teacher = TeacherPass::kNone;
  bool unmasked_student = false;   // student forward of the unmasked global crops (with gradient)
  bool masked_student = false;     // student forward of the masked global crops
  bool local_student = false;      // student forward of the local crops (one batched forward with the masked ones
                                   // when the sizes match, see VisionTransformer::forward_multi)
  int64_t text_streams = 0;        // caption streams through the text tower
  std::vector<Gathered> gathered;  // rows the terms read from every rank: one collective per micro-batch
  bool heads = false;                // some term trains the projection heads (TermNeeds: what `tips plan` counts)
  bool contrastive_scalars = false;  // ... the temperature and logit bias
  bool distill_projection = false;   // ... the projection to a frozen teacher's width
  int64_t teacher_image_size = 0;  // kFrozen: the teacher's input side (the global crops are resized to it)
  int64_t student_grid = 0;        // patches per side of a student global crop (the teacher's grid is resampled to it)
  bool bf16 = false;               // autocast of forwards and heads; fp32 master weights and loss math
  std::string precision_note;      // why bf16 is on or off (e.g. "bf16: CPU has AVX512-BF16")
  int blas_threads = 0;            // OpenBLAS's own pool: 1 for bf16 on CPU, else 0 (as many as LibTorch's threads)
};

// Builds the plan for training on `device`. Throws ConfigError when no term is on, when a term's config would
// make it a no-op, or when the teacher's source and the terms disagree (a frozen teacher with no term reading it,
// feature distillation without a frozen teacher). train.precision: fp32 | bf16 | auto (bf16 on CUDA and on CPUs with native bf16 matmuls:
// AVX512-BF16 or AMX; fp32 elsewhere).
StepPlan make_step_plan(const config::RunConfig& cfg, const torch::Device& device);

// Startup-table rows: the terms with their weights, the forwards, the teacher pass, the precision.
std::vector<std::pair<std::string, std::string>> describe(const StepPlan& plan);

const char* teacher_pass_name(TeacherPass pass);

}  // namespace tips::train
