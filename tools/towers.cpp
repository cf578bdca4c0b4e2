#include "towers.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "tips/core/error.h"
#include "tips/core/rng.h"
#include "tips/io/tips_checkpoint.h"

namespace tips::cli {

void add_weight_args(CLI::App& app, WeightArgs& args) {
  app.add_option("--weights-dir", args.weights_dir, "folder with the official pair image_encoder.npz + text_encoder.npz");
  app.add_option("--init", args.init, "'random': seeded random init from the config instead of weights")
      ->check(CLI::IsMember({"random"}));
  app.add_option("--seed", args.seed, "seed of --init random")->capture_default_str();
}

Towers load_towers(const config::RunConfig& cfg, const WeightArgs& args) {
  if (args.weights_dir.empty() == args.init.empty())
    throw ConfigError("give exactly one weight source: --weights-dir DIR or --init random",
                      "--weights-dir takes a folder written by `tips export`, or the official TIPS .npz pair");
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
