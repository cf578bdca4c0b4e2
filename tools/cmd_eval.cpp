// `tips eval`: evaluate a trained checkpoint (TipsModel "student" group) or an official .npz pair on the splits
// of the `eval` config section; prints a table and writes <out>/eval.json (+ <out>/vis/*.png with --visualize).
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>

#include "command.h"
#include "towers.h"
#include "tips/config/config.h"
#include "tips/core/error.h"
#include "tips/data/tokenizer.h"
#include "tips/eval/evaluator.h"
#include "tips/eval/oracle.h"
#include "tips/io/tips_checkpoint.h"
#include "tips/train/checkpoint.h"
#include "tips/train/device.h"

namespace cmd_eval {  // named, not anonymous: the CLI is compiled in unity batches

namespace fs = std::filesystem;

struct Opts {
  tips::cli::ConfigArgs config;
  std::string checkpoint;
  std::string weights_dir;
  std::string out;
  int64_t visualize = -1;  // -1: keep eval.visualize
  bool oracle = false;
};

std::string tokenizer_path(const tips::config::RunConfig& cfg) {
  if (!cfg.text.tokenizer.empty()) return cfg.text.tokenizer;
  const fs::path in_run = fs::path(cfg.train.run_dir) / "tokenizer.model";
  if (fs::exists(in_run)) return in_run.string();
  throw tips::ConfigError("text.tokenizer is empty and " + in_run.string() + " does not exist",
                          "set text.tokenizer=PATH/TO/tokenizer.model (the SentencePiece model the text tower uses)");
}

fs::path checkpoint_path(const Opts& o, const tips::config::RunConfig& cfg) {
  if (!o.checkpoint.empty()) return o.checkpoint;
  const fs::path dir = fs::path(cfg.train.run_dir) / "checkpoints";
  if (auto p = tips::train::newest_valid_checkpoint(dir)) return *p;
  throw tips::CheckpointError("no checkpoint given and none valid in " + dir.string(),
                              "pass --checkpoint FILE, --weights-dir DIR (official .npz pair) or train.run_dir=RUN");
}

// The ceiling of the segmentation figures at the model's eval grid: no model, the label maps alone.
int run_oracle(const tips::config::RunConfig& cfg, const std::string& out) {
  const auto results = tips::eval::evaluate_oracle(cfg.eval, cfg.model.patch_size);
  tips::eval::print_results(results);
  fs::create_directories(out);
  const fs::path json = fs::path(out) / "oracle.json";
  std::ofstream(json) << results.to_json() << "\n";
  spdlog::info("eval: wrote {}", json.string());
  return 0;
}

int run(const Opts& o) {
  // With --checkpoint and no -c file, the config the checkpoint was trained with (as `tips export` does).
  auto cfg = tips::cli::load_config(o.config, o.checkpoint);
  if (o.visualize >= 0) cfg.eval.visualize = o.visualize;
  if (o.oracle) return run_oracle(cfg, o.out.empty() ? (fs::path(cfg.train.run_dir) / "eval").string() : o.out);
  const torch::Device device = tips::train::resolve_device(cfg.train.device, tips::train::visible_device());
  const auto tok = tips::data::Tokenizer::load(tokenizer_path(cfg));
  const std::string out = o.out.empty() ? (fs::path(cfg.train.run_dir) / "eval").string() : o.out;

  tips::model::VisionTransformer vision{nullptr};
  tips::model::TextEncoder text{nullptr};
  if (!o.weights_dir.empty()) {
    const auto paths = tips::io::OfficialPaths::in_dir(o.weights_dir);
    vision = tips::model::VisionTransformer(cfg.model);
    text = tips::model::TextEncoder(cfg.text);
    tips::io::import_image_encoder(paths.image_npz, *vision);
    tips::io::import_text_encoder(paths.text_npz, *text);
    spdlog::info("eval: official weights from {}", o.weights_dir);
  } else {
    const fs::path ckpt = checkpoint_path(o, cfg);
    auto towers = tips::cli::load_checkpoint_towers(cfg, ckpt.string());
    vision = towers.vision;
    text = towers.text;
    spdlog::info("eval: checkpoint {}", towers.source);
  }
  vision->to(device);
  text->to(device);
  const auto results = tips::eval::run_evaluations(vision, text, tok, cfg.eval, out, cfg.text.max_len, device);
  tips::eval::print_results(results);
  spdlog::info("eval: wrote {}", (fs::path(out) / "eval.json").string());
  return 0;
}

tips::cli::Registrar reg("eval", "zero-shot segmentation, classification, retrieval and kNN of a frozen model",
                         [](CLI::App& app) {
                           auto o = std::make_shared<Opts>();
                           tips::cli::add_config_args(app, o->config);
                           auto* ck = app.add_option("--checkpoint", o->checkpoint,
                                                     "training checkpoint (default: newest in <run_dir>/checkpoints)");
                           app.add_option("--weights-dir", o->weights_dir,
                                          "folder with the official image_encoder.npz + text_encoder.npz")
                               ->check(CLI::ExistingDirectory)
                               ->excludes(ck);
                           app.add_option("--out", o->out, "output folder (default: <run_dir>/eval)");
                           app.add_flag("--oracle", o->oracle,
                                        "no model: the segmentation figures of patches that know their class shares "
                                        "(the grid's ceiling), written to <out>/oracle.json");
                           app.add_flag("--visualize{8}", o->visualize,
                                        "write PNG panels for the first N test canvases (default N = 8)");
                           return [o] { return run(*o); };
                         });

}  // namespace cmd_eval
