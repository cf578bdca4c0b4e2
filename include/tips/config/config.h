// tips/config/config.h - RunConfig: every section of a run, loaded from YAML in one place.
//
// Merge order: struct defaults -> recipe file (and the files it names in `base:`, deep-merged,
// the including file winning) -> command-line overrides `a.b.c=value`. Parsing is strict: an unknown
// key, a wrong type or an out-of-range value throws ConfigError naming file:line:col, the dotted key,
// what was expected and what was found, with a "did you mean" hint.
//
// Example:
//   RunConfig cfg = tips::config::load({"configs/demo/fashion_tiny.yaml"}, {"train.steps=20"});
//   std::cout << tips::config::to_yaml(cfg);
#pragma once
#include <string>
#include <vector>

#include "tips/data/config.h"
#include "tips/dist/config.h"
#include "tips/eval/config.h"
#include "tips/loss/config.h"
#include "tips/model/config.h"
#include "tips/train/config.h"

namespace tips::config {

struct RunConfig {
  model::VisionConfig model;
  model::TextConfig text;
  model::HeadsConfig heads;
  loss::LossConfig loss;
  train::TeacherConfig teacher;
  data::DataConfig data;
  train::OptimConfig optim;
  train::TrainConfig train;
  dist::DistConfig dist;
  train::CheckpointConfig ckpt;
  eval::EvalConfig eval;
};

// Loads `files` in order (later files override earlier ones), then applies `overrides`
// ("a.b.c=value", value parsed as YAML). files may be empty: defaults + overrides only.
RunConfig load(const std::vector<std::string>& files, const std::vector<std::string>& overrides = {});

// Parses YAML text (no file), e.g. a config stored inside a checkpoint, then applies `overrides` as load() does.
// `origin` names the text in errors.
RunConfig load_from_string(const std::string& yaml_text, const std::vector<std::string>& overrides = {},
                           const std::string& origin = "<string>");

// The fully resolved config as YAML (every key). with_docs adds each field's comment.
std::string to_yaml(const RunConfig& cfg, bool with_docs = false);

// Every valid dotted key (for tests, completion and "did you mean").
std::vector<std::string> all_keys();

// Every leaf of the resolved config as (dotted key, value as YAML text), in to_yaml order.
std::vector<std::pair<std::string, std::string>> flatten(const RunConfig& cfg);

// One key whose value differs between two configs.
struct ConfigChange {
  std::string key, before, after;
  bool changes_results = true;  // false for keys that only change where or how often things are written or
                                // evaluated, thread counts and timeouts (run_dir, log_every, ckpt.*, eval.*, ...)
};
// The keys whose values differ, in to_yaml order.
std::vector<ConfigChange> diff(const RunConfig& before, const RunConfig& after);

}  // namespace tips::config
