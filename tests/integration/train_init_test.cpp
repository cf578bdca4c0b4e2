// Weights in: train.init_from (a checkpoint, the official pair, safetensors) starts at step 0 with a fresh
// optimizer, resizes position tables, and makes a stage switch train its steps.
#include <gtest/gtest.h>

#include <filesystem>

#include "tips/core/error.h"
#include "tips/io/tips_checkpoint.h"
#include "tips/train/checkpoint.h"
#include "tips/train/trainer.h"
#include "tips/train/weights.h"
#include "train_test_util.h"

namespace {

namespace fs = std::filesystem;
using tips::train::Trainer;

fs::path fresh_init_run(const std::string& name) { return tips::testing::fresh_run_dir("init_" + name); }

// A 3-step run's checkpoint, shared by the cases below.
fs::path trained_checkpoint() {
  const fs::path run = fresh_init_run("source");
  Trainer t(tips::testing::tiny_config(run, {"train.steps=3", "ckpt.every=0"}));
  t.train();
  return run / "checkpoints" / tips::train::checkpoint_name(3);
}

void expect_same_params(const torch::nn::Module& a, const std::map<std::string, torch::Tensor>& b,
                        const std::string& prefix) {
  for (const auto& item : a.named_parameters()) {
    const auto it = b.find(prefix + item.key());
    ASSERT_NE(it, b.end()) << prefix << item.key();
    EXPECT_TRUE(torch::equal(item.value(), it->second)) << prefix << item.key();
  }
}

TEST(TrainInit, FromACheckpointStartsAtStepZeroWithAFreshOptimizer) {
  const fs::path ckpt = trained_checkpoint();
  const auto saved = tips::train::read_weights(ckpt.string());
  Trainer t(tips::testing::tiny_config(fresh_init_run("from_ckpt"), {"train.init_from=" + ckpt.string()}));
  EXPECT_EQ(t.global_step(), 0);
  EXPECT_EQ(t.optimizer_state_bytes(), 0);
  expect_same_params(*t.model(), saved.tensors, "");
  // The EMA heads start as copies of the loaded student heads, not of a random init.
  expect_same_params(*t.teacher().teacher_heads(), saved.group("heads"), "");
  // ... or from the checkpoint's own EMA heads.
  Trainer with_ema(tips::testing::tiny_config(fresh_init_run("from_ckpt_ema"),
                                              {"train.init_from=" + ckpt.string(), "train.init_teacher_heads=true"}));
  expect_same_params(*with_ema.teacher().teacher_heads(), saved.group("teacher.heads"), "");
  EXPECT_FALSE(torch::equal(saved.tensors.at("heads.dino.last_layer.weight_v"),
                            saved.tensors.at("teacher.heads.dino.last_layer.weight_v")));
}

// The high-resolution stage: init_from the low-res checkpoint with another crop size and position grid; it trains
// its own train.steps (ckpt.resume, which restores the step counter, trained 0 steps here).
TEST(TrainInit, StageSwitchTrainsItsStepsAtANewResolution) {
  const fs::path ckpt = trained_checkpoint();
  const fs::path run = fresh_init_run("hires");
  Trainer t(tips::testing::tiny_config(run, {"train.init_from=" + ckpt.string(), "train.steps=4", "ckpt.every=0",
                                             "data.crops.global_size=48", "model.pos_grid=6", "eval.image_size=48"}));
  const auto saved = tips::train::read_weights(ckpt.string());
  const auto table = t.model()->vision->pos_embed;
  EXPECT_EQ(table.size(1), 1 + 6 * 6);
  EXPECT_TRUE(torch::allclose(table, tips::model::resize_pos_embed(saved.tensors.at("vision.pos_embed"), 6, 6)));
  t.train();
  EXPECT_EQ(t.global_step(), 4);
  EXPECT_TRUE(fs::exists(run / "checkpoints" / tips::train::checkpoint_name(4)));
}

// The official pair and safetensors: the towers come in strictly; a pair has no heads, which keep their init.
TEST(TrainInit, FromTheOfficialPairAndSafetensors) {
  const fs::path ckpt = trained_checkpoint();
  const fs::path run = fresh_init_run("pair");
  const auto saved = tips::train::read_weights(ckpt.string());
  {
    Trainer t(tips::testing::tiny_config(run / "a", {"train.init_from=" + ckpt.string()}));
    t.export_weights(run / "pair");
    tips::train::export_safetensors(tips::train::model_tensors(t.model()), (run / "w.safetensors").string(), "");
  }
  for (const fs::path& from : {run / "pair", run / "w.safetensors"}) {
    SCOPED_TRACE(from.string());
    Trainer t(tips::testing::tiny_config(run / "b", {"train.init_from=" + from.string()}));
    expect_same_params(*t.model()->vision, saved.group("vision"), "");
    expect_same_params(*t.model()->text, saved.group("text"), "");
    EXPECT_NEAR(t.model()->log_temperature.item<double>(), saved.tensors.at("log_temperature").item<double>(), 1e-6);
  }
  // A model of another width is refused with the key and both shapes.
  try {
    Trainer t(tips::testing::tiny_config(run / "c", {"train.init_from=" + (run / "pair").string(), "model.dim=48",
                                                     "text.dim=48"}));
    FAIL() << "a mismatched init was accepted";
  } catch (const tips::CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("the model expects"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Trainer(tips::testing::tiny_config(run / "d", {"train.init_from=" + (run / "pair").string(),
                                                              "train.init_teacher_heads=true"})),
               tips::ConfigError);
}

}  // namespace
