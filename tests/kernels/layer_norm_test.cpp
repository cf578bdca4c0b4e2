#include "tips/kernels/layer_norm.h"

#include <gtest/gtest.h>

#include "skip_without_kernels.h"
#include "tips/core/compat.h"
#include "tips/core/rng.h"

namespace {

namespace K = tips::kernels;

struct NormOperands {
  torch::Tensor x, w, b;
};
NormOperands make_norm_operands(int64_t rows, int64_t d, uint64_t seed) {
  auto gen = tips::rng::generator(seed);
  // A residual stream with an offset and scale per row, as a block sees it.
  return {torch::randn({rows, 1}, gen) * 3 + torch::randn({rows, d}, gen) * (torch::rand({rows, 1}, gen) + 0.5),
          torch::randn({d}, gen) * 0.3 + 1.0, torch::randn({d}, gen) * 0.1};
}

// Under CPU bf16 autocast the fused norm returns the bf16 values the next linear would have cast ATen's float32
// LayerNorm to: equal, or (float32 summation order) one bf16 unit apart.
TEST(LayerNormKernel, ForwardIsATenLayerNormRoundedToBf16) {
  SKIP_WITHOUT_FUSED_KERNELS();
  for (const int64_t d : {40, 128}) {
    const auto in = make_norm_operands(300, d, d);
    const auto reference = torch::layer_norm(in.x, {d}, in.w, in.b, 1e-6).to(torch::kBFloat16);
    tips::compat::AutocastGuard autocast(c10::DeviceType::CPU, true, torch::kBFloat16);
    ASSERT_TRUE(K::fused_layer_norm_applies(in.x, in.w, in.b));
    const auto y = K::layer_norm_for_linear(in.x, in.w, in.b, 1e-6);
    ASSERT_EQ(y.scalar_type(), torch::kBFloat16);
    const auto units =
        (y.view(torch::kInt16).to(torch::kInt32) - reference.view(torch::kInt16).to(torch::kInt32)).abs();
    EXPECT_LE(units.max().item<int>(), 1) << "D = " << d;
    EXPECT_LT(units.to(torch::kFloat).mean().item<float>(), 0.01) << "D = " << d;
  }
}

// Gradients of x, weight and bias against float64 autograd of the same LayerNorm, from a bf16 output gradient.
TEST(LayerNormKernel, GradientsMatchFloat64) {
  SKIP_WITHOUT_FUSED_KERNELS();
  const auto in = make_norm_operands(70, 40, 3);
  auto gen = tips::rng::generator(4);
  const auto g = torch::randn({70, 40}, gen).to(torch::kBFloat16);
  auto x = in.x.clone().requires_grad_(true), w = in.w.clone().requires_grad_(true),
       b = in.b.clone().requires_grad_(true);
  {
    tips::compat::AutocastGuard autocast(c10::DeviceType::CPU, true, torch::kBFloat16);
    K::layer_norm_for_linear(x, w, b, 1e-6).backward(g);
  }
  auto xd = in.x.to(torch::kDouble).requires_grad_(true), wd = in.w.to(torch::kDouble).requires_grad_(true),
       bd = in.b.to(torch::kDouble).requires_grad_(true);
  torch::layer_norm(xd, {40}, wd, bd, 1e-6).backward(g.to(torch::kDouble));
  const auto close = [](const torch::Tensor& got, const torch::Tensor& exact) {
    return (got.to(torch::kDouble) - exact).abs().max().item<double>() <= 1e-5 * exact.abs().max().item<double>();
  };
  EXPECT_TRUE(close(x.grad(), xd.grad()));
  EXPECT_TRUE(close(w.grad(), wd.grad()));
  EXPECT_TRUE(close(b.grad(), bd.grad()));
  EXPECT_EQ(x.grad().scalar_type(), torch::kFloat);
}

// With several threads the weight and bias gradients are summed chunk by chunk in row order: the same bits every
// run, and the same as one thread up to float32 rounding.
TEST(LayerNormKernel, BackwardIsDeterministicAcrossThreads) {
  SKIP_WITHOUT_FUSED_KERNELS();
  const auto in = make_norm_operands(2000, 128, 5);
  auto gen = tips::rng::generator(6);
  const auto g = torch::randn({2000, 128}, gen).to(torch::kBFloat16);
  const auto fwd = K::layer_norm_bf16_forward(in.x, in.w, in.b, 1e-6);
  const int before = at::get_num_threads();
  at::set_num_threads(2);
  const auto a = K::layer_norm_bf16_backward(g, in.x, in.w, fwd.mean, fwd.rstd);
  const auto b = K::layer_norm_bf16_backward(g, in.x, in.w, fwd.mean, fwd.rstd);
  at::set_num_threads(1);
  const auto one = K::layer_norm_bf16_backward(g, in.x, in.w, fwd.mean, fwd.rstd);
  at::set_num_threads(before);
  EXPECT_TRUE(torch::equal(a.weight, b.weight) && torch::equal(a.bias, b.bias) && torch::equal(a.x, b.x));
  EXPECT_TRUE(torch::allclose(a.weight, one.weight, 1e-5, 1e-4));
  EXPECT_TRUE(torch::equal(a.x, one.x));
}

// Without autocast (or for float64) it is ATen's LayerNorm, float32 out.
TEST(LayerNormKernel, OutsideBf16AutocastItIsATensLayerNorm) {
  SKIP_WITHOUT_FUSED_KERNELS();
  const auto in = make_norm_operands(8, 40, 7);
  EXPECT_FALSE(K::fused_layer_norm_applies(in.x, in.w, in.b));
  EXPECT_TRUE(
      torch::equal(K::layer_norm_for_linear(in.x, in.w, in.b, 1e-6), torch::layer_norm(in.x, {40}, in.w, in.b, 1e-6)));
}

}  // namespace
