#include "towers.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <map>

#include "tips/core/error.h"
#include "tips/core/rng.h"
#include "tips/io/tips_checkpoint.h"
#include "tips/train/checkpoint.h"

namespace tips::cli {

void add_weight_args(CLI::App& app, WeightArgs& args) {
  app.add_option("--weights-dir", args.weights_dir, "folder with the official pair image_encoder.npz + text_encoder.npz");
  app.add_option("--checkpoint", args.checkpoint, "a `tips train` checkpoint: its student towers (and config)");
  app.add_option("--init", args.init, "'random': seeded random init from the config instead of weights")
      ->check(CLI::IsMember({"random"}));
  app.add_option("--seed", args.seed, "seed of --init random")->capture_default_str();
}

config::RunConfig load_config(const ConfigArgs& config, const std::string& checkpoint) {
  if (checkpoint.empty() || !config.files.empty()) return config::load(config.files, config.overrides);
  // The checkpoint's own resolved config, through the regular validation, plus the command-line overrides.
  const std::string yaml = train::CheckpointReader(checkpoint).get_string("meta/config");
  return config::load_from_string(yaml, config.overrides, checkpoint + ":meta/config");
}

Towers load_checkpoint_towers(const config::RunConfig& cfg, const std::string& checkpoint) {
  const train::CheckpointReader reader(checkpoint);
  const auto student = reader.group("student");
  // TipsModel names its towers "vision.*" / "text.*"; the bare encoders take the remainder.
  auto tower = [&](const std::string& prefix) {
    std::map<std::string, torch::Tensor> out;
    for (const auto& [name, t] : student)
      if (name.rfind(prefix, 0) == 0) out[name.substr(prefix.size())] = t;
    return out;
  };
  Towers t;
  t.vision = model::VisionTransformer(cfg.model);
  t.text = model::TextEncoder(cfg.text);
  train::load_named(tower("vision."), t.vision->named_parameters(), "student vision", checkpoint);
  train::load_named(tower("text."), t.text->named_parameters(), "student text", checkpoint);
  if (const auto it = student.find("log_temperature"); it != student.end())
    t.temperature = static_cast<float>(it->second.exp().item<double>());
  t.source = checkpoint + " (step " + std::to_string(reader.get_int("meta/step")) + ")";
  return t;
}

Towers load_towers(const config::RunConfig& cfg, const WeightArgs& args) {
  const int sources = !args.weights_dir.empty() + !args.init.empty() + !args.checkpoint.empty();
  if (sources != 1)
    throw ConfigError("give exactly one weight source: --weights-dir DIR, --checkpoint FILE or --init random",
                      "--weights-dir takes a folder written by `tips export` or the official TIPS .npz pair; "
                      "--checkpoint a file from <run_dir>/checkpoints/");
  if (!args.checkpoint.empty()) return load_checkpoint_towers(cfg, args.checkpoint);
  Towers t;
  t.vision = model::VisionTransformer(cfg.model, args.seed);
  t.text = model::TextEncoder(cfg.text, rng::derive(args.seed, 1));
  if (!args.init.empty()) {
    t.source = "random init (seed " + std::to_string(args.seed) + ")";
    return t;
  }
  const auto paths = io::OfficialPaths::in_dir(args.weights_dir);
  io::import_image_encoder(paths.image_npz, *t.vision);
  t.temperature = io::import_text_encoder(paths.text_npz, *t.text).temperature;
  t.source = args.weights_dir;
  return t;
}

void export_towers(const Towers& towers, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw CheckpointError("cannot create output folder '" + dir + "': " + ec.message());
  const auto paths = io::OfficialPaths::in_dir(dir);
  io::export_official(*towers.vision, *towers.text, paths, towers.temperature);
  for (const auto& p : {paths.image_npz, paths.text_npz})
    spdlog::info("wrote {} ({:.1f} MiB)", p, std::filesystem::file_size(p) / 1048576.0);
}

}  // namespace tips::cli
