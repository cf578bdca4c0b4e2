// tips/train/trainer.h - the TIPSv2 training loop: builds everything from a RunConfig, runs
// resume -> loop {step, maybe evaluate, maybe checkpoint, log} -> final checkpoint + export.
//
// One step (defaults = TIPSv2): teacher targets from the unmasked global crop through the teacher backbone
// (the student's own backbone without gradient under head-only EMA) and the EMA heads; the masked global crop
// and the local crops through the student; both caption streams through the text encoder; then
//   L = w_c * mean(InfoNCE(CLS1, stream1), InfoNCE(CLS2, stream2)) + w_d * DINO + w_i * iBOT(++) + w_k * KoLeo,
// backward, gradient all-reduce, clip, optimizer step, EMA update of the teacher copies.
// Multi-process: every rank constructs a Trainer; collectives inside; rank 0 writes files.
#pragma once
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tips/config/config.h"
#include "tips/data/sample.h"
#include "tips/dist/context.h"
#include "tips/model/tips_model.h"
#include "tips/train/metrics.h"
#include "tips/train/step_plan.h"
#include "tips/train/teacher.h"

namespace tips::train {

// Scalars of one optimizer step: global-batch means (averaged over ranks and micro-batches).
struct StepResult {
  double loss = 0;            // the weighted sum of the terms that was back-propagated
  MetricRecord terms;         // unweighted loss_<term> values (and their parts), loss, grad_norm, lr, wd, momentum, ...
  bool skipped = false;       // non-finite loss or gradient under nan_policy skip
  std::string nonfinite;      // names of the non-finite terms ("" when finite)
};

// What a Trainer builds beyond the model, teacher and optimizer.
struct TrainerOptions {
  // false: no tokenizer and no data source are opened (text.tokenizer and data.path may be empty); the caller
  // feeds step() its own batches. `tips bench train` uses this with synthetic batches; next_batches()/train()
  // then throw, and train.run_dir is neither created nor probed.
  bool with_data = true;
};

class Trainer {
 public:
  // Builds the process group (from the environment), model, teacher, optimizer and loader.
  explicit Trainer(const config::RunConfig& cfg, TrainerOptions options = {});
  ~Trainer();

  // resume (ckpt.resume) -> steps until train.steps -> final checkpoint and official .npz export.
  void train();

  // One optimizer step over cfg.optim.accum_steps micro-batches (already on any device; moved here).
  StepResult step(const std::vector<data::Batch>& micro_batches);

  // Collective (every rank calls it): gathers the loader states; rank 0 writes <run_dir>/checkpoints/step_N.ckpt.
  void save_checkpoint();
  void load_checkpoint(const std::filesystem::path& path);
  // The official pair (image_encoder.npz, text_encoder.npz) into `dir` (rank 0 only).
  void export_weights(const std::filesystem::path& dir);

  // Called on rank 0 at eval points (train.eval_every and the end); returns metrics to log as an "eval" event.
  using EvalHook = std::function<MetricRecord(model::TipsModel& model, int64_t step)>;
  void set_eval_hook(EvalHook hook);

  int64_t global_step() const;
  // Parameters the optimizer updates (student towers + heads + temperature) and EMA copies the teacher holds.
  int64_t trainable_parameter_count() const;
  int64_t ema_parameter_count() const;
  int64_t optimizer_state_bytes() const;  // 0 before the first step (and after train.init_from: a fresh optimizer)
  model::TipsModel& model();
  Teacher& teacher();
  const dist::DistContext& dist() const;
  const config::RunConfig& config() const;
  // What every step runs: terms, forwards, teacher pass, precision (decided once at construction).
  const StepPlan& plan() const;
  // Next batches for one step from the loader (accum_steps micro-batches).
  std::vector<data::Batch> next_batches();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tips::train
