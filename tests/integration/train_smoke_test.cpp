// End to end on a tiny model: the loss falls, resume is bit-exact, export re-imports, teacher policies.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "tips/core/error.h"
#include "tips/io/tips_checkpoint.h"
#include "tips/train/checkpoint.h"
#include "tips/train/trainer.h"
#include "train_test_util.h"

namespace {

namespace fs = std::filesystem;
using tips::train::Trainer;

fs::path fresh(const std::string& name) { return tips::testing::fresh_run_dir(name); }

std::vector<double> run_steps(Trainer& t, int64_t n) {
  std::vector<double> losses;
  for (int64_t i = 0; i < n; ++i) losses.push_back(t.step(t.next_batches()).loss);
  return losses;
}

TEST(TrainSmoke, LossFallsOnRepeatedBatches) {
  // Overfitting one batch is the sharpest "is the gradient wired up" check: every term must go down. Sinkhorn
  // targets (the demo's): with EMA centering this tiny model's iBOT targets drift to uniform within 30 steps on
  // some batches (loss_ibot back to ln K), which says nothing about the gradient.
  auto cfg = tips::testing::tiny_config(fresh("overfit"), {"optim.lr.warmup_steps=0", "train.steps=40",
                                                          "loss.ibot.centering=sinkhorn", "loss.dino.centering=sinkhorn"});
  Trainer t(cfg);
  const auto batches = t.next_batches();
  const auto first = t.step(batches);
  tips::train::StepResult last;
  for (int i = 0; i < 30; ++i) last = t.step(batches);
  for (const char* term : {"loss", "loss_contrastive", "loss_ibot"}) {
    SCOPED_TRACE(term);
    EXPECT_LT(last.terms.get(term), 0.8 * first.terms.get(term));
  }
  EXPECT_TRUE(std::isfinite(last.terms.get("loss_dino")));
}

// 6 steps straight vs 3 steps, a checkpoint, a new Trainer (the process "dies") and 3 more: the same losses,
// weights and teacher state, bit for bit.
void expect_bit_exact_resume(const std::string& tag, const std::vector<std::string>& extra) {
  const fs::path a = fresh("straight" + tag), b = fresh("resumed" + tag);
  std::vector<double> straight, resumed;
  {
    Trainer t(tips::testing::tiny_config(a, extra));
    straight = run_steps(t, 6);
  }
  {
    Trainer t(tips::testing::tiny_config(b, extra));
    resumed = run_steps(t, 3);
    t.save_checkpoint();
  }
  Trainer t2(tips::testing::tiny_config(b, extra));
  t2.load_checkpoint(b / "checkpoints" / tips::train::checkpoint_name(3));
  ASSERT_EQ(t2.global_step(), 3);
  const auto more = run_steps(t2, 3);
  resumed.insert(resumed.end(), more.begin(), more.end());
  ASSERT_EQ(resumed.size(), straight.size());
  for (size_t i = 0; i < straight.size(); ++i) EXPECT_EQ(resumed[i], straight[i]) << "step " << i;
  Trainer reference(tips::testing::tiny_config(fresh("straight2" + tag), extra));
  run_steps(reference, 6);
  const auto p1 = reference.model()->named_parameters();
  const auto p2 = t2.model()->named_parameters();
  for (const auto& item : p1) EXPECT_TRUE(torch::equal(item.value(), p2[item.key()])) << item.key();
  const auto s1 = reference.teacher().state(), s2 = t2.teacher().state();
  ASSERT_EQ(s1.size(), s2.size());
  for (size_t i = 0; i < s1.size(); ++i) EXPECT_TRUE(torch::equal(s1[i].second, s2[i].second)) << s1[i].first;
}

TEST(TrainSmoke, ResumeIsBitExact) { expect_bit_exact_resume("", {"train.precision=fp32"}); }

// bf16 autocast keeps fp32 master weights and optimizer state: a resumed run is as exact as in fp32.
TEST(TrainSmoke, ResumeIsBitExactInBf16) { expect_bit_exact_resume("_bf16", {"train.precision=bf16"}); }

TEST(TrainSmoke, TrainWritesCheckpointsMetricsAndReimportableExport) {
  const fs::path run = fresh("full");
  Trainer t(tips::testing::tiny_config(run));
  t.train();
  EXPECT_TRUE(fs::exists(run / "config.yaml"));
  EXPECT_TRUE(fs::exists(run / "metrics.jsonl"));
  if (TIPS_HAVE_TENSORBOARD) {  // one event file: the version record and 6 steps x the logged scalars
    ASSERT_TRUE(fs::is_directory(run / "tb"));
    const auto first = fs::directory_iterator(run / "tb");
    ASSERT_NE(first, fs::directory_iterator());
    EXPECT_EQ(first->path().filename().string().rfind("events.out.tfevents.", 0), 0u);
    EXPECT_GT(fs::file_size(first->path()), 6u * 10u * 30u);
  }
  EXPECT_EQ(tips::train::list_checkpoints(run / "checkpoints").size(), 2u);  // steps 3 and 6
  tips::model::TipsModel fresh_model(tips::model::TipsModelConfig{t.config().model, t.config().text,
                                                                   t.config().heads});
  tips::io::import_image_encoder((run / "export" / "image_encoder.npz").string(), *fresh_model->vision);
  const auto scalars = tips::io::import_text_encoder((run / "export" / "text_encoder.npz").string(), *fresh_model->text);
  ASSERT_TRUE(scalars.temperature.has_value());
  EXPECT_NEAR(*scalars.temperature, t.model()->temperature().item<float>(), 1e-6);
  for (const auto& item : t.model()->vision->named_parameters())
    EXPECT_TRUE(torch::equal(item.value(), fresh_model->vision->named_parameters()[item.key()])) << item.key();
  for (const auto& item : t.model()->text->named_parameters())
    EXPECT_TRUE(torch::equal(item.value(), fresh_model->text->named_parameters()[item.key()])) << item.key();
}

// The logged grad_norm is the L2 norm over every trainable gradient, recomputed here in float64 from the gradients
// the step leaves behind (the clip is off, so no path scales them), in fp32 and in bf16 (float32 gradients of the
// master weights either way).
TEST(TrainSmoke, LoggedGradNormIsTheNormOfEveryGradient) {
  for (const std::string precision : {"fp32", "bf16"}) {
    SCOPED_TRACE(precision);
    Trainer t(tips::testing::tiny_config(fresh("grad_norm_" + precision),
                                         {"train.precision=" + precision, "optim.clip_grad=0", "train.steps=3"}));
    t.step(t.next_batches());
    const auto r = t.step(t.next_batches());
    double sum = 0;
    int64_t with_grad = 0;
    for (const auto& p : t.model()->parameters())
      if (p.requires_grad() && p.grad().defined())
        sum += p.grad().to(torch::kDouble).square().sum().item<double>(), ++with_grad;
    ASSERT_GT(with_grad, 10);
    EXPECT_NEAR(r.terms.get("grad_norm"), std::sqrt(sum), 1e-6 * std::sqrt(sum));
  }
}

TEST(TrainSmoke, TeacherPoliciesAndTipsV1SwitchRun) {
  struct Case { std::vector<std::string> set; int64_t ema_params_min, ema_params_max; };
  const Case cases[] = {
      {{"teacher.ema=head_only"}, 1, 200000},
      {{"teacher.ema=full", "loss.ibot.all_patches=false", "data.captions.stream2={caption_medium: 1.0}"}, 1, 10000000},
      {{"teacher.ema=none"}, 0, 0},
      {{"loss.contrastive.kind=sigmoid", "loss.dino.cls=both", "loss.dino.centering=sinkhorn"}, 1, 200000},
  };
  int i = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE("case " + std::to_string(i));
    auto set = c.set;
    set.push_back("train.steps=2");
    Trainer t(tips::testing::tiny_config(fresh("policy" + std::to_string(i++)), set));
    const int64_t n = t.teacher().parameter_count();
    EXPECT_GE(n, c.ema_params_min);
    EXPECT_LE(n, c.ema_params_max);
    for (const auto& r : {t.step(t.next_batches()), t.step(t.next_batches())}) {
      EXPECT_FALSE(r.skipped) << r.nonfinite;
      EXPECT_TRUE(std::isfinite(r.loss));
    }
  }
}

