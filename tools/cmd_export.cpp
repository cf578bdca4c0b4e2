// `tips export`: write the two towers as the official TIPS .npz pair (image_encoder.npz, text_encoder.npz).
// Weights come from a training checkpoint, an existing pair or a seeded random init (see towers.h):
//   tips export --checkpoint runs/demo/checkpoints/step_00000300.ckpt --out-dir weights/   (config from the file)
#include <spdlog/spdlog.h>

#include "command.h"
#include "towers.h"

namespace cmd_export {  // named, not anonymous: the CLI is compiled in unity batches

struct Opts {
  tips::cli::ConfigArgs config;
  tips::cli::WeightArgs weights;
  std::string out_dir;
  std::optional<float> temperature;
  std::string format = "npz";
};

tips::cli::Registrar reg("export", "write the official TIPS .npz pair of the configured model", [](CLI::App& app) {
  auto opts = std::make_shared<Opts>();
  tips::cli::add_config_args(app, opts->config);
  tips::cli::add_weight_args(app, opts->weights);
  app.add_option("--out-dir", opts->out_dir, "output folder (created)")->required();
  app.add_option("--temperature", opts->temperature, "store this `temperature` scalar in text_encoder.npz");
  app.add_option("--format", opts->format,
                 "npz: the official pair; safetensors: model.safetensors with towers, heads (from a checkpoint) and "
                 "the config")
      ->check(CLI::IsMember({"npz", "safetensors"}))
      ->capture_default_str();
  return [opts] {
    const auto cfg = tips::cli::load_config(opts->config, opts->weights.checkpoint);
    auto towers = tips::cli::load_towers(cfg, opts->weights);
    if (opts->temperature) towers.temperature = opts->temperature;
    spdlog::info("exporting {} to {}", towers.source, opts->out_dir);
    tips::cli::export_towers(towers, opts->out_dir, opts->format, cfg);
    return 0;
  };
});

}  // namespace cmd_export
