// What a run does when its disk, its checkpoints, its config or its numbers go wrong (tiny model, real data).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tips/core/error.h"
#include "tips/train/checkpoint.h"
#include "tips/train/trainer.h"
#include "train_test_util.h"

namespace {

namespace fs = std::filesystem;
using tips::train::Trainer;

fs::path fresh_run(const std::string& name) { return tips::testing::fresh_run_dir("reliability_" + name); }

// An unwritable run directory is an error before the first step (it used to surface at the first checkpoint,
// after config.yaml and metrics.jsonl had silently failed to write).
TEST(TrainReliability, UnwritableRunDirIsAnErrorAtStart) {
  const fs::path file = fresh_run("not_a_dir");
  fs::create_directories(file.parent_path());
  std::ofstream(file) << "a file, not a directory\n";
  EXPECT_THROW(Trainer(tips::testing::tiny_config(file / "run")), tips::ConfigError);
}

// A non-finite state is never written, so rotation can never replace the last finite checkpoint by it.
TEST(TrainReliability, NonFiniteStateIsNeverCheckpointed) {
  const fs::path run = fresh_run("nonfinite");
  Trainer t(tips::testing::tiny_config(run, {"ckpt.keep_last=1"}));
  t.step(t.next_batches());
  t.save_checkpoint();
  const auto good = tips::train::list_checkpoints(run / "checkpoints");
  ASSERT_EQ(good.size(), 1u);
  t.step(t.next_batches());
  {
    torch::NoGradGuard ng;
    t.model()->vision->norm->weight[0] = std::nan("");
  }
  EXPECT_THROW(t.save_checkpoint(), tips::CheckpointError);
  EXPECT_EQ(tips::train::list_checkpoints(run / "checkpoints"), good);
}

// nan_policy=stop ends the run without writing the diverged weights (it used to save them and rotate the older
// checkpoint away).
TEST(TrainReliability, NanStopWritesNoCheckpoint) {
  const fs::path run = fresh_run("nan_stop");
  Trainer t(tips::testing::tiny_config(run, {"optim.lr.start=1e30", "optim.lr.end=1e30", "optim.lr.warmup_steps=0",
                                             "optim.clip_grad=0", "train.nan_policy=stop", "train.steps=20",
                                             "ckpt.every=0"}));
  try {
    t.train();
    FAIL() << "expected a NumericsError";
  } catch (const tips::NumericsError& e) {
    EXPECT_NE(e.hint().find("no checkpoint was written before"), std::string::npos) << e.hint();
  }
  EXPECT_TRUE(tips::train::list_checkpoints(run / "checkpoints").empty());
}

// A checkpoint that cannot be written (a full disk, here a file-size limit): stop ends the run with a
// CheckpointError; warn trains on. The partial file never stays.
TEST(TrainReliability, WriteErrorPolicy) {
  ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit old {};
  ::getrlimit(RLIMIT_FSIZE, &old);
  for (const char* policy : {"stop", "warn"}) {
    SCOPED_TRACE(policy);
    const fs::path run = fresh_run(std::string("write_") + policy);
    Trainer t(tips::testing::tiny_config(run, {std::string("ckpt.on_write_error=") + policy, "train.steps=4",
                                               "ckpt.every=2"}));
    t.step(t.next_batches());
    struct rlimit limit = old;
    limit.rlim_cur = 64 * 1024;  // below the tiny model's checkpoint, above its small text files
    ::setrlimit(RLIMIT_FSIZE, &limit);
    if (std::string(policy) == "stop") {
      EXPECT_THROW(t.save_checkpoint(), tips::CheckpointError);
    } else {
      EXPECT_NO_THROW(t.save_checkpoint());
      EXPECT_FALSE(t.step(t.next_batches()).skipped);  // training goes on
    }
    ::setrlimit(RLIMIT_FSIZE, &old);
    EXPECT_TRUE(tips::train::list_checkpoints(run / "checkpoints").empty());
    for (const auto& e : fs::directory_iterator(run / "checkpoints")) EXPECT_NE(e.path().extension(), ".tmp");
  }
}

// Resuming with a changed batch or lr is refused (the run would not be the one the checkpoint started) unless
// ckpt.allow_config_changes; changing only where or how often things are logged is fine.
TEST(TrainReliability, ResumeRefusesChangesThatBreakExactness) {
  const fs::path run = fresh_run("resume_change");
  {
    Trainer t(tips::testing::tiny_config(run));
    t.step(t.next_batches());
    t.save_checkpoint();
  }
  const fs::path ckpt = run / "checkpoints" / tips::train::checkpoint_name(1);
  {
    Trainer t(tips::testing::tiny_config(run, {"optim.lr.start=0.01"}));
    try {
      t.load_checkpoint(ckpt);
      FAIL() << "a changed lr was accepted";
    } catch (const tips::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("optim.lr.start"), std::string::npos) << e.what();
    }
  }
  Trainer allowed(tips::testing::tiny_config(run, {"optim.lr.start=0.01", "ckpt.allow_config_changes=true"}));
  EXPECT_NO_THROW(allowed.load_checkpoint(ckpt));
  Trainer neutral(tips::testing::tiny_config(run, {"train.log_every=5", "eval.max_images=3"}));
  EXPECT_NO_THROW(neutral.load_checkpoint(ckpt));
  EXPECT_EQ(neutral.global_step(), 1);
}

// data.loader.quarantine_log= (empty) turns the log off instead of failing on the first bad sample.
TEST(TrainReliability, EmptyQuarantineLogIsOff) {
  const fs::path run = fresh_run("no_quarantine");
  Trainer t(tips::testing::tiny_config(run, {"data.loader.quarantine_log=", "data.captions.missing=skip",
                                             "data.captions.stream2={caption_typo: 0.5, caption_long: 0.5}",
                                             "data.loader.max_bad_fraction=0.9"}));
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(t.step(t.next_batches()).skipped);
  EXPECT_FALSE(fs::exists(run / "quarantine.jsonl"));
}

int exit_code(const std::string& args) {
  const int status = std::system((std::string(TIPS_CLI) + " " + args + " >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Command-line mistakes exit 2 like config mistakes (a missing -c file used to exit 105, CLI11's code); a corrupt
// checkpoint given explicitly is an error (exit 1), not a silent load.
TEST(TrainReliability, CommandLineExitCodes) {
  EXPECT_EQ(exit_code("train -c /nonexistent/config.yaml"), 2);
  EXPECT_EQ(exit_code("train --no-such-flag"), 2);
  EXPECT_EQ(exit_code("config --help"), 0);
  const fs::path run = fresh_run("cli_corrupt");
  {
    Trainer t(tips::testing::tiny_config(run));
    t.step(t.next_batches());
    t.save_checkpoint();
  }
  const fs::path ckpt = run / "checkpoints" / tips::train::checkpoint_name(1);
  {
    std::fstream f(ckpt, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(ckpt) / 2));
    f.write(std::string(64, '\x5a').data(), 64);
  }
  EXPECT_EQ(exit_code("export --checkpoint " + ckpt.string() + " --out-dir " + (run / "x").string()), 1);
}

}  // namespace
