// The training step on CUDA (label gpu: `ctest -L gpu`, run by scripts/gpu_check.sh; each test skips without a
// CUDA device, and CI, which has none, excludes the label). Second sources: the same step on the CPU, the same step
// in fp32, the same step without activation checkpointing.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "../integration/train_test_util.h"
#include "tips/core/compat.h"
#include "tips/train/trainer.h"

namespace {

namespace fs = std::filesystem;
using tips::train::StepResult;
using tips::train::Trainer;

#define TIPS_REQUIRE_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device"

fs::path fresh_gpu_run(const std::string& name) { return tips::testing::fresh_run_dir("gpu_" + name); }

// One optimizer step of the tiny model on the same batch, on `device` at `precision`.
StepResult one_step(const std::string& name, const std::string& device, const std::string& precision,
                    std::vector<std::string> extra = {}) {
  extra.insert(extra.end(), {"train.device=" + device, "train.precision=" + precision, "model.drop_path=0"});
  Trainer t(tips::testing::tiny_config(fresh_gpu_run(name), extra));
  tips::compat::allow_tf32(false);  // the comparisons are against fp32 on the CPU
  return t.step(t.next_batches());
}

TEST(GpuStep, CpuAndCudaAgreeInFp32) {
  TIPS_REQUIRE_CUDA();
  const auto cpu = one_step("cpu", "cpu", "fp32"), cuda = one_step("cuda", "cuda", "fp32");
  for (const char* term : {"loss", "loss_contrastive", "loss_dino", "loss_ibot"}) {
    SCOPED_TRACE(term);
    EXPECT_NEAR(cuda.terms.get(term), cpu.terms.get(term), 1e-4);
  }
}

TEST(GpuStep, Bf16StepIsFiniteAndCloseToFp32) {
  TIPS_REQUIRE_CUDA();
  const auto fp32 = one_step("fp32", "cuda", "fp32"), bf16 = one_step("bf16", "cuda", "bf16");
  ASSERT_FALSE(bf16.skipped);
  for (const char* term : {"loss", "loss_contrastive", "loss_dino", "loss_ibot"}) {
    SCOPED_TRACE(term);
    EXPECT_TRUE(std::isfinite(bf16.terms.get(term)));
    EXPECT_NEAR(bf16.terms.get(term), fp32.terms.get(term), 2e-2 * std::max(1.0, std::abs(fp32.terms.get(term))));
  }
}

TEST(GpuStep, ActivationCheckpointingGivesTheSameGradients) {
  TIPS_REQUIRE_CUDA();
  std::vector<std::map<std::string, torch::Tensor>> grads;
  for (const char* on : {"false", "true"}) {
    Trainer t(tips::testing::tiny_config(fresh_gpu_run(std::string("ckpt_") + on),
                                         {"train.device=cuda", "train.precision=fp32", "optim.clip_grad=0",
                                          std::string("train.activation_checkpointing=") + on}));
    tips::compat::allow_tf32(false);
    t.step(t.next_batches());
    std::map<std::string, torch::Tensor> g;
    for (const auto& item : t.model()->named_parameters())
      if (item.value().grad().defined()) g[item.key()] = item.value().grad().cpu();
    grads.push_back(g);
  }
  ASSERT_EQ(grads[0].size(), grads[1].size());
  for (const auto& [name, g] : grads[0]) EXPECT_TRUE(torch::allclose(g, grads[1].at(name), 1e-5, 1e-6)) << name;
}

// The tiny config's 96 canvases for 50 steps on CUDA: every step finite, and the loss falls.
TEST(GpuStep, FiftyStepsTrain) {
  TIPS_REQUIRE_CUDA();
  Trainer t(tips::testing::tiny_config(fresh_gpu_run("fifty"), {"train.device=cuda", "train.steps=50"}));
  double first = 0, last = 0;
  for (int i = 0; i < 50; ++i) {
    const auto r = t.step(t.next_batches());
    ASSERT_FALSE(r.skipped) << "step " << i << ": " << r.nonfinite;
    (i == 0 ? first : last) = r.loss;
  }
  EXPECT_LT(last, first);
}

}  // namespace
