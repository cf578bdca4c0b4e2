// tools/towers.h - the two encoders a weights command works on, and where their weights come from:
// the official .npz pair (--weights-dir), a training checkpoint (--checkpoint: the student towers), or a seeded
// random init (--init random --seed S). export_towers() and the embed/eval code only ever see the modules.
#pragma once
#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "command.h"
#include "tips/config/config.h"
#include "tips/model/text_encoder.h"
#include "tips/model/vit.h"
#include "tips/train/weights.h"

namespace tips::cli {

struct Towers {
  model::VisionTransformer vision{nullptr};
  model::TextEncoder text{nullptr};
  std::optional<float> temperature;  // from the text file's `temperature` scalar, when imported
  std::string source;                // "random init (seed 3)", "weights/" ... for logs
  train::WeightSet weights;          // everything the source file held (heads too, for a checkpoint); empty for
                                     // a random init
};

struct WeightArgs {
  std::string weights_dir;  // holds image_encoder.npz + text_encoder.npz
  std::string checkpoint;   // a `tips train` checkpoint (step_N.ckpt)
  std::string init;         // "random" | "" (then weights_dir is required)
  uint64_t seed = 0;
};
void add_weight_args(CLI::App& app, WeightArgs& args);

// The run config of a weights command: the -c files and overrides; with --checkpoint and no -c file, the config
// stored in the checkpoint (the one it was trained with) plus the overrides.
config::RunConfig load_config(const ConfigArgs& config, const std::string& checkpoint);

// Builds both towers from cfg.model / cfg.text and fills them from `args` (strict import / strict load).
// Throws ConfigError when no source or several are given, CheckpointError when the files do not match.
Towers load_towers(const config::RunConfig& cfg, const WeightArgs& args);

// The student towers (and contrastive temperature) of a training checkpoint or safetensors file, strictly.
Towers load_checkpoint_towers(const config::RunConfig& cfg, const std::string& checkpoint);
// Both towers of cfg, filled strictly from `weights`.
Towers towers_from(const config::RunConfig& cfg, const train::WeightSet& weights);

// format "npz": dir/image_encoder.npz and dir/text_encoder.npz (the official pair); "safetensors":
// dir/model.safetensors with the towers, the source's heads and EMA heads, and cfg as metadata. Creates dir.
void export_towers(const Towers& towers, const std::string& dir, const std::string& format = "npz",
                   const config::RunConfig& cfg = {});

}  // namespace tips::cli
