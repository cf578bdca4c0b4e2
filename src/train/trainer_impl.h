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
#include "tips/train/forwards.h"
#include "tips/train/loss_term.h"
#include "tips/train/optim.h"
#include "tips/train/step_plan.h"
#include "tips/train/trainer.h"

namespace tips::train {

// Named scalars of one micro-batch, detached, on the training device (read once per step).
using DeviceMetrics = std::vector<std::pair<std::string, torch::Tensor>>;

struct Trainer::Impl {
  config::RunConfig cfg;
  dist::DistContext dist;
  torch::Device device = torch::kCPU;
  StepPlan plan;                   // terms, forwards, teacher pass and precision, decided once
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
  // The weighted sum of the plan's terms on one micro-batch, and every logged value (detached, on the device):
  // each term's parts, then loss_<name>, then "loss".
  std::pair<torch::Tensor, DeviceMetrics> compute_losses(TermContext& ctx);
  // Forward + backward over the micro-batches: each logged value's mean over them, on the device.
  DeviceMetrics forward_backward(const std::vector<data::Batch>& micro_batches);
  // Those values averaged over ranks, the gradient norm and the contrastive temperature, in one host read.
  StepResult read_values(const DeviceMetrics& means, double& grad_norm, double& temperature);
  // After every micro-batch's backward: averages the gradients and `values` (the logged values, in the same
  // collective) over ranks, zeroes the frozen prototype layers' gradients and returns the global gradient norm
  // (before clipping) as a () tensor on the device (float64 where the CPU kernel sums it, else float32).
  torch::Tensor sync_grads(torch::Tensor& values);
  void apply_schedules(MetricRecord& rec);

  // Construction phases (trainer.cpp).
  void build_model_and_teacher();
  void build_optimizer();
  void build_loader();
  void log_options(int64_t trainable_count) const;

  // The loop's parts (trainer.cpp).
  bool warned_caption_fallback = false;
  void write_run_files(const Trainer& t) const;
  bool resume(Trainer& t);
  void evaluate(bool final_eval);
  void log_step(const StepResult& r, double data_s, double step_s, const EtaEstimator& eta);
  // Whether the step that completes optimizer step `completed` is written to metrics.jsonl (train.log_every).
  bool logs_step(int64_t completed) const {
    return completed % cfg.train.log_every == 0 || completed == cfg.train.steps;
  }
  void on_skipped_step(const StepResult& r);

  // Checkpoints (trainer_checkpoint.cpp).
  bool state_is_finite(std::string& first_bad) const;  // every parameter and teacher tensor finite
  bool write_checkpoint(const torch::Tensor& loader_states);
  void check_resume_config(const config::RunConfig& saved, const std::filesystem::path& path) const;
};

}  // namespace tips::train
