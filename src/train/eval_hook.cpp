#include "tips/train/eval_hook.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "tips/data/tokenizer.h"
#include "tips/eval/evaluator.h"

namespace tips::train {

namespace {

void drop_missing(std::string& manifest, const char* key) {
  if (manifest.empty() || std::filesystem::exists(manifest)) return;
  spdlog::warn("eval.{}={} does not exist: that evaluation is off for this run", key, manifest);
  manifest.clear();
}

}  // namespace

Trainer::EvalHook make_eval_hook(const config::RunConfig& cfg) {
  auto eval_cfg = cfg.eval;
  drop_missing(eval_cfg.seg_manifest, "seg_manifest");
  drop_missing(eval_cfg.cls_manifest, "cls_manifest");
  drop_missing(eval_cfg.knn_bank_manifest, "knn_bank_manifest");
  drop_missing(eval_cfg.probe_manifest, "probe_manifest");
  const auto tok = data::Tokenizer::load(cfg.text.tokenizer);
  const std::string run_dir = cfg.train.run_dir;
  const int64_t max_len = cfg.text.max_len;
  return [tok, eval_cfg, run_dir, max_len](model::TipsModel& model, int64_t step) {
    const auto results = eval::run_evaluations(model->vision, model->text, tok, eval_cfg,
                                               run_dir + "/eval/step_" + std::to_string(step), max_len,
                                               model->log_temperature.device());
    eval::print_results(results);
    MetricRecord rec;
    for (const auto& [k, v] : results.metrics) rec.set(k, v);
    return rec;
  };
}

}  // namespace tips::train
