// src/train/trainer_impl.h (private) - the Trainer's state, shared by trainer.cpp (build, loop, checkpoints)
// and train_step.cpp (the phases of one step).
#pragma once
#include <chrono>
#include <memory>
#include <optional>

#include "tips/data/loader.h"
#include "tips/data/tokenizer.h"
#include "tips/dist/collectives.h"
#include "tips/dist/data_parallel.h"
#include "tips/loss/reducer.h"
#include "tips/train/optim.h"
#include "tips/train/trainer.h"

namespace tips::train {

// Teacher-side outputs of one step (no gradient).
struct TeacherTargets {
  torch::Tensor dino;       // (G, B, K) probs per global crop, or undefined when DINO is off
  torch::Tensor dino_cls2;  // (G, B, K) for loss.dino.cls = both
  torch::Tensor ibot;       // (G*B, N, K) probs, or undefined when iBOT is off
};

// Student-side outputs of one step (with gradient).
struct StudentOutputs {
  model::VisionOutput contrastive_view;  // (G*B, ...) the view feeding the contrastive loss
  model::VisionOutput masked;            // (G*B, ...) the masked global crops
  model::VisionOutput local;             // (M*B, ...) the local crops
  torch::Tensor text1, text2;            // (B, D) L2-normalised caption embeddings
};

struct Trainer::Impl {
  config::RunConfig cfg;
  dist::DistContext dist;
  torch::Device device = torch::kCPU;
  bool bf16 = false;
  int64_t per_rank_batch = 0;

  model::TipsModel model{nullptr};
  std::unique_ptr<Teacher> teacher;
  std::vector<NamedParam> params;
  std::vector<torch::Tensor> trainable;  // the params that require grad (what GradSync and clipping see)
  std::unique_ptr<Optimizer> optimizer;
  std::unique_ptr<dist::GradSync> grad_sync;
  std::optional<data::Tokenizer> tokenizer;
  std::unique_ptr<data::Loader> loader;

  int64_t step = 0;               // optimizer steps done
  int64_t consecutive_skips = 0;
  EvalHook eval_hook;
  std::unique_ptr<MetricsLogger> metrics;
  std::filesystem::path run_dir;

  // Phases of step() (train_step.cpp).
  TeacherTargets teacher_targets(const data::Batch& b, std::optional<model::VisionOutput>& shared_unmasked);
  StudentOutputs student_forward(const data::Batch& b, std::optional<model::VisionOutput>& shared_unmasked);
  std::pair<torch::Tensor, MetricRecord> compute_losses(const data::Batch& b, const StudentOutputs& s,
                                                       const TeacherTargets& t);
  // Returns the global grad norm (before clipping) and whether everything was finite on every rank.
  std::pair<double, bool> backward_and_update_grads();
  void apply_schedules(MetricRecord& rec);

  loss::SumReducer sum_reducer() const;
  bool teacher_shares_student_forward() const;
};

}  // namespace tips::train
