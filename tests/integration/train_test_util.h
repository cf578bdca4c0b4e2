// tests/integration/train_test_util.h - a tiny mosaic dataset + tokenizer + config shared by the trainer tests.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "tips/config/config.h"
#include "tips/data/fashion_mosaic.h"
#include "tips/data/tokenizer.h"

namespace tips::testing {

// Generates (once per process; cached on disk under the build dir) 96 tiny canvases and a 128-piece tokenizer.
inline std::filesystem::path tiny_dataset() {
  const std::filesystem::path dir = std::filesystem::path(TIPS_BINARY_DIR) / "test_data" / "tiny_mosaic";
  data::MosaicOptions o;
  o.out_dir = dir.string();
  o.size = 32;
  o.train_count = 96;
  o.test_count = 16;
  o.single_train_count = 16;
  o.single_test_count = 16;
  o.threads = 1;
  data::generate_fashion_mosaic(o);
  if (!std::filesystem::exists(dir / "tokenizer.model")) {
    data::TokenizerTrainOptions t;
    t.corpus = (dir / "corpus.txt").string();
    t.model_prefix = (dir / "tokenizer").string();
    t.vocab_size = 128;
    data::train_tokenizer(t);
  }
  return dir;
}

// A model small enough that a step takes milliseconds: 32 px canvases, patch 8, 1 block.
inline config::RunConfig tiny_config(const std::filesystem::path& run_dir, std::vector<std::string> extra = {}) {
  const auto data = tiny_dataset();
  std::vector<std::string> o = {
      "model.patch_size=8", "model.dim=32", "model.depth=2", "model.num_heads=2", "model.mlp_hidden=64",
      "model.pos_grid=4", "model.layerscale_init=0.1",
      "text.dim=32", "text.depth=1", "text.num_heads=2", "text.mlp_hidden=64", "text.vocab_size=128", "text.max_len=16",
      "text.tokenizer=" + (data / "tokenizer.model").string(),
      "heads.prototypes=64", "heads.hidden=32", "heads.bottleneck=16",
      "data.source=fashion_mosaic", "data.path=" + (data / "train.jsonl").string(),
      "data.crops.global_size=32", "data.crops.local_count=2", "data.crops.local_size=16",
      "data.loader.threads=2",
      "optim.lr.start=0.002", "optim.lr.warmup_steps=2", "optim.lr.end=0.0002",
      "train.batch_size=8", "train.steps=6", "train.log_every=1", "train.threads=1",
      "train.run_dir=" + run_dir.string(), "ckpt.every=3", "ckpt.keep_last=5"};
  o.insert(o.end(), extra.begin(), extra.end());
  return config::load({}, o);
}

}  // namespace tips::testing
