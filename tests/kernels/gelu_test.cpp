#include "tips/kernels/gelu.h"

#include <gtest/gtest.h>

#include <cmath>

#include "skip_without_kernels.h"
#include "tips/core/rng.h"
#include "tips/model/gelu.h"

namespace {

namespace K = tips::kernels;

// Every finite bf16 value, as a bf16 tensor.
torch::Tensor every_finite_bf16() {
  const auto bits = torch::arange(0, 65536, torch::kInt32).to(torch::kInt16);
  const auto all = bits.view(torch::kBFloat16);
  return all.index({torch::isfinite(all.to(torch::kFloat))});
}

// The forward is correctly rounded: for every finite bf16 x, no other bf16 value is closer to x Phi(x) in float64
// (Phi from erfc, which keeps the negative tail). Where 1 + erf does not cancel (x > -5), the erfc form is also
// checked against ATen's float64 GELU, which uses erf: an independent formula.
TEST(GeluKernel, ForwardIsCorrectlyRoundedForEveryBf16Value) {
  SKIP_WITHOUT_FUSED_KERNELS();
  const auto x = every_finite_bf16();
  const auto xd = x.to(torch::kDouble);
  const auto exact = xd * 0.5 * torch::erfc(-xd / std::sqrt(2.0));
  const auto body = xd > -5.0;
  // 1 + erf(x / sqrt 2) keeps about 1e-16 / 6e-7 of relative precision at x = -5, hence the tolerance.
  EXPECT_TRUE(torch::allclose(exact.index({body}), torch::gelu(xd).index({body}), 1e-9, 1e-300));
  const auto out = K::gelu_forward_bf16(x);
  ASSERT_EQ(out.scalar_type(), torch::kBFloat16);
  const auto err = (out.to(torch::kDouble) - exact).abs();
  const auto out_bits = out.view(torch::kInt16).to(torch::kInt32);
  for (const int step : {-1, 1}) {  // the neighbours in bit order (same sign): never strictly closer
    const auto nb = (out_bits + step).to(torch::kInt16).view(torch::kBFloat16).to(torch::kDouble);
    const auto nb_err = (nb - exact).abs();
    const auto ok = (err <= nb_err) | torch::isnan(nb_err) | (out == 0);
    EXPECT_TRUE(ok.all().item<bool>()) << "closer neighbour for " << (~ok).sum().item<int64_t>() << " values";
  }
  EXPECT_TRUE((out.to(torch::kDouble) != 0).index({xd<-5.0 & xd> - 13.0}).all().item<bool>())
      << "the negative tail keeps its digits (gelu(-13) ~ -8e-38 is still a normal float)";
}

// grad * gelu'(x) within half a bf16 unit (2^-8 relative) of float64, with gelu'(x) = Phi(x) + x phi(x) from erfc;
// that slope is checked against float64 autograd through ATen's erf-form GELU where 1 + erf does not cancel.
TEST(GeluKernel, BackwardMatchesFloat64) {
  SKIP_WITHOUT_FUSED_KERNELS();
  auto gen = tips::rng::generator(9);
  const auto x = (torch::randn({4097}, gen) * 3.0).to(torch::kBFloat16);  // not a multiple of 16: a tail
  const auto g = torch::randn({4097}, gen).to(torch::kBFloat16);
  const auto xd = x.to(torch::kDouble), gd = g.to(torch::kDouble);
  const auto slope = 0.5 * torch::erfc(-xd / std::sqrt(2.0)) + xd * torch::exp(-0.5 * xd * xd) / std::sqrt(2 * M_PI);
  auto xa = xd.clone().requires_grad_(true);
  torch::gelu(xa).backward(gd);
  const auto body = xd > -5.0;
  EXPECT_TRUE(torch::allclose((gd * slope).index({body}), xa.grad().index({body}), 1e-9, 1e-300));
  const auto exact = gd * slope;
  const auto out = K::gelu_backward_bf16(g, x);
  const auto err = (out.to(torch::kDouble) - exact).abs();
  EXPECT_TRUE((err <= exact.abs() * std::ldexp(1.0, -8) * 1.001 + 1e-40).all().item<bool>())
      << err.max().item<double>();
}

// Through autograd on bf16 (the kernels) and on float32 (torch::gelu, bit for bit), and as the heads' module.
TEST(GeluKernel, AutogradAndModuleUseTheKernelsOnlyForBf16) {
  SKIP_WITHOUT_FUSED_KERNELS();
  auto gen = tips::rng::generator(10);
  const auto base = torch::randn({3, 5, 40}, gen);
  auto x16 = base.to(torch::kBFloat16).requires_grad_(true);
  const auto y16 = K::gelu(x16);
  EXPECT_TRUE(torch::equal(y16, K::gelu_forward_bf16(x16.detach())));
  const auto g = torch::randn({3, 5, 40}, gen).to(torch::kBFloat16);
  y16.backward(g);
  EXPECT_TRUE(torch::equal(x16.grad(), K::gelu_backward_bf16(g, x16.detach())));
  auto x32 = base.clone().requires_grad_(true);
  EXPECT_TRUE(torch::equal(K::gelu(x32), torch::gelu(base)));
  tips::model::Gelu module;
  EXPECT_TRUE(torch::equal(module->forward(x16.detach()), y16.detach()));
  EXPECT_TRUE(torch::equal(std::dynamic_pointer_cast<tips::model::GeluImpl>(module->clone())->forward(base),
                           torch::gelu(base)));
}

}  // namespace
