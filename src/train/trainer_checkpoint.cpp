// The Trainer's checkpoints and exports: what goes into a checkpoint, what a resume checks, and what a failed write
// does to the run (ckpt.on_write_error).
#include <spdlog/spdlog.h>

#include "tips/core/error.h"
#include "tips/io/tips_checkpoint.h"
#include "tips/train/checkpoint.h"
#include "trainer_impl.h"

namespace fs = std::filesystem;

namespace tips::train {

namespace {

// The name of the first non-finite tensor, or "" when all are finite.
std::string first_nonfinite(const std::vector<std::pair<std::string, torch::Tensor>>& named) {
  for (const auto& [name, t] : named)
    if (t.is_floating_point() && !torch::isfinite(t).all().item<bool>()) return name;
  return "";
}

std::vector<std::pair<std::string, torch::Tensor>> as_pairs(const torch::OrderedDict<std::string, torch::Tensor>& d,
                                                            const std::string& prefix) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : d) out.emplace_back(prefix + item.key(), item.value());
  return out;
}

}  // namespace

bool Trainer::Impl::state_is_finite(std::string& bad) const {
  bad = first_nonfinite(as_pairs(model->named_parameters(), "student/"));
  if (bad.empty()) bad = first_nonfinite(teacher->state());
  return bad.empty();
}

// Rank 0 writes; every rank learns the outcome (a failed write is then the same error, or the same warning, on
// every rank instead of a stuck barrier). Returns whether the checkpoint was written.
bool Trainer::Impl::write_checkpoint(const torch::Tensor& loader_states) {
  std::string failure;
  if (dist.is_main()) {
    std::string bad;
    try {
      if (!state_is_finite(bad))
        throw CheckpointError("not writing a checkpoint of a non-finite state ('" + bad + "' has NaN or Inf)",
                              "the newest checkpoint on disk is the last finite one; resume from it");
      CheckpointWriter w;
      w.put("student", model->named_parameters());
      w.put("teacher", teacher->state());
      optimizer->save(w.archive("optimizer"));
      w.put_int("meta/step", step);
      w.put_int("meta/world_size", dist.world_size);
      w.put_string("meta/config", config::to_yaml(cfg));
      w.put_tensor("meta/loader_states", loader_states);
      const fs::path path = run_dir / "checkpoints" / checkpoint_name(step);
      w.commit(path);
      // Only after a complete, finite write: older checkpoints are rotated away.
      rotate_checkpoints(run_dir / "checkpoints", cfg.ckpt.keep_last, cfg.ckpt.keep_every);
      spdlog::info("checkpoint: {}", path.string());
    } catch (const CheckpointError& e) {
      failure = e.full_message();
    }
  }
  torch::Tensor failed = torch::full({1}, failure.empty() ? 0.0 : 1.0, torch::TensorOptions().device(device));
  if (dist.distributed()) dist::all_reduce_sum(dist, failed);
  if (failed.item<double>() == 0) return true;
  const std::string what = failure.empty() ? "rank 0 could not write the checkpoint of step " + std::to_string(step)
                                           : failure;
  if (cfg.ckpt.on_write_error == WriteErrorPolicy::kStop)
    throw CheckpointError(what, "ckpt.on_write_error=warn trains on and tries again at the next checkpoint");
  spdlog::error("checkpoint of step {} not written (ckpt.on_write_error=warn, training goes on): {}", step, what);
  return false;
}

void Trainer::save_checkpoint() {
  Impl& s = *impl_;
  // Each rank's loader position goes into the checkpoint: gather them to rank 0.
  const data::LoaderState ls = s.loader ? s.loader->state() : data::LoaderState{};
  auto mine = torch::tensor({ls.source.epoch, ls.source.position, ls.batches, ls.seen, ls.bad}, torch::kInt64);
  const torch::Tensor all =
      s.dist.distributed() ? dist::all_gather(s.dist, mine.unsqueeze(0).to(s.device)).cpu() : mine.unsqueeze(0);
  if (!s.write_checkpoint(all) && s.metrics) {
    MetricRecord r;
    r.set("checkpoint_failed", 1.0);
    s.metrics->event(s.step, "checkpoint_failed", r);
  }
}

void Trainer::Impl::check_resume_config(const config::RunConfig& saved, const fs::path& path) const {
  const auto changes = config::diff(saved, cfg);
  std::string refused;
  for (const auto& c : changes) {
    spdlog::warn("resume: {} was {} in {}, now {}{}", c.key, c.before, path.filename().string(), c.after,
                 c.changes_results ? "" : " (does not change the results)");
    if (c.changes_results) refused += (refused.empty() ? "" : ", ") + c.key;
  }
  if (!refused.empty() && !cfg.ckpt.allow_config_changes)
    throw ConfigError("resuming " + path.string() + " with a different " + refused +
                          ": the continued run would not be the one the checkpoint started",
                      "resume with the checkpoint's config (its meta/config, also <run_dir>/config.yaml), or set "
                      "ckpt.allow_config_changes=true to continue anyway");
}

void Trainer::load_checkpoint(const fs::path& path) {
  Impl& s = *impl_;
  CheckpointReader r(path);
  const int64_t world = r.get_int("meta/world_size");
  if (world != s.dist.world_size)
    throw CheckpointError(path.string() + ": written by " + std::to_string(world) + " ranks, resuming with " +
                              std::to_string(s.dist.world_size),
                          "resume with the same number of ranks (the per-rank data streams are positional)");
  s.check_resume_config(config::load_from_string(r.get_string("meta/config"), {}, path.string() + ":meta/config"),
                        path);
  load_named(r.group("student"), s.model->named_parameters(), "student", path);
  const auto teacher_state = r.group("teacher");
  s.teacher->load_state({teacher_state.begin(), teacher_state.end()});
  s.optimizer->load(r.archive("optimizer"));
  s.step = r.get_int("meta/step");
  const auto row = r.tensor("meta/loader_states")[s.dist.rank];
  data::LoaderState ls;
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

}  // namespace tips::train
