// `tips import`: strictly load an official TIPS .npz pair into the configured model, print a summary, and
// optionally write it back out (--re-export) to check the round trip.
#include <iostream>

#include "command.h"
#include "towers.h"

namespace cmd_import {  // named, not anonymous: the CLI is compiled in unity batches

struct Opts {
  tips::cli::ConfigArgs config;
  tips::cli::WeightArgs weights;
  std::string re_export;
};

void print_summary(const char* name, const torch::nn::Module& m) {
  int64_t count = 0;
  double abs_sum = 0;
  for (const auto& p : m.parameters()) {
    count += p.numel();
    abs_sum += p.detach().abs().sum().item<double>();
  }
  std::cout << name << ": " << m.parameters().size() << " arrays, " << count << " values, mean |w| "
            << (count ? abs_sum / static_cast<double>(count) : 0.0) << "\n";
}

tips::cli::Registrar reg("import", "load an official TIPS .npz pair into the configured model (strict)",
                         [](CLI::App& app) {
  auto opts = std::make_shared<Opts>();
  tips::cli::add_config_args(app, opts->config);
  app.add_option("--weights-dir", opts->weights.weights_dir,
                 "folder with image_encoder.npz + text_encoder.npz, or a .safetensors file")
      ->required();
  app.add_option("--re-export", opts->re_export, "write the imported weights again to this folder");
  return [opts] {
    const auto cfg = tips::config::load(opts->config.files, opts->config.overrides);
    const auto towers = tips::cli::load_towers(cfg, opts->weights);
    std::cout << "imported " << towers.source << " (keys and shapes match the config)\n";
    print_summary("image encoder", *towers.vision);
    print_summary("text encoder", *towers.text);
    if (towers.temperature) std::cout << "temperature: " << *towers.temperature << "\n";
    if (!opts->re_export.empty()) tips::cli::export_towers(towers, opts->re_export);
    return 0;
  };
});

}  // namespace cmd_import