TEST(TrainSmoke, PatchTextExtensionLearnsAndChecksItsInputs) {
  // Local crops' patches (the default), with DINO off too so that the local crops run for this loss alone.
  for (const char* dino : {"loss.dino.weight=0.2", "loss.dino.weight=0"}) {
    SCOPED_TRACE(dino);
    Trainer t(tips::testing::tiny_config(fresh("patch_text"), {"loss.patch_text.weight=1", dino,
                                                               "optim.lr.warmup_steps=0", "train.steps=40"}));
    const auto batches = t.next_batches();
    const auto first = t.step(batches);
    tips::train::StepResult last;
    for (int i = 0; i < 20; ++i) last = t.step(batches);
    EXPECT_LT(last.terms.get("loss_patch_text"), 0.8 * first.terms.get("loss_patch_text"));
  }
  {
    Trainer t(tips::testing::tiny_config(fresh("patch_text_global"),
                                         {"loss.patch_text.weight=1", "loss.patch_text.patches=global"}));
    const auto r = t.step(t.next_batches());
    const double l = r.terms.get("loss_patch_text", -1.0);  // -1: the term was not logged
    EXPECT_TRUE(std::isfinite(l));
    EXPECT_GT(l, 0.5);  // about ln 8 for a batch of 8 at the start
  }
  EXPECT_THROW(Trainer(tips::testing::tiny_config(fresh("patch_text_bad1"),
                                                  {"loss.patch_text.weight=1", "loss.contrastive.weight=0"})),
               tips::ConfigError);
  EXPECT_THROW(Trainer(tips::testing::tiny_config(fresh("patch_text_bad2"),
                                                  {"loss.patch_text.weight=1", "data.crops.local_count=0"})),
               tips::ConfigError);
}

