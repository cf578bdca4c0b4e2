// tools/towers.h - the two encoders a weights command works on, and where their weights come from:
// the official .npz pair (--weights-dir) or a seeded random init (--init random --seed S).
// A run checkpoint (--checkpoint) can be added as a third source in load_towers(); export_towers() and the
// embed code only ever see the modules.
#pragma once
#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "tips/config/config.h"
#include "tips/model/text_encoder.h"
#include "tips/model/vit.h"

namespace tips::cli {

struct Towers {
  model::VisionTransformer vision{nullptr};
  model::TextEncoder text{nullptr};
  std::optional<float> temperature;  // from the text file's `temperature` scalar, when imported
  std::string source;                // "random init (seed 3)", "weights/" ... for logs
};

struct WeightArgs {
  std::string weights_dir;  // holds image_encoder.npz + text_encoder.npz
  std::string init;         // "random" | "" (then weights_dir is required)
  uint64_t seed = 0;
};
void add_weight_args(CLI::App& app, WeightArgs& args);

// Builds both towers from cfg.model / cfg.text and fills them from `args` (strict import for weights_dir).
// Throws ConfigError when neither or both sources are given, CheckpointError when the files do not match.
Towers load_towers(const config::RunConfig& cfg, const WeightArgs& args);

// Writes dir/image_encoder.npz and dir/text_encoder.npz (creating dir); logs the paths and sizes.
void export_towers(const Towers& towers, const std::string& dir);

}  // namespace tips::cli
