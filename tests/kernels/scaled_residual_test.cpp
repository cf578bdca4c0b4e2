#include "tips/kernels/scaled_residual.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <vector>

#include "skip_without_kernels.h"
#include "tips/core/rng.h"

namespace {

namespace K = tips::kernels;

struct ResidualInputs {
  torch::Tensor x, branch, gamma;
};

// A block's shapes: x float32 (B, N, D), the branch bf16, gamma float32 (D); D = 40 has a masked tail.
ResidualInputs residual_inputs(int64_t d, uint64_t seed) {
  auto gen = tips::rng::generator(seed);
  return {torch::randn({3, 17, d}, gen), torch::randn({3, 17, d}, gen).to(torch::kBFloat16),
          torch::randn({d}, gen) * 0.1};
}

// bf16 times float32 is exact in float64, so x + branch * gamma in float64 rounded once to float32 is what one
// fused multiply-add gives: the same bits.
TEST(ScaledResidualKernel, ForwardIsTheCorrectlyRoundedSum) {
  SKIP_WITHOUT_FUSED_KERNELS();
  for (const int64_t d : {128, 40, 7}) {
    const auto in = residual_inputs(d, 80 + d);
    const auto exact = in.x.to(torch::kDouble) + in.branch.to(torch::kDouble) * in.gamma.to(torch::kDouble);
    const auto out = K::scaled_residual_forward(in.x, in.branch, in.gamma);
    ASSERT_EQ(out.scalar_type(), torch::kFloat);
    EXPECT_TRUE(torch::equal(out, exact.to(torch::kFloat))) << d;
  }
}

// Backward: the branch's gradient is grad * gamma in float32 rounded to bf16, as the composite's MulBackward and
// cast give (same bits); gamma's is the row sum of grad * branch, against float64.
TEST(ScaledResidualKernel, BackwardMatchesTheCompositeAndFloat64) {
  SKIP_WITHOUT_FUSED_KERNELS();
  for (const int64_t d : {128, 40}) {
    const auto in = residual_inputs(d, 90 + d);
    auto gen = tips::rng::generator(100 + d);
    const auto grad = torch::randn(in.x.sizes(), gen);
    const auto out = K::scaled_residual_backward(grad, in.branch, in.gamma);
    EXPECT_TRUE(torch::equal(out.branch, (grad * in.gamma).to(torch::kBFloat16))) << d;
    const auto exact = (grad.to(torch::kDouble) * in.branch.to(torch::kDouble)).sum(std::vector<int64_t>{0, 1});
    EXPECT_LT((out.gamma.to(torch::kDouble) - exact).abs().max().item<double>(),
              1e-5 * exact.abs().max().item<double>())
        << d;
  }
}

// Through autograd: the three gradients of <w, x + branch * gamma> against float64 autograd (the branch's is
// rounded to bf16, so within 2^-8 relative of each entry).
TEST(ScaledResidualKernel, AutogradMatchesFloat64) {
  SKIP_WITHOUT_FUSED_KERNELS();
  const auto in = residual_inputs(128, 110);
  auto gen = tips::rng::generator(111);
  const auto w = torch::randn(in.x.sizes(), gen);
  auto x = in.x.clone().requires_grad_(true), b = in.branch.clone().requires_grad_(true),
       g = in.gamma.clone().requires_grad_(true);
  (K::scaled_residual(x, b, g) * w).sum().backward();
  auto xd = in.x.to(torch::kDouble).requires_grad_(true), bd = in.branch.to(torch::kDouble).requires_grad_(true),
       gd = in.gamma.to(torch::kDouble).requires_grad_(true);
  ((xd + bd * gd) * w.to(torch::kDouble)).sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), w));
  const auto branch_excess = (b.grad().to(torch::kDouble) - bd.grad()).abs() - std::ldexp(1.0, -8) * bd.grad().abs();
  EXPECT_LE(branch_excess.max().item<double>(), 0.0);
  EXPECT_LT((g.grad().to(torch::kDouble) - gd.grad()).abs().max().item<double>(),
            1e-5 * gd.grad().abs().max().item<double>());
}

// Gamma's gradient is summed chunk by chunk in row order: two runs on two threads give the same bits, and one
// thread the same up to float32 rounding.
TEST(ScaledResidualKernel, GammaSumsAreTheSameEveryRun) {
  SKIP_WITHOUT_FUSED_KERNELS();
  auto gen = tips::rng::generator(120);
  const auto branch = torch::randn({64, 51, 128}, gen).to(torch::kBFloat16);
  const auto grad = torch::randn({64, 51, 128}, gen), gamma = torch::randn({128}, gen);
  const int before = at::get_num_threads();
  at::set_num_threads(2);
  const auto first = K::scaled_residual_backward(grad, branch, gamma).gamma;
  const auto second = K::scaled_residual_backward(grad, branch, gamma).gamma;
  at::set_num_threads(1);
  const auto one_thread = K::scaled_residual_backward(grad, branch, gamma).gamma;
  at::set_num_threads(before);
  EXPECT_TRUE(torch::equal(first, second));
  EXPECT_TRUE(torch::allclose(first, one_thread, 1e-5, 1e-4));
}

TEST(ScaledResidualKernel, FallsBackOutsideItsDtypes) {
  const auto in = residual_inputs(16, 130);
  const auto branch32 = in.branch.to(torch::kFloat);
  EXPECT_FALSE(K::fused_scaled_residual_applies(in.x, branch32, in.gamma));
  EXPECT_FALSE(K::fused_scaled_residual_applies(in.x, in.branch, torch::ones({8})));
  EXPECT_TRUE(torch::equal(K::scaled_residual(in.x, branch32, in.gamma), in.x + branch32 * in.gamma));
  EXPECT_THROW(K::scaled_residual_forward(in.x, branch32, in.gamma), c10::Error);
}

}  // namespace
