// Trainer: construction from a RunConfig, the loop, checkpoints and export.
#include "tips/train/trainer.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "tips/core/error.h"
#include "tips/core/log.h"
#include "tips/core/system.h"
#include "tips/data/source.h"
#include "tips/io/tips_checkpoint.h"
#include "tips/train/checkpoint.h"
#include "tips/train/schedule.h"
#include "trainer_impl.h"

namespace fs = std::filesystem;

namespace tips::train {

namespace {

torch::Device pick_device(const config::RunConfig& cfg, const dist::DistContext& d) {
  switch (cfg.train.device) {
    case DeviceChoice::kCpu: return torch::kCPU;
    case DeviceChoice::kCuda:
      if (!torch::cuda::is_available())
        throw ConfigError("train.device: cuda requested but no CUDA device is visible",
                          "use train.device=cpu (or auto), or run on a GPU machine with a CUDA LibTorch");
      return d.device;
    case DeviceChoice::kAuto: break;
  }
  return d.device;
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
  return m;
}

const char* ema_name(EmaScope s) {
  return s == EmaScope::kHeadOnly ? "head_only" : s == EmaScope::kFull ? "full" : "none";
}

}  // namespace

Trainer::Trainer(const config::RunConfig& cfg, TrainerOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.cfg = cfg;
  s.dist = dist::init(cfg.dist);
  s.device = pick_device(cfg, s.dist);
  s.plan = make_step_plan(cfg, s.device);  // throws ConfigError for a config that turns a term into a no-op
  if (cfg.train.threads > 0) torch::set_num_threads(static_cast<int>(cfg.train.threads));
  const int64_t denom = s.dist.world_size * cfg.optim.accum_steps;
  if (cfg.train.batch_size % denom != 0)
    throw ConfigError("train.batch_size=" + std::to_string(cfg.train.batch_size) + " is not divisible by world_size (" +
                          std::to_string(s.dist.world_size) + ") x optim.accum_steps (" +
                          std::to_string(cfg.optim.accum_steps) + ")",
                      "pick a global batch that is a multiple of " + std::to_string(denom));
  s.per_rank_batch = cfg.train.batch_size / denom;
  if (cfg.data.crops.global_size % cfg.model.patch_size != 0)
    throw ConfigError("data.crops.global_size=" + std::to_string(cfg.data.crops.global_size) +
                          " is not a multiple of model.patch_size=" + std::to_string(cfg.model.patch_size),
                      "masks and patch grids need whole patches");
  if (cfg.data.crops.local_count > 0 && cfg.data.crops.local_size % cfg.model.patch_size != 0)
    throw ConfigError("data.crops.local_size=" + std::to_string(cfg.data.crops.local_size) +
                          " is not a multiple of model.patch_size=" + std::to_string(cfg.model.patch_size), "");
  s.run_dir = cfg.train.run_dir;

  s.model = model::TipsModel(model_config(cfg));
  s.model->to(s.device);
  s.model->vision->set_activation_checkpointing(cfg.train.activation_checkpointing);
  dist::broadcast_module(s.dist, *s.model, cfg.dist.bucket_mb);
  s.teacher = std::make_unique<Teacher>(cfg.teacher, target_norm(cfg.loss.dino), target_norm(cfg.loss.ibot),
                                        s.model->heads, s.model->vision.ptr());
  for (const auto& item : s.model->named_parameters()) {
    const std::string& name = item.key();
    int64_t layer = std::numeric_limits<int64_t>::min();
    if (name.rfind("vision.", 0) == 0) layer = s.model->vision->layer_id(name.substr(7));
    s.params.push_back({name, item.value(), layer});
  }
  s.optimizer = make_optimizer(make_param_groups(s.params, cfg.optim, cfg.model.depth), cfg.optim);
  for (const auto& p : s.params)
    if (p.param.requires_grad()) s.trainable.push_back(p.param);
  if (s.dist.distributed()) s.grad_sync = std::make_unique<dist::GradSync>(s.dist, s.trainable, cfg.dist.bucket_mb);

  if (options.with_data) {
    if (cfg.text.tokenizer.empty())
      throw ConfigError("text.tokenizer is empty: training needs a SentencePiece model",
                        "train one with `tips tokenizer train --corpus captions.txt --out-prefix tok` and set "
                        "text.tokenizer=tok.model");
    s.tokenizer = data::Tokenizer::load(cfg.text.tokenizer);
    if (s.tokenizer->vocab_size() > cfg.text.vocab_size)
      throw ConfigError("text.vocab_size=" + std::to_string(cfg.text.vocab_size) + " is smaller than the tokenizer's " +
                            std::to_string(s.tokenizer->vocab_size()) + " pieces (" + cfg.text.tokenizer + ")",
                        "set text.vocab_size=" + std::to_string(s.tokenizer->vocab_size()));
    const int64_t max_len = cfg.text.max_len;
    const data::Tokenizer tok = *s.tokenizer;
    data::LoaderOptions lo;
    lo.batch_size = s.per_rank_batch;
    lo.patch_size = cfg.model.patch_size;
    lo.seed = cfg.train.seed;
    lo.rank = s.dist.rank;
    lo.world_size = s.dist.world_size;
    lo.quarantine_path = (s.run_dir / cfg.data.loader.quarantine_log).string();
    lo.pin_memory = s.device.is_cuda();
    s.loader = std::make_unique<data::Loader>(
        cfg.data, data::open_source(cfg.data, cfg.train.seed, s.dist.rank, s.dist.world_size),
        [tok, max_len](const std::vector<std::string>& texts) { return tok.encode(texts, max_len); }, lo);
  }

  std::vector<std::pair<std::string, std::string>> rows = {
      {"device", s.device.str()},
      {"ranks", std::to_string(s.dist.world_size) + " (" + dist::backend_name(s.dist.backend) + ")"},
      {"batch", std::to_string(cfg.train.batch_size) + " global, " + std::to_string(s.per_rank_batch) +
                    " per rank x " + std::to_string(cfg.optim.accum_steps) + " micro-batches"},
      {"student parameters", std::to_string(trainable_parameter_count())},
      {"teacher.ema", std::string(ema_name(cfg.teacher.ema)) + " (" + std::to_string(s.teacher->parameter_count()) +
                          " EMA parameters)"},
  };
  for (auto& row : describe(s.plan)) rows.push_back(std::move(row));
  rows.emplace_back("run_dir", s.run_dir.string());
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

void Trainer::save_checkpoint() {
  Impl& s = *impl_;
  // Each rank's loader position goes into the checkpoint: gather them to rank 0.
  const data::LoaderState ls = s.loader ? s.loader->state() : data::LoaderState{};
  auto mine = torch::tensor({ls.source.epoch, ls.source.position, ls.batches, ls.seen, ls.bad}, torch::kInt64);
  const torch::Tensor all =
      s.dist.distributed() ? dist::all_gather(s.dist, mine.unsqueeze(0).to(s.device)).cpu() : mine.unsqueeze(0);
  if (s.dist.is_main()) {
    CheckpointWriter w;
    w.put("student", s.model->named_parameters());
    w.put("teacher", s.teacher->state());
    s.optimizer->save(w.archive("optimizer"));
    w.put_int("meta/step", s.step);
    w.put_int("meta/world_size", s.dist.world_size);
    w.put_string("meta/config", config::to_yaml(s.cfg));
    w.put_tensor("meta/loader_states", all);
    const fs::path path = s.run_dir / "checkpoints" / checkpoint_name(s.step);
    w.commit(path);
    rotate_checkpoints(s.run_dir / "checkpoints", s.cfg.ckpt.keep_last, s.cfg.ckpt.keep_every);
    spdlog::info("checkpoint: {}", path.string());
  }
  dist::barrier(s.dist);
}

void Trainer::load_checkpoint(const fs::path& path) {
  Impl& s = *impl_;
  CheckpointReader r(path);
  const int64_t world = r.get_int("meta/world_size");
  if (world != s.dist.world_size)
    throw CheckpointError(path.string() + ": written by " + std::to_string(world) + " ranks, resuming with " +
                              std::to_string(s.dist.world_size),
                          "resume with the same number of ranks (the per-rank data streams are positional)");
  load_named(r.group("student"), s.model->named_parameters(), "student", path);
  const auto teacher_state = r.group("teacher");
  s.teacher->load_state({teacher_state.begin(), teacher_state.end()});
  s.optimizer->load(r.archive("optimizer"));
  s.step = r.get_int("meta/step");
  const auto states = r.tensor("meta/loader_states");
  data::LoaderState ls;
  const auto row = states[s.dist.rank];
  ls.source.epoch = row[0].item<int64_t>();
  ls.source.position = row[1].item<int64_t>();
  ls.batches = row[2].item<int64_t>();
  ls.seen = row[3].item<int64_t>();
  ls.bad = row[4].item<int64_t>();
  if (s.loader) s.loader->restore(ls);
  spdlog::info("resumed from {} at step {}", path.string(), s.step);
}

void Trainer::export_weights(const fs::path& dir) {
  Impl& s = *impl_;
  if (!s.dist.is_main()) return;
  fs::create_directories(dir);
  io::export_official(*s.model->vision, *s.model->text, io::OfficialPaths::in_dir(dir.string()),
                      s.model->temperature().item<float>());
  spdlog::info("exported official weights: {}/{{image,text}}_encoder.npz", dir.string());
}

void Trainer::train() {
  Impl& s = *impl_;
  const auto& cfg = s.cfg;
  if (s.dist.is_main()) {
    fs::create_directories(s.run_dir);
    std::ofstream(s.run_dir / "config.yaml") << config::to_yaml(cfg, /*with_docs=*/true);
    // What the run trains, for reports and the ablation table (rewritten on resume; the values do not change).
    nlohmann::json info;
    info["trainable_params"] = trainable_parameter_count();
    info["ema_params"] = ema_parameter_count();
    info["teacher_ema"] = ema_name(cfg.teacher.ema);
    info["world_size"] = s.dist.world_size;
    info["device"] = s.device.str();
    info["precision"] = s.plan.bf16 ? "bf16" : "fp32";
    info["global_batch"] = cfg.train.batch_size;
    info["steps"] = cfg.train.steps;
    std::ofstream(s.run_dir / "run_info.json") << info.dump(2) << "\n";
  }
  bool resumed = false;
  if (cfg.ckpt.resume == "auto") {
    if (const auto p = newest_valid_checkpoint(s.run_dir / "checkpoints")) load_checkpoint(*p), resumed = true;
    else spdlog::info("--resume auto: no checkpoint in {}, starting fresh", (s.run_dir / "checkpoints").string());
  } else if (!cfg.ckpt.resume.empty()) {
    load_checkpoint(cfg.ckpt.resume);
    resumed = true;
  }
  if (s.dist.is_main()) remove_partial_checkpoints(s.run_dir / "checkpoints");
  s.metrics = std::make_unique<MetricsLogger>(s.run_dir, s.dist.is_main(), resumed);
  EtaEstimator eta;
  // Rank 0 evaluates; the others wait for it through the store with eval.train_wait_s (an evaluation may take
  // longer than dist.timeout_s, which would otherwise turn the next collective into a false dead-rank error).
  auto run_eval = [&] {
    if (!s.eval_hook) return;
    if (s.dist.is_main()) {
      torch::NoGradGuard ng;
      s.model->eval();
      const MetricRecord r = s.eval_hook(s.model, s.step);
      s.model->train();
      s.metrics->event(s.step, "eval", r);
    }
    dist::wait_for_main(s.dist, "eval/" + std::to_string(s.step), cfg.eval.train_wait_s);
  };
  s.model->train();
  const int64_t images_per_step = cfg.train.batch_size;
  bool warned_fallback = false;
  while (s.step < cfg.train.steps) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto batches = next_batches();
    const auto t1 = std::chrono::steady_clock::now();
    const StepResult r = step(batches);
    const auto t2 = std::chrono::steady_clock::now();
    const double data_s = std::chrono::duration<double>(t1 - t0).count();
    const double step_s = std::chrono::duration<double>(t2 - t0).count();
    eta.tick(step_s);
    if (r.skipped) {
      ++s.consecutive_skips;
      spdlog::warn("step {}: non-finite {} - step skipped ({} in a row)", s.step, r.nonfinite, s.consecutive_skips);
      s.metrics->event(s.step, "skipped_step", r.terms);
      if (cfg.train.nan_policy == NanPolicy::kStop || s.consecutive_skips > cfg.train.max_nan_skips) {
        save_checkpoint();  // the weights are those before the bad step
        throw NumericsError("step " + std::to_string(s.step) + ": non-finite " + r.nonfinite +
                                (cfg.train.nan_policy == NanPolicy::kStop ? "" : " (too many consecutive skips)"),
                            "checkpoint saved; lower optim.lr.start, raise loss.contrastive.temperature_init, or "
                            "inspect the data (metrics.jsonl has every term)");
      }
      continue;
    }
    s.consecutive_skips = 0;
    if (r.terms.get("caption_fallback_frac") > 0 && !warned_fallback) {
      warned_fallback = true;
      spdlog::warn("step {}: {:.1f} % of the captions came from data.captions.fallback_field='{}' because the drawn "
                   "field is missing from the data (metrics.jsonl: caption_fallback_frac); check "
                   "data.captions.stream1/stream2 against the manifest's fields, or set data.captions.missing=error",
                   s.step, 100.0 * r.terms.get("caption_fallback_frac"), cfg.data.captions.fallback_field);
    }
    if (s.step % cfg.train.log_every == 0 || s.step == cfg.train.steps) {
      MetricRecord rec = r.terms;
      rec.set("imgs_per_s", images_per_step / step_s);
      rec.set("data_wait_pct", 100.0 * data_s / step_s);
      rec.set("step_s", step_s);
      rec.set("peak_rss_mib", sys::peak_rss_mib());
      s.metrics->log(s.step, cfg.train.steps, rec, eta.eta_seconds(cfg.train.steps - s.step));
    }
    if (cfg.train.eval_every > 0 && s.step % cfg.train.eval_every == 0 && s.step < cfg.train.steps) run_eval();
    if (cfg.ckpt.every > 0 && s.step % cfg.ckpt.every == 0 && s.step < cfg.train.steps) save_checkpoint();
    if (cfg.ckpt.export_every > 0 && s.step % cfg.ckpt.export_every == 0 && s.step < cfg.train.steps)
      export_weights(s.run_dir / "exports" / ("step_" + std::to_string(s.step)));
  }
  save_checkpoint();
  export_weights(s.run_dir / "export");
  run_eval();
}

}  // namespace tips::train