// A non-finite batch under nan_policy=skip leaves no trace: the EMA centres are those from before it, and the
// following steps train. (The centres used to be updated while the targets were formed, before the finiteness
// check, so one NaN image poisoned them and every later step was skipped.)
TEST(TrainSmoke, SkippedStepLeavesTheTeacherCentersAlone) {
  Trainer t(tips::testing::tiny_config(fresh("skip_centers"), {"train.nan_policy=skip", "train.steps=10"}));
  ASSERT_FALSE(t.step(t.next_batches()).skipped);
  const auto dino = t.teacher().center(tips::train::TargetKind::kDino).clone();
  const auto ibot = t.teacher().center(tips::train::TargetKind::kIbot).clone();
  ASSERT_GT(dino.abs().sum().item<double>(), 0.0);  // EMA centering is on and the first step moved the centres
  auto poisoned = t.next_batches();
  poisoned[0].global_crops = poisoned[0].global_crops.clone();
  poisoned[0].global_crops[0][0].fill_(std::nan(""));
  const auto bad = t.step(poisoned);
  EXPECT_TRUE(bad.skipped);
  EXPECT_EQ(t.global_step(), 1);
  EXPECT_TRUE(torch::equal(t.teacher().center(tips::train::TargetKind::kDino), dino));
  EXPECT_TRUE(torch::equal(t.teacher().center(tips::train::TargetKind::kIbot), ibot));
  for (int i = 0; i < 3; ++i) {
    const auto r = t.step(t.next_batches());
    EXPECT_FALSE(r.skipped) << r.nonfinite;
    EXPECT_TRUE(std::isfinite(r.terms.get("loss_dino")));
  }
  EXPECT_EQ(t.global_step(), 4);
}

// A caption stream that names a field the data lacks falls back to alt_text (data.captions.missing=fallback):
// counted in every step's caption_fallback_frac instead of passing silently.
TEST(TrainSmoke, CaptionFallbacksAreCounted) {
  Trainer t(tips::testing::tiny_config(fresh("fallback"), {"data.captions.stream2={caption_typo: 1.0}"}));
  EXPECT_DOUBLE_EQ(t.step(t.next_batches()).terms.get("caption_fallback_frac", -1), 1.0);
  Trainer ok(tips::testing::tiny_config(fresh("no_fallback")));
  EXPECT_DOUBLE_EQ(ok.step(ok.next_batches()).terms.get("caption_fallback_frac", -1), 0.0);
}

}  // namespace
