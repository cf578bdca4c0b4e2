// Trainer: construction from a RunConfig, the loop, checkpoints and export.
#include "tips/train/trainer.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "tips/core/compat.h"
#include "tips/core/error.h"
#include "tips/core/log.h"
#include "tips/core/system.h"
#include "tips/data/source.h"
#include "tips/io/tips_checkpoint.h"
#include "tips/train/checkpoint.h"
#include "tips/train/frozen_teacher.h"
#include "tips/core/schedule.h"
#include "tips/train/device.h"
#include "tips/train/weights.h"
#include "trainer_impl.h"

namespace fs = std::filesystem;

namespace tips::train {

namespace {

torch::Device pick_device(const config::RunConfig& cfg, const dist::DistContext& d) {
  const torch::Device device = resolve_device(cfg.train.device, d.device);
  if (device.is_cuda()) compat::allow_tf32(true);  // fp32 matmuls outside autocast (loss math, heads)
  return device;
}

model::TipsModelConfig model_config(const config::RunConfig& cfg) {
  model::TipsModelConfig m;
  m.vision = cfg.model;
  m.text = cfg.text;
  m.heads = cfg.heads;
  m.temperature_init = cfg.loss.contrastive.temperature_init;
  m.learn_temperature = cfg.loss.contrastive.learn_temperature;
  m.logit_bias_init = cfg.loss.contrastive.sigmoid_bias_init;
  m.seed = cfg.train.seed;
  const bool features = cfg.teacher.source == TeacherSource::kFrozen && cfg.teacher.targets == DistillTargets::kFeatures;
  m.distill_dim = features ? cfg.teacher.model.dim : 0;
  return m;
}

// Before any step: a run directory that cannot be written would otherwise surface only at the first checkpoint,
// after config.yaml and metrics.jsonl had silently failed to write.
void check_writable(const fs::path& run_dir) {
  std::error_code ec;
  fs::create_directories(run_dir, ec);
  const fs::path probe = run_dir / ".write_test";
  {
    std::ofstream f(probe, std::ios::trunc);
    f << "tipsv2.cpp\n";
    if (!ec && f.flush()) {
      f.close();
      fs::remove(probe, ec);
      return;
    }
  }
  throw ConfigError("train.run_dir=" + run_dir.string() + " is not writable" + (ec ? ": " + ec.message() : ""),
                    "choose a folder you can write to (train.run_dir=...), or fix its permissions");
}

// The EMA heads of an init_from checkpoint (else the Teacher's copies of the loaded student heads stay).
void init_teacher_heads(Teacher& teacher, const WeightSet& init, const config::RunConfig& cfg) {
  if (cfg.train.init_from.empty() || cfg.teacher.ema == EmaScope::kNone || !init.has_group("teacher.heads"))
    throw ConfigError("train.init_teacher_heads=true needs train.init_from to be a `tips train` checkpoint with EMA "
                      "teacher heads, and teacher.ema to keep a copy",
                      "set train.init_teacher_heads=false to start the teacher heads from the loaded student heads");
  load_group(*teacher.teacher_heads(), init, "teacher.heads");
  spdlog::info("train.init_from: teacher heads from {}", init.source);
}

const char* ema_name(EmaScope s) {
  return s == EmaScope::kHeadOnly ? "head_only" : s == EmaScope::kFull ? "full" : "none";
}

// Global batch -> per-rank micro-batch, and crop sides that hold whole patches.
int64_t per_rank_batch(const config::RunConfig& cfg, int64_t world_size) {
  const int64_t denom = world_size * cfg.optim.accum_steps;
  if (cfg.train.batch_size % denom != 0)
    throw ConfigError("train.batch_size=" + std::to_string(cfg.train.batch_size) + " is not divisible by world_size (" +
                          std::to_string(world_size) + ") x optim.accum_steps (" +
                          std::to_string(cfg.optim.accum_steps) + ")",
                      "pick a global batch that is a multiple of " + std::to_string(denom));
  if (cfg.data.crops.global_size % cfg.model.patch_size != 0)
    throw ConfigError("data.crops.global_size=" + std::to_string(cfg.data.crops.global_size) +
                          " is not a multiple of model.patch_size=" + std::to_string(cfg.model.patch_size),
                      "masks and patch grids need whole patches");
  if (cfg.data.crops.local_count > 0 && cfg.data.crops.local_size % cfg.model.patch_size != 0)
    throw ConfigError("data.crops.local_size=" + std::to_string(cfg.data.crops.local_size) +
                          " is not a multiple of model.patch_size=" + std::to_string(cfg.model.patch_size), "");
  return cfg.train.batch_size / denom;
}

}  // namespace

Trainer::Trainer(const config::RunConfig& cfg, TrainerOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.cfg = cfg;
  s.dist = dist::init(cfg.dist);
  s.device = pick_device(cfg, s.dist);
  s.plan = make_step_plan(cfg, s.device);  // throws ConfigError for a config that turns a term into a no-op
  if (cfg.train.threads > 0) torch::set_num_threads(static_cast<int>(cfg.train.threads));
  sys::set_blas_threads(s.plan.blas_threads > 0 ? s.plan.blas_threads : torch::get_num_threads());
  s.per_rank_batch = per_rank_batch(cfg, s.dist.world_size);
  s.run_dir = cfg.train.run_dir;
  if (s.dist.is_main() && options.with_data) check_writable(s.run_dir);  // a data-less Trainer writes no run
  s.build_model_and_teacher();
  s.build_optimizer();
  if (options.with_data) s.build_loader();
  s.log_options(trainable_parameter_count());
}

// The student (random, or train.init_from), replicated from rank 0, then the teacher: EMA copies of it, or the
// frozen model of teacher.weights.
void Trainer::Impl::build_model_and_teacher() {
  model = model::TipsModel(model_config(cfg));
  const WeightSet init = cfg.train.init_from.empty() ? WeightSet{} : read_weights(cfg.train.init_from);
  if (!cfg.train.init_from.empty())
    for (const auto& line : load_model_weights(model, init, {})) spdlog::info("train.init_from: {}", line);
  model->to(device);
  model->vision->set_activation_checkpointing(cfg.train.activation_checkpointing);
  dist::broadcast_module(dist, *model, cfg.dist.bucket_mb);
  FrozenModel frozen;
  if (cfg.teacher.source == TeacherSource::kFrozen) {
    const WeightSet teacher_weights = read_weights(cfg.teacher.weights);
    frozen = load_frozen_teacher(cfg, teacher_weights, device);
    spdlog::info("{}", init_student_text(model, cfg, teacher_weights));
  }
  teacher = std::make_unique<Teacher>(cfg.teacher, target_norm(cfg.loss.dino), target_norm(cfg.loss.ibot),
                                      model->heads, model->vision.ptr(), frozen);
  if (cfg.train.init_teacher_heads) init_teacher_heads(*teacher, init, cfg);
}

// Parameter groups (layer-wise decay needs each vision parameter's block), the optimizer over the parameters that
// require grad, and the gradient all-reduce buckets.
void Trainer::Impl::build_optimizer() {
  for (const auto& item : model->named_parameters()) {
    const std::string& name = item.key();
    int64_t layer = std::numeric_limits<int64_t>::min();
    if (name.rfind("vision.", 0) == 0) layer = model->vision->layer_id(name.substr(7));
    params.push_back({name, item.value(), layer});
  }
  optimizer = make_optimizer(make_param_groups(params, cfg.optim, cfg.model.depth), cfg.optim);
  for (const auto& p : params)
    if (p.param.requires_grad()) trainable.push_back(p.param);
  if (dist.distributed()) grad_sync = std::make_unique<dist::GradSync>(dist, trainable, cfg.dist.bucket_mb);
}

void Trainer::Impl::build_loader() {
  if (cfg.text.tokenizer.empty())
    throw ConfigError("text.tokenizer is empty: training needs a SentencePiece model",
                      "train one with `tips tokenizer train --corpus captions.txt --out-prefix tok` and set "
                      "text.tokenizer=tok.model");
  tokenizer = data::Tokenizer::load(cfg.text.tokenizer);
  if (tokenizer->vocab_size() > cfg.text.vocab_size)
    throw ConfigError("text.vocab_size=" + std::to_string(cfg.text.vocab_size) + " is smaller than the tokenizer's " +
                          std::to_string(tokenizer->vocab_size()) + " pieces (" + cfg.text.tokenizer + ")",
                      "set text.vocab_size=" + std::to_string(tokenizer->vocab_size()));
  const int64_t max_len = cfg.text.max_len;
  const data::Tokenizer tok = *tokenizer;
  data::LoaderOptions lo;
  lo.batch_size = per_rank_batch;
  lo.patch_size = cfg.model.patch_size;
  lo.seed = cfg.train.seed;
  lo.rank = dist.rank;
  lo.world_size = dist.world_size;
  // data.loader.quarantine_log= (empty) turns the log off.
  lo.quarantine_path = cfg.data.loader.quarantine_log.empty() ? "" : (run_dir / cfg.data.loader.quarantine_log).string();
  lo.pin_memory = device.is_cuda();
  loader = std::make_unique<data::Loader>(
      cfg.data, data::open_source(cfg.data, cfg.train.seed, dist.rank, dist.world_size),
      [tok, max_len](const std::vector<std::string>& texts) { return tok.encode(texts, max_len); }, lo);
}

// The start-up table (printed by rank 0: the other ranks log warnings only, core/log.h).
void Trainer::Impl::log_options(int64_t trainable_count) const {
  std::vector<std::pair<std::string, std::string>> rows = {
      {"device", device.str()},
      {"ranks", std::to_string(dist.world_size) + " (" + dist::backend_name(dist.backend) + ")"},
      {"batch", std::to_string(cfg.train.batch_size) + " global, " + std::to_string(per_rank_batch) + " per rank x " +
                    std::to_string(cfg.optim.accum_steps) + " micro-batches"},
      {"student parameters", std::to_string(trainable_count)},
  };
  if (teacher->frozen())
    rows.emplace_back("teacher", "frozen, " + std::to_string(teacher->frozen_parameter_count()) +
                                     " parameters (no gradient, no optimizer state), from " + cfg.teacher.weights);
  else
    rows.emplace_back("teacher.ema", std::string(ema_name(cfg.teacher.ema)) + " (" +
                                         std::to_string(teacher->parameter_count()) + " EMA parameters)");
  for (auto& row : describe(plan)) rows.push_back(std::move(row));
  rows.emplace_back("run_dir", run_dir.string());
  log::table("run options", rows);
}

Trainer::~Trainer() = default;

int64_t Trainer::global_step() const { return impl_->step; }
int64_t Trainer::trainable_parameter_count() const {
  int64_t n = 0;
  for (const auto& t : impl_->trainable) n += t.numel();
  return n;
}
int64_t Trainer::ema_parameter_count() const { return impl_->teacher->parameter_count(); }
int64_t Trainer::optimizer_state_bytes() const { return impl_->optimizer->state_bytes(); }
model::TipsModel& Trainer::model() { return impl_->model; }
Teacher& Trainer::teacher() { return *impl_->teacher; }
const dist::DistContext& Trainer::dist() const { return impl_->dist; }
const config::RunConfig& Trainer::config() const { return impl_->cfg; }
const StepPlan& Trainer::plan() const { return impl_->plan; }
void Trainer::set_eval_hook(EvalHook hook) { impl_->eval_hook = std::move(hook); }

std::vector<data::Batch> Trainer::next_batches() {
  if (!impl_->loader)
    throw Error("Trainer::next_batches: this trainer was built without data (TrainerOptions::with_data=false)", "");
  std::vector<data::Batch> out;
  for (int64_t i = 0; i < impl_->cfg.optim.accum_steps; ++i) out.push_back(impl_->loader->next());
  return out;
}

void Trainer::Impl::write_run_files(const Trainer& t) const {
  if (!dist.is_main()) return;
  std::ofstream(run_dir / "config.yaml") << config::to_yaml(cfg, /*with_docs=*/true);
  // What the run trains, for reports and the ablation table (rewritten on resume; the values do not change).
  nlohmann::json info;
  info["trainable_params"] = t.trainable_parameter_count();
  info["ema_params"] = t.ema_parameter_count();
  info["teacher_ema"] = teacher->frozen() ? "frozen" : ema_name(cfg.teacher.ema);
  info["frozen_teacher_params"] = teacher->frozen_parameter_count();
  info["world_size"] = dist.world_size;
  info["device"] = device.str();
  info["precision"] = plan.bf16 ? "bf16" : "fp32";
  info["global_batch"] = cfg.train.batch_size;
  info["steps"] = cfg.train.steps;
  std::ofstream(run_dir / "run_info.json") << info.dump(2) << "\n";
}

// ckpt.resume: "" fresh, "auto" the newest checkpoint that verifies, else a path. Returns whether it resumed.
bool Trainer::Impl::resume(Trainer& t) {
  bool resumed = false;
  if (cfg.ckpt.resume == "auto") {
    if (const auto p = newest_valid_checkpoint(run_dir / "checkpoints")) t.load_checkpoint(*p), resumed = true;
    else spdlog::info("--resume auto: no checkpoint in {}, starting fresh", (run_dir / "checkpoints").string());
  } else if (!cfg.ckpt.resume.empty()) {
    t.load_checkpoint(cfg.ckpt.resume);
    resumed = true;
  }
  if (dist.is_main()) remove_partial_checkpoints(run_dir / "checkpoints");
  return resumed;
}

// Rank 0 evaluates; the others wait for it through the store with eval.train_wait_s (an evaluation may take longer
// than dist.timeout_s, which would otherwise turn the next collective into a false dead-rank error). A failed
// periodic evaluation is logged and counted (an "eval_failed" event); a failed final one ends the run with an error
// once the last checkpoint and the export are written.
void Trainer::Impl::evaluate(bool final_eval) {
  if (!eval_hook) return;
  std::string failure;
  if (dist.is_main()) {
    torch::NoGradGuard ng;
    model->eval();
    try {
      metrics->event(step, "eval", eval_hook(model, step));
    } catch (const std::exception& e) {
      failure = e.what();
      MetricRecord r;
      r.set("eval_failed", 1.0);
      metrics->event(step, "eval_failed", r);
      spdlog::error("evaluation at step {} failed: {}", step, failure);
    }
    model->train();
  }
  dist::wait_for_main(dist, "eval/" + std::to_string(step), cfg.eval.train_wait_s);
  if (final_eval && !failure.empty())
    throw Error("the final evaluation failed: " + failure,
                "the checkpoint and the export are written; run `tips eval --checkpoint` once the cause is fixed");
}

// One logged line of metrics.jsonl and the progress line.
void Trainer::Impl::log_step(const StepResult& r, double data_s, double step_s, const EtaEstimator& eta) {
  if (r.terms.get("caption_fallback_frac") > 0 && !warned_caption_fallback) {
    warned_caption_fallback = true;
    spdlog::warn("step {}: {:.1f} % of the captions came from data.captions.fallback_field='{}' because the drawn "
                 "field is missing from the data (metrics.jsonl: caption_fallback_frac); check "
                 "data.captions.stream1/stream2 against the manifest's fields, or set data.captions.missing=error",
                 step, 100.0 * r.terms.get("caption_fallback_frac"), cfg.data.captions.fallback_field);
  }
  if (!logs_step(step)) return;
  MetricRecord rec = r.terms;
  rec.set("imgs_per_s", static_cast<double>(cfg.train.batch_size) / step_s);
  rec.set("data_wait_pct", 100.0 * data_s / step_s);
  rec.set("step_s", step_s);
  rec.set("peak_rss_mib", sys::peak_rss_mib());
  metrics->log(step, cfg.train.steps, rec, eta.eta_seconds(cfg.train.steps - step));
}

// A skipped (non-finite) step: counted; under nan_policy=stop, or after too many in a row, the run ends.
void Trainer::Impl::on_skipped_step(const StepResult& r) {
  ++consecutive_skips;
  spdlog::warn("step {}: non-finite {} - step skipped ({} in a row)", step, r.nonfinite, consecutive_skips);
  metrics->event(step, "skipped_step", r.terms);
  if (cfg.train.nan_policy != NanPolicy::kStop && consecutive_skips <= cfg.train.max_nan_skips) return;
  // No checkpoint here: the weights that led to a non-finite step are no state to resume from, and writing them
  // would rotate a good checkpoint away. The newest one on disk is the last good state.
  const auto last = newest_valid_checkpoint(run_dir / "checkpoints");
  throw NumericsError("step " + std::to_string(step) + ": non-finite " + r.nonfinite +
                          (cfg.train.nan_policy == NanPolicy::kStop ? "" : " (too many consecutive skips)"),
                      (last ? "resume from " + last->string() + " (--resume auto) after lowering "
                            : std::string("no checkpoint was written before; lower ")) +
                          "optim.lr.start, raising loss.contrastive.temperature_init, or inspecting the data "
                          "(metrics.jsonl has every term)");
}

void Trainer::train() {
  Impl& s = *impl_;
  const auto& cfg = s.cfg;
  s.write_run_files(*this);
  const bool resumed = s.resume(*this);
  // A resumed run's metrics.jsonl loses what was logged after the checkpoint: those steps are trained again.
  s.metrics = std::make_unique<MetricsLogger>(s.run_dir, s.dist.is_main(), resumed ? s.step : -1, s.cfg.train.tensorboard);
  EtaEstimator eta;
  const auto every = [&](int64_t n) { return n > 0 && s.step % n == 0 && s.step < cfg.train.steps; };
  s.model->train();
  while (s.step < cfg.train.steps) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto batches = next_batches();
    const auto t1 = std::chrono::steady_clock::now();
    const StepResult r = step(batches);
    const double data_s = std::chrono::duration<double>(t1 - t0).count();
    const double step_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    eta.tick(step_s);
    if (r.skipped) {
      s.on_skipped_step(r);
      continue;
    }
    s.consecutive_skips = 0;
    s.log_step(r, data_s, step_s, eta);
    if (every(cfg.train.eval_every)) s.evaluate(/*final_eval=*/false);
    if (every(cfg.ckpt.every)) save_checkpoint();
    if (every(cfg.ckpt.export_every)) export_weights(s.run_dir / "exports" / ("step_" + std::to_string(s.step)));
  }
  save_checkpoint();
  export_weights(s.run_dir / "export");
  s.evaluate(/*final_eval=*/true);
}

}  // namespace tips::train
