#include "eval_hook.h"

#include <spdlog/spdlog.h>

#include "tips/data/tokenizer.h"
#include "tips/eval/evaluator.h"

namespace tips::cli {

// Periodic evaluation inside `tips train` (rank 0 only; other ranks never wait on it, so no collective can time
// out because of it). Skipped with a warning when the evaluation splits are absent.
void install_eval_hook(train::Trainer& trainer) {
  const auto& cfg = trainer.config();
  const auto tok = data::Tokenizer::load(cfg.text.tokenizer);
  const std::string run_dir = cfg.train.run_dir;
  trainer.set_eval_hook([tok, cfg, run_dir](model::TipsModel& model, int64_t step) {
    train::MetricRecord rec;
    try {
      auto eval_cfg = cfg.eval;
      const auto results = eval::run_evaluations(model->vision, model->text, tok, eval_cfg,
                                                 run_dir + "/eval/step_" + std::to_string(step), cfg.text.max_len,
                                                 model->log_temperature.device());
      for (const auto& [k, v] : results.metrics) rec.set(k, v);
      eval::print_results(results);
    } catch (const std::exception& e) {
      spdlog::warn("evaluation at step {} skipped: {}", step, e.what());
    }
    return rec;
  });
}

}  // namespace tips::cli
