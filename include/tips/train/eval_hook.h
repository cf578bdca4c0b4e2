// tips/train/eval_hook.h - the evaluations of `tips eval` as the Trainer's periodic evaluation (rank 0).
// Not the evaluations themselves (eval/evaluator.h); this picks the splits and writes <run_dir>/eval/step_N/.
#pragma once
#include "tips/config/config.h"
#include "tips/train/trainer.h"

namespace tips::train {

// The hook for Trainer::set_eval_hook: every evaluation of cfg.eval into <run_dir>/eval/step_N/eval.json, the
// results printed as a table and returned for metrics.jsonl. Configured splits whose manifests do not exist are
// switched off here, once, with a warning (so that they do not fail every evaluation); an evaluation that fails
// later throws (the Trainer counts it, and a failed final evaluation ends the run with an error).
Trainer::EvalHook make_eval_hook(const config::RunConfig& cfg);

}  // namespace tips::train
