// The fused AdamW pass against LibTorch's AdamW (the second source): the same parameters, gradients and schedule
// through both, several steps, two groups with different lr and weight decay; and a checkpoint written after fused
// steps, read back by LibTorch's optimizer.
#include "tips/kernels/adamw.h"

#include <gtest/gtest.h>

#include "skip_without_kernels.h"
#include "tips/train/optim.h"

namespace {

using tips::train::OptimConfig;
using tips::train::ParamGroup;

// Two groups (decayed weights, undecayed biases) of sizes that span several of the kernel's pieces and a remainder.
std::vector<torch::Tensor> make_params(torch::Dtype dtype) {
  torch::manual_seed(3);
  return {torch::randn({300, 129}, dtype).requires_grad_(), torch::randn({7}, dtype).requires_grad_(),
          torch::randn({40000}, dtype).requires_grad_()};
}

std::vector<ParamGroup> groups_of(const std::vector<torch::Tensor>& p) {
  return {ParamGroup{"decay", {p[0], p[2]}, {"w0", "w2"}, 1.0, 1.0}, ParamGroup{"no_decay", {p[1]}, {"b"}, 0.5, 0.0}};
}

// LibTorch's AdamW with the same groups, the reference.
std::unique_ptr<torch::optim::AdamW> reference_adamw(const std::vector<torch::Tensor>& p, const OptimConfig& cfg) {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  for (const auto& g : groups_of(p)) {
    auto o = std::make_unique<torch::optim::AdamWOptions>(cfg.lr.start);
    o->betas({cfg.beta1, cfg.beta2}).eps(cfg.eps);
    groups.emplace_back(g.params, std::move(o));
  }
  return std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(cfg.lr.start));
}

void set_reference_lr_wd(torch::optim::AdamW& opt, double lr, double wd) {
  const double lr_mult[] = {1.0, 0.5}, wd_mult[] = {1.0, 0.0};
  for (size_t i = 0; i < 2; ++i) {
    auto& o = static_cast<torch::optim::AdamWOptions&>(opt.param_groups()[i].options());
    o.lr(lr * lr_mult[i]).weight_decay(wd * wd_mult[i]);
  }
}

// Steps both optimizers `steps` times with the same gradients and a changing lr; returns the largest relative
// parameter difference.
double run_both(torch::Dtype dtype, int steps) {
  OptimConfig cfg;
  auto fused_params = make_params(dtype), ref_params = make_params(dtype);
  auto fused = tips::train::make_optimizer(groups_of(fused_params), cfg);
  auto ref = reference_adamw(ref_params, cfg);
  double worst = 0;
  for (int t = 0; t < steps; ++t) {
    const double lr = 1e-2 / (t + 1), wd = 0.04;
    fused->set_lr_wd(lr, wd);
    set_reference_lr_wd(*ref, lr, wd);
    for (size_t i = 0; i < fused_params.size(); ++i) {
      const auto g = torch::randn(fused_params[i].sizes(), dtype);
      fused_params[i].mutable_grad() = g.clone();
      ref_params[i].mutable_grad() = g.clone();
    }
    fused->step();
    ref->step();
  }
  for (size_t i = 0; i < fused_params.size(); ++i)
    worst = std::max(worst, ((fused_params[i] - ref_params[i]).abs().max() / ref_params[i].abs().max()).item<double>());
  return worst;
}

TEST(FusedAdamW, MatchesLibTorchAdamWOverSteps) {
  SKIP_WITHOUT_FUSED_KERNELS();
  EXPECT_LT(run_both(torch::kDouble, 5), 1e-14);
  EXPECT_LT(run_both(torch::kFloat, 5), 1e-6);
}

