// Distillation from a frozen teacher (teacher.source=frozen): the targets are the teacher's outputs, nothing of the
// teacher trains, mask ratio 0 supervises every patch, and a student trains from an official-format .npz teacher.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "tips/core/error.h"
#include "tips/train/checkpoint.h"
#include "tips/train/forwards.h"
#include "tips/train/trainer.h"
#include "tips/train/weights.h"
#include "train_test_util.h"

namespace {

namespace fs = std::filesystem;
namespace F = torch::nn::functional;
using tips::train::Trainer;

fs::path fresh_distill_run(const std::string& name) { return tips::testing::fresh_run_dir("distill_" + name); }

const std::vector<std::string> kTeacherRun = {"train.steps=3", "ckpt.every=0", "train.precision=fp32"};

// The teacher: a 3-step tiny run (its checkpoint holds towers, heads and EMA heads) and its official export. One per
// test (ctest runs the tests as parallel processes, which must not write one folder).
struct TeacherFiles {
  fs::path checkpoint, pair;
};
const TeacherFiles& teacher_files() {
  static const TeacherFiles files = [] {
    const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    const fs::path run = fresh_distill_run("teacher_" + test);
    Trainer t(tips::testing::tiny_config(run, kTeacherRun));
    t.train();
    t.export_weights(run / "pair");
    return TeacherFiles{run / "checkpoints" / tips::train::checkpoint_name(3), run / "pair"};
  }();
  return files;
}

// The tiny teacher's image tower, as teacher.model overrides.
std::vector<std::string> distill_overrides(const fs::path& weights, const std::string& targets,
                                           std::vector<std::string> extra = {}) {
  std::vector<std::string> o = {"teacher.source=frozen", "teacher.weights=" + weights.string(),
                                "teacher.targets=" + targets, "teacher.model.patch_size=8", "teacher.model.dim=32",
                                "teacher.model.depth=2", "teacher.model.num_heads=2", "teacher.model.mlp_hidden=64",
                                "teacher.model.pos_grid=4", "teacher.model.layerscale_init=0.1",
                                "data.masking.probability=0", "train.precision=fp32", "ckpt.every=0"};
  if (targets == "features")
    o.insert(o.end(), {"loss.dino.weight=0", "loss.ibot.weight=0", "loss.koleo.weight=0", "loss.distill.weight=1"});
  o.insert(o.end(), extra.begin(), extra.end());
  return o;
}

// The teacher as its own run restored from the checkpoint (the checkpoint reader, not the weights reader).
std::unique_ptr<Trainer> restored_teacher(const std::string& name) {
  auto t = std::make_unique<Trainer>(tips::testing::tiny_config(fresh_distill_run(name), kTeacherRun));
  t->load_checkpoint(teacher_files().checkpoint);
  t->model()->eval();
  return t;
}

TEST(TrainDistill, HeadTargetsAreTheTeachersOutputs) {
  Trainer student(tips::testing::tiny_config(fresh_distill_run("heads"),
                                             distill_overrides(teacher_files().checkpoint, "heads")));
  ASSERT_EQ(student.plan().teacher, tips::train::TeacherPass::kFrozen);
  const auto batches = student.next_batches();
  const auto fw = tips::train::run_forwards(student.plan(), student.model(), student.teacher(), batches[0]);
  const auto teacher = restored_teacher("heads_ref");
  torch::NoGradGuard no_grad;
  const auto ref = teacher->model()->vision->forward(batches[0].global_crops.flatten(0, 1));
  EXPECT_TRUE(torch::allclose(fw.teacher.cls1, ref.cls1, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(fw.teacher.patches, ref.patches, 1e-5, 1e-6));
  // The frozen heads are the checkpoint's EMA teacher heads.
  const auto want = teacher->teacher().teacher_heads()->dino->forward(ref.cls1);
  const auto got = student.teacher().teacher_heads()->dino->forward(fw.teacher.cls1);
  EXPECT_TRUE(torch::allclose(got, want, 1e-5, 1e-6));
  EXPECT_FALSE(torch::allclose(got, student.model()->heads->dino->forward(fw.teacher.cls1)));
}

// A teacher at another resolution: its 6x6 grid of a 48 px input is resampled to the student's 4x4 grid.
TEST(TrainDistill, TeacherGridIsResampledToTheStudents) {
  Trainer student(tips::testing::tiny_config(
      fresh_distill_run("grid"), distill_overrides(teacher_files().pair, "features", {"teacher.image_size=48"})));
  const auto batches = student.next_batches();
  const auto fw = tips::train::run_forwards(student.plan(), student.model(), student.teacher(), batches[0]);
  const auto teacher = restored_teacher("grid_ref");
  torch::NoGradGuard no_grad;
  const auto big = F::interpolate(batches[0].global_crops.flatten(0, 1),
                                  F::InterpolateFuncOptions().size(std::vector<int64_t>{48, 48}).mode(torch::kBilinear)
                                      .align_corners(false));
  const auto ref = teacher->model()->vision->forward(big);
  ASSERT_EQ(ref.patches.size(1), 36);
  ASSERT_EQ(fw.teacher.patches.size(1), 16);
  // Patch (0, 0) of the 4x4 grid sits at 6/4 * 0.5 - 0.5 = 0.25 of the 6x6 grid: 0.75 * p(0,0) + 0.25 * p(0,1) in
  // each direction (bilinear, half-pixel centres).
  const auto p = ref.patches.reshape({ref.patches.size(0), 6, 6, -1});
  const auto corner = 0.5625 * p.select(1, 0).select(1, 0) + 0.1875 * p.select(1, 0).select(1, 1) +
                      0.1875 * p.select(1, 1).select(1, 0) + 0.0625 * p.select(1, 1).select(1, 1);
  EXPECT_TRUE(torch::allclose(fw.teacher.patches.select(1, 0), corner, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(fw.teacher.cls2, ref.cls2, 1e-5, 1e-6));
}

TEST(TrainDistill, NoGradientNoOptimizerStateAndNoChangeReachTheTeacher) {
  Trainer student(tips::testing::tiny_config(fresh_distill_run("frozen"),
                                             distill_overrides(teacher_files().checkpoint, "heads")));
  auto backbone = student.teacher().teacher_backbone(student.model()->vision);
  std::vector<torch::Tensor> before;
  for (const auto& p : backbone->parameters()) before.push_back(p.clone());
  for (const auto& p : student.teacher().teacher_heads()->parameters()) before.push_back(p.clone());
  for (int i = 0; i < 3; ++i) student.step(student.next_batches());
  size_t i = 0;
  int64_t teacher_numel = 0;
  std::vector<torch::Tensor> teacher_params = backbone->parameters();
  for (const auto& p : student.teacher().teacher_heads()->parameters()) teacher_params.push_back(p);
  for (const auto& p : teacher_params) {
    EXPECT_FALSE(p.requires_grad());
    EXPECT_FALSE(p.grad().defined());
    EXPECT_TRUE(torch::equal(p, before[i++]));
    teacher_numel += p.numel();
  }
  // AdamW keeps m and v (2 x 4 bytes) for exactly the student parameters that got a gradient.
  int64_t with_grad = 0;
  for (const auto& p : student.model()->parameters())
    if (p.grad().defined()) with_grad += p.numel();
  EXPECT_EQ(student.optimizer_state_bytes(), 8 * with_grad);
  EXPECT_EQ(student.ema_parameter_count(), 0);
  EXPECT_EQ(student.teacher().frozen_parameter_count(), teacher_numel);
  // The checkpoint holds the teacher's centres only: the frozen model is read again from teacher.weights.
  for (const auto& [name, t] : student.teacher().state()) EXPECT_TRUE(name == "dino_center" || name == "ibot_center");
}

// Mask ratio 0 and loss.distill.all_patches: the patch term is the plain mean of 1 - cos over every patch of every
// global crop, recomputed here by hand from the step's forwards.
TEST(TrainDistill, MaskZeroWeightsEveryPatch) {
  Trainer student(tips::testing::tiny_config(
      fresh_distill_run("mask0"), distill_overrides(teacher_files().pair, "features", {"loss.distill.cls_weight=0"})));
  const auto batches = student.next_batches();
  ASSERT_FALSE(batches[0].masks.any().item<bool>());
  const auto fw = tips::train::run_forwards(student.plan(), student.model(), student.teacher(), batches[0]);
  torch::Tensor by_hand;
  {
    torch::NoGradGuard no_grad;
    const auto s = student.model()->distill->forward(fw.masked.patches);
    by_hand = (1 - F::cosine_similarity(s, fw.teacher.patches, F::CosineSimilarityFuncOptions().dim(-1))).mean();
  }
  const auto result = student.step(batches);
  EXPECT_NEAR(result.terms.get("distill_patch"), by_hand.item<double>(), 1e-5);
  EXPECT_NEAR(result.terms.get("loss_distill"), by_hand.item<double>(), 1e-5);
}

// An official .npz pair teaches features (it has no heads); the student's text tower starts as the teacher's and
// stays frozen (teacher.text=copy_frozen); the distillation loss falls on a repeated batch.
TEST(TrainDistill, StudentTrainsFromAnOfficialPairTeacher) {
  Trainer student(tips::testing::tiny_config(
      fresh_distill_run("pair"), distill_overrides(teacher_files().pair, "features",
                                                   {"teacher.text=copy_frozen", "optim.lr.warmup_steps=0"})));
  const auto pair = tips::train::read_weights(teacher_files().pair.string());
  for (const auto& item : student.model()->text->named_parameters())
    EXPECT_TRUE(torch::equal(item.value(), pair.tensors.at("text." + item.key()))) << item.key();
  const auto batches = student.next_batches();
  const double first = student.step(batches).terms.get("loss_distill");
  double last = first;
  for (int i = 0; i < 15; ++i) last = student.step(batches).terms.get("loss_distill");
  EXPECT_LT(last, 0.8 * first);
  for (const auto& item : student.model()->text->named_parameters())
    EXPECT_TRUE(torch::equal(item.value(), pair.tensors.at("text." + item.key()))) << item.key();
}

TEST(TrainDistill, InconsistentConfigsAreRefused) {
  const auto cfg = [](const std::string& name, std::vector<std::string> extra) {
    return tips::testing::tiny_config(fresh_distill_run(name), extra);
  };
  const auto ckpt = teacher_files().checkpoint, pair = teacher_files().pair;
  // The official pair has no heads to give prototype targets.
  EXPECT_THROW(Trainer(cfg("no_heads", distill_overrides(pair, "heads"))), tips::CheckpointError);
  // Feature targets that no term reads, distill without a frozen teacher, a teacher of another shape.
  EXPECT_THROW(Trainer(cfg("features_dino", distill_overrides(ckpt, "features", {"loss.dino.weight=0.2"}))),
               tips::ConfigError);
  EXPECT_THROW(Trainer(cfg("distill_ema", {"loss.distill.weight=1"})), tips::ConfigError);
  EXPECT_THROW(Trainer(cfg("text_ema", {"teacher.text=copy_frozen"})), tips::ConfigError);
  EXPECT_THROW(Trainer(cfg("shape", distill_overrides(ckpt, "heads", {"teacher.model.dim=48"}))),
               tips::CheckpointError);
  EXPECT_THROW(Trainer(cfg("side", distill_overrides(ckpt, "features", {"teacher.image_size=44"}))),
               tips::ConfigError);
}

TEST(TrainDistill, ResumeIsBitExact) {
  const auto overrides = [](const fs::path& run) {
    return tips::testing::tiny_config(run, distill_overrides(teacher_files().checkpoint, "heads"));
  };
  const fs::path a = fresh_distill_run("straight"), b = fresh_distill_run("resumed");
  std::vector<double> straight, resumed;
  {
    Trainer t(overrides(a));
    for (int i = 0; i < 4; ++i) straight.push_back(t.step(t.next_batches()).loss);
  }
  {
    Trainer t(overrides(b));
    for (int i = 0; i < 2; ++i) resumed.push_back(t.step(t.next_batches()).loss);
    t.save_checkpoint();
  }
  Trainer t2(overrides(b));
  t2.load_checkpoint(b / "checkpoints" / tips::train::checkpoint_name(2));
  for (int i = 0; i < 2; ++i) resumed.push_back(t2.step(t2.next_batches()).loss);
  ASSERT_EQ(resumed.size(), straight.size());
  for (size_t i = 0; i < straight.size(); ++i) EXPECT_EQ(resumed[i], straight[i]) << "step " << i;
}

}  // namespace
