// A `tips train` process killed (SIGKILL) while it writes a checkpoint leaves the previous checkpoint valid, and
// `--resume auto` continues from it to the end of the run.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "../dist/dist_test_util.h"
#include "tips/train/checkpoint.h"
#include "train_test_util.h"

namespace {

namespace fs = std::filesystem;
namespace tt = tips::dist::testing;

bool has_tmp_file(const fs::path& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".tmp") return true;
  return false;
}

tt::LaunchOptions train_command(const fs::path& run, const std::vector<std::string>& extra) {
  std::vector<std::string> command = {TIPS_CLI, "train"};
  for (const auto& kv : tips::testing::tiny_overrides(run, extra)) command.push_back(kv);
  return tt::command_launch(run.string(), 1, command);
}

TEST(CheckpointKill, KillDuringWriteKeepsThePreviousCheckpointAndResumeFinishes) {
  const fs::path run = fs::path(TIPS_BINARY_DIR) / "test_runs" / "kill_during_save";
  fs::remove_all(run);
  fs::create_directories(run);
  tips::testing::tiny_dataset();
  // Wide heads make a checkpoint of ~60 MB (weights + AdamW moments), so its write lasts long enough to be caught
  // in the middle; a checkpoint every step makes writes most of the run time.
  const std::vector<std::string> extra = {"heads.prototypes=8192", "heads.hidden=512", "heads.bottleneck=256",
                                          "train.steps=12", "ckpt.every=1", "ckpt.keep_last=2",
                                          "eval.seg_manifest=", "eval.cls_manifest=", "eval.knn_bank_manifest="};
  const fs::path ckpt_dir = run / "checkpoints";

  auto launch = tt::start_ranks("", train_command(run, extra));
  ASSERT_GT(launch.pids[0], 0);
  // Wait until at least one checkpoint is complete and the next one is being written, then kill at once.
  bool caught_mid_write = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!tips::train::list_checkpoints(ckpt_dir).empty() && has_tmp_file(ckpt_dir)) {
      ::kill(launch.pids[0], SIGKILL);
      caught_mid_write = true;
      break;
    }
    int status = 0;
    if (::waitpid(launch.pids[0], &status, WNOHANG) == launch.pids[0]) {
      launch.pids[0] = -1;  // finished before we caught a write: the test cannot show anything
      break;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  std::vector<tt::Launch> one;
  one.push_back(std::move(launch));
  tt::wait_ranks(std::move(one));
  ASSERT_TRUE(caught_mid_write) << "the run ended before a checkpoint write could be interrupted";
  ASSERT_TRUE(has_tmp_file(ckpt_dir)) << "the kill should leave the partial .tmp behind";

  const auto valid = tips::train::newest_valid_checkpoint(ckpt_dir);
  ASSERT_TRUE(valid.has_value());
  const int64_t killed_at = tips::train::checkpoint_step(*valid);
  ASSERT_GE(killed_at, 1);
  ASSERT_LT(killed_at, 12);
  EXPECT_EQ(tips::train::CheckpointReader(*valid).get_int("meta/step"), killed_at);

  auto resume_opts = train_command(run, extra);
  resume_opts.command.push_back("--resume");
  resume_opts.command.push_back("auto");
  const auto resumed = tt::launch_ranks("", resume_opts);
  ASSERT_EQ(resumed[0].exit_code, 0) << resumed[0].log;
  EXPECT_NE(resumed[0].log.find("resumed from"), std::string::npos) << resumed[0].log;
  const auto final_ckpt = tips::train::newest_valid_checkpoint(ckpt_dir);
  ASSERT_TRUE(final_ckpt.has_value());
  EXPECT_EQ(tips::train::checkpoint_step(*final_ckpt), 12);
  EXPECT_TRUE(fs::exists(run / "export" / "image_encoder.npz"));
  EXPECT_FALSE(has_tmp_file(ckpt_dir)) << "the resumed run removes the interrupted write's leftover";

  // `tips eval --checkpoint` without -c evaluates with the config stored in the checkpoint (tiny model shape,
  // tokenizer path): with the defaults instead it fails on the tokenizer or the tower shapes.
  const fs::path data = tips::testing::tiny_dataset();
  const fs::path eval_out = run / "eval_from_checkpoint";
  const auto evaluated = tt::launch_ranks(
      "", tt::command_launch(run.string(), 1,
                             {TIPS_CLI, "eval", "--checkpoint", final_ckpt->string(), "--out", eval_out.string(),
                              "eval.seg_manifest=" + (data / "test.jsonl").string(),
                              "eval.cls_manifest=" + (data / "single_test.jsonl").string(), "eval.knn_bank_manifest="}));
  ASSERT_EQ(evaluated[0].exit_code, 0) << evaluated[0].log;
  EXPECT_TRUE(fs::exists(eval_out / "eval.json"));
  EXPECT_NE(evaluated[0].log.find("cls/top1"), std::string::npos) << evaluated[0].log;
}

}  // namespace