TEST(FusedAdamW, AppliesOnlyToContiguousCpuTensorsOfOneDtype) {
  SKIP_WITHOUT_FUSED_KERNELS();
  auto slot = [](torch::Tensor p) {
    return tips::kernels::AdamWSlot{p, torch::zeros_like(p), torch::zeros_like(p), torch::zeros_like(p), 1e-3, 0, 1};
  };
  EXPECT_TRUE(tips::kernels::fused_adamw_applies({slot(torch::zeros({4, 3}))}));
  EXPECT_FALSE(tips::kernels::fused_adamw_applies({slot(torch::zeros({4, 3}, torch::kBFloat16))}));
  EXPECT_FALSE(tips::kernels::fused_adamw_applies({slot(torch::zeros({3, 4}).t())}));
  EXPECT_FALSE(tips::kernels::fused_adamw_applies({slot(torch::zeros({4})), slot(torch::zeros({4}, torch::kDouble))}));
  EXPECT_FALSE(tips::kernels::fused_adamw_applies({}));
}

// The clip's factor applied as the fused pass reads each gradient equals scaling the gradients first (LibTorch's
// path, and the one before the factor moved into the pass), bit for bit in float32 and float64; the gradients
// themselves are left unscaled.
TEST(FusedAdamW, GradScaleEqualsScalingTheGradientsFirst) {
  SKIP_WITHOUT_FUSED_KERNELS();
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    OptimConfig cfg;
    auto in_pass = make_params(dtype), first = make_params(dtype);
    auto opt_in_pass = tips::train::make_optimizer(groups_of(in_pass), cfg);
    auto opt_first = tips::train::make_optimizer(groups_of(first), cfg);
    for (int t = 0; t < 3; ++t) {
      const double scale = 0.37 / (t + 1);
      for (size_t i = 0; i < in_pass.size(); ++i) {
        const auto g = torch::randn(in_pass[i].sizes(), dtype);
        in_pass[i].mutable_grad() = g.clone();
        first[i].mutable_grad() = g * scale;  // what grad.mul_(scale) gives
      }
      opt_in_pass->set_lr_wd(1e-2, 0.04), opt_first->set_lr_wd(1e-2, 0.04);
      const auto grad_before = in_pass[0].grad().clone();
      opt_in_pass->step_scaled(scale);
      opt_first->step();
      EXPECT_TRUE(torch::equal(in_pass[0].grad(), grad_before)) << "the pass scaled the gradient in place";
    }
    for (size_t i = 0; i < in_pass.size(); ++i) EXPECT_TRUE(torch::equal(in_pass[i], first[i])) << dtype << " " << i;
  }
}

// The fused step keeps its state in LibTorch's AdamW state, under LibTorch's keys: a checkpoint written after
// fused steps and read into a fresh optimizer continues exactly as the uninterrupted one.
TEST(FusedAdamW, CheckpointAfterFusedStepsResumesExactly) {
  SKIP_WITHOUT_FUSED_KERNELS();
  OptimConfig cfg;
  auto params = make_params(torch::kDouble);
  auto opt = tips::train::make_optimizer(groups_of(params), cfg);
  auto grads = [&](int seed) {
    torch::manual_seed(seed);
    for (auto& p : params) p.mutable_grad() = torch::randn(p.sizes(), torch::kDouble);
  };
  for (int t = 0; t < 3; ++t) grads(10 + t), opt->set_lr_wd(1e-2, 0.04), opt->step();
  torch::serialize::OutputArchive out;
  opt->save(out);
  std::ostringstream bytes;
  out.save_to(bytes);
  std::vector<torch::Tensor> saved;
  for (const auto& p : params) saved.push_back(p.detach().clone());

  grads(20), opt->step();  // uninterrupted
  std::vector<torch::Tensor> resumed_params;
  for (const auto& p : saved) resumed_params.push_back(p.clone().requires_grad_());
  auto resumed = tips::train::make_optimizer(groups_of(resumed_params), cfg);
  torch::serialize::InputArchive in;
  std::istringstream read_back(bytes.str());
  in.load_from(read_back);
  resumed->load(in);
  resumed->set_lr_wd(1e-2, 0.04);
  torch::manual_seed(20);
  for (auto& p : resumed_params) p.mutable_grad() = torch::randn(p.sizes(), torch::kDouble);
  resumed->step();
  for (size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(torch::equal(params[i], resumed_params[i])) << i;
  EXPECT_EQ(resumed->state_bytes(), opt->state_bytes());
}

}  // namespace
