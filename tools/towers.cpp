#include "towers.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "tips/core/error.h"
#include "tips/core/rng.h"
#include "tips/io/tips_checkpoint.h"
#include "tips/train/checkpoint.h"
#include "tips/train/weights.h"

namespace tips::cli {

void add_weight_args(CLI::App& app, WeightArgs& args) {
  app.add_option("--weights-dir", args.weights_dir, "folder with the official pair image_encoder.npz + text_encoder.npz");
  app.add_option("--checkpoint", args.checkpoint,
                 "a `tips train` checkpoint, or a .safetensors file from `tips export --format safetensors` (its "
                 "towers, and its config when no -c is given)");
  app.add_option("--init", args.init, "'random': seeded random init from the config instead of weights")
      ->check(CLI::IsMember({"random"}));
  app.add_option("--seed", args.seed, "seed of --init random")->capture_default_str();
}

config::RunConfig load_config(const ConfigArgs& config, const std::string& checkpoint) {
  if (checkpoint.empty() || !config.files.empty()) return config::load(config.files, config.overrides);
  // The file's own resolved config, through the regular validation, plus the command-line overrides.
  const auto weights = train::read_weights(checkpoint);
  if (weights.config_yaml.empty())
    throw ConfigError(checkpoint + " carries no config", "give the model's config with -c");
  return config::load_from_string(weights.config_yaml, config.overrides, checkpoint + ":config");
}

Towers load_checkpoint_towers(const config::RunConfig& cfg, const std::string& checkpoint) {
  return towers_from(cfg, train::read_weights(checkpoint));
}

Towers towers_from(const config::RunConfig& cfg, const train::WeightSet& weights) {
  Towers t;
  t.vision = model::VisionTransformer(cfg.model);
  t.text = model::TextEncoder(cfg.text);
  train::load_vision_weights(t.vision, weights);
  const double temperature = train::load_text_weights(t.text, weights);
  if (temperature > 0) t.temperature = static_cast<float>(temperature);
  t.weights = weights;
  t.source = weights.source;
  return t;
}

Towers load_towers(const config::RunConfig& cfg, const WeightArgs& args) {
  const int sources = !args.weights_dir.empty() + !args.init.empty() + !args.checkpoint.empty();
  if (sources != 1)
    throw ConfigError("give exactly one weight source: --weights-dir DIR, --checkpoint FILE or --init random",
                      "--weights-dir takes a folder written by `tips export` or the official TIPS .npz pair; "
                      "--checkpoint a file from <run_dir>/checkpoints/ or a .safetensors export");
  if (args.init.empty()) return towers_from(cfg, train::read_weights(args.checkpoint.empty() ? args.weights_dir
                                                                                           : args.checkpoint));
  Towers t;
  t.vision = model::VisionTransformer(cfg.model, args.seed);
  t.text = model::TextEncoder(cfg.text, rng::derive(args.seed, 1));
  t.source = "random init (seed " + std::to_string(args.seed) + ")";
  return t;
}

void export_towers(const Towers& towers, const std::string& dir, const std::string& format,
                   const config::RunConfig& cfg) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw CheckpointError("cannot create output folder '" + dir + "': " + ec.message());
  if (format == "safetensors") {
    // The towers as loaded, plus what else the source held (a checkpoint's heads and EMA heads).
    std::map<std::string, torch::Tensor> tensors = towers.weights.tensors;
    for (const auto& item : towers.vision->named_parameters()) tensors["vision." + item.key()] = item.value();
    for (const auto& item : towers.text->named_parameters()) tensors["text." + item.key()] = item.value();
    if (towers.temperature) tensors["log_temperature"] = torch::tensor(std::log(*towers.temperature));
    const std::string path = dir + "/model.safetensors";
    train::export_safetensors(tensors, path, config::to_yaml(cfg));
    spdlog::info("wrote {} ({} tensors, {:.1f} MiB)", path, tensors.size(),
                 std::filesystem::file_size(path) / 1048576.0);
    return;
  }
  const auto paths = io::OfficialPaths::in_dir(dir);
  io::export_official(*towers.vision, *towers.text, paths, towers.temperature);
  for (const auto& p : {paths.image_npz, paths.text_npz})
    spdlog::info("wrote {} ({:.1f} MiB)", p, std::filesystem::file_size(p) / 1048576.0);
}

}  // namespace tips::cli
