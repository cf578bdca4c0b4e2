// tests/integration/train_test_util.h - a tiny mosaic dataset + tokenizer + config shared by the trainer tests.
#pragma once
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tips/config/config.h"
#include "tips/data/fashion_mosaic.h"
#include "tips/data/tokenizer.h"

namespace tips::testing {

// Holds an exclusive flock on a file for its lifetime. ctest -j runs each test case as its own process, and
// several of them build the same cached dataset: without the lock one process rewrites the images another reads.
class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path) : fd_(::open(path.c_str(), O_CREAT | O_RDWR, 0644)) {
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};

// Generates (once; cached on disk under the build dir, guarded by a lock across test processes) 96 tiny canvases
// and a 128-piece tokenizer.
inline std::filesystem::path tiny_dataset() {
  const std::filesystem::path dir = std::filesystem::path(TIPS_BINARY_DIR) / "test_data" / "tiny_mosaic";
  std::filesystem::create_directories(dir.parent_path());
  const FileLock lock(dir.parent_path() / "tiny_mosaic.lock");
  data::MosaicOptions o;
  o.out_dir = dir.string();
  o.size = 32;
  o.train_count = 96;
  o.test_count = 16;
  o.single_train_count = 16;
  o.single_test_count = 16;
  o.val_count = 16;
  o.single_val_count = 16;
  o.threads = 1;
  // The version-1 captions: colours make nearly every caption of a batch distinct, so overfitting one batch
  // (LossFallsOnRepeatedBatches) has one unambiguous contrastive target per image. With the version-2 captions
  // several canvases of an 8-batch read "a bag", and iBOT fell only 8 % in 30 steps instead of 20 %.
  o.captions = data::CaptionStyle::web_noisy();
  data::generate_fashion_mosaic(o);
  // Retrained whenever the generator rewrote the corpus (a newer dataset version), never left stale.
  if (!std::filesystem::exists(dir / "tokenizer.model") ||
      std::filesystem::last_write_time(dir / "tokenizer.model") < std::filesystem::last_write_time(dir / "corpus.txt")) {
    data::TokenizerTrainOptions t;
    t.corpus = (dir / "corpus.txt").string();
    t.model_prefix = (dir / "tokenizer").string();
    t.vocab_size = 128;
    data::train_tokenizer(t);
  }
  return dir;
}

// Overrides for a model small enough that a step takes milliseconds: 32 px canvases, patch 8, 2 blocks.
// Also usable as `tips train` command-line arguments.
inline std::vector<std::string> tiny_overrides(const std::filesystem::path& run_dir,
                                               const std::vector<std::string>& extra = {}) {
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
      "train.run_dir=" + run_dir.string(), "ckpt.every=3", "ckpt.keep_last=5",
      "eval.seg_manifest=" + (data / "test.jsonl").string(), "eval.cls_manifest=" + (data / "single_test.jsonl").string(),
      "eval.knn_bank_manifest=" + (data / "single_train.jsonl").string(), "eval.image_size=32"};
  o.insert(o.end(), extra.begin(), extra.end());
  return o;
}

// An empty run directory under the build dir's test_runs/<Suite.Test>/ (whatever an earlier run of the test left is
// removed). ctest runs each test as its own process, in parallel: a directory named only by `name` would be wiped by
// one test while another reads it.
inline std::filesystem::path fresh_run_dir(const std::string& name) {
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string owner = test ? std::string(test->test_suite_name()) + "." + test->name() : "no_test";
  const std::filesystem::path d = std::filesystem::path(TIPS_BINARY_DIR) / "test_runs" / owner / name;
  std::filesystem::remove_all(d);
  return d;
}

inline config::RunConfig tiny_config(const std::filesystem::path& run_dir, const std::vector<std::string>& extra = {}) {
  return config::load({}, tiny_overrides(run_dir, extra));
}

}  // namespace tips::testing
