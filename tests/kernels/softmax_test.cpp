#include "tips/kernels/softmax.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "skip_without_kernels.h"
#include "tips/core/compat.h"
#include "tips/core/rng.h"

namespace {

namespace K = tips::kernels;

constexpr double kHeadScale = 0.17677669529663687;  // 1 / sqrt(32): the demo's head width

torch::Tensor float64_softmax(const torch::Tensor& x, double scale) {
  return torch::softmax(x.to(torch::kDouble) * scale, -1);
}

double largest_magnitude(const torch::Tensor& t) { return t.abs().max().item<double>(); }

// Row lengths from under one vector to several (the masked tail), 51 as in the demo's attention; against float64.
// float32: a few units of float32. bf16: the float32 result rounded once to 8 significant bits, so within 2^-8
// relative of the exact value, plus float32 noise.
TEST(SoftmaxKernel, ForwardMatchesFloat64ForFloat32AndBf16) {
  SKIP_WITHOUT_FUSED_KERNELS();
  auto gen = tips::rng::generator(11);
  for (const int64_t n : {1, 7, 16, 33, 51, 130}) {
    const auto x = torch::randn({3, 5, n}, gen) * 6.0;
    for (const auto dtype : {torch::kFloat, torch::kBFloat16}) {
      const auto in = x.to(dtype);
      const auto out = K::scaled_softmax_forward(in, kHeadScale);
      ASSERT_EQ(out.scalar_type(), dtype);
      const auto exact = float64_softmax(in, kHeadScale);
      const auto rel = ((out.to(torch::kDouble) - exact).abs() / exact.clamp_min(1e-300)).max().item<double>();
      EXPECT_LT(rel, dtype == torch::kFloat ? 2e-6 : std::ldexp(1.0, -8) + 2e-6) << n << " " << dtype;
    }
  }
}

// The gradient of a loss <w, softmax(x * scale)> by autograd through the kernel, against float64 autograd through
// ATen's softmax. float32 end to end; bf16 against the same formula in float64 on the kernel's own rounded output
// (what the backward reads), within bf16 rounding of the largest entry.
TEST(SoftmaxKernel, GradientMatchesFloat64) {
  SKIP_WITHOUT_FUSED_KERNELS();
  auto gen = tips::rng::generator(12);
  const auto x = torch::randn({4, 6, 51}, gen) * 4.0;
  const auto w = torch::randn({4, 6, 51}, gen);
  const auto xf = x.clone().requires_grad_(true);
  (K::scaled_softmax(xf, kHeadScale) * w).sum().backward();
  const auto xd = x.to(torch::kDouble).requires_grad_(true);
  (torch::softmax(xd * kHeadScale, -1) * w.to(torch::kDouble)).sum().backward();
  EXPECT_LT(largest_magnitude(xf.grad().to(torch::kDouble) - xd.grad()), 1e-6 * largest_magnitude(xd.grad()));

  const auto y = K::scaled_softmax_forward(x.to(torch::kBFloat16), kHeadScale);
  const auto g = w.to(torch::kBFloat16);
  const auto dx = K::scaled_softmax_backward(g, y, kHeadScale);
  const auto yd = y.to(torch::kDouble), gd = g.to(torch::kDouble);
  const auto expected = kHeadScale * yd * (gd - (gd * yd).sum(-1, true));
  EXPECT_LT(largest_magnitude(dx.to(torch::kDouble) - expected), std::ldexp(1.0, -8) * largest_magnitude(expected));
}

// Masked keys (-inf) get probability 0 and no gradient; a row of only -inf is NaN, as in ATen's softmax.
TEST(SoftmaxKernel, MaskedKeysAndAllMaskedRowsAsAten) {
  SKIP_WITHOUT_FUSED_KERNELS();
  const float inf = std::numeric_limits<float>::infinity();
  auto x = torch::tensor({{1.0f, -inf, 2.0f, -inf}, {-inf, -inf, -inf, -inf}});
  const auto out = K::scaled_softmax_forward(x, 0.5);
  const auto aten = torch::softmax(x * 0.5, -1);
  EXPECT_TRUE(torch::allclose(out[0], aten[0], 1e-6, 0));
  EXPECT_EQ(out[0][1].item<float>(), 0.0f);
  EXPECT_TRUE(torch::isnan(out[1]).all().item<bool>());
  EXPECT_TRUE(torch::isnan(aten[1]).all().item<bool>());
  const auto dx = K::scaled_softmax_backward(torch::ones_like(out), out, 0.5);
  EXPECT_EQ(dx[0][1].item<float>(), 0.0f);
  EXPECT_EQ(dx[0][3].item<float>(), 0.0f);
}

TEST(SoftmaxKernel, FallsBackOutsideItsDtypesAndRejectsABadScale) {
  const auto x = torch::randn({2, 9}, torch::kDouble);
  EXPECT_FALSE(K::fused_softmax_applies(x));
  EXPECT_TRUE(torch::allclose(K::scaled_softmax(x, 2.0), torch::softmax(x * 2.0, -1), 1e-15, 0));
  EXPECT_THROW(K::scaled_softmax(x, 0.0), c10::Error);
}

// Attention with a key-padding mask (as the text tower's) in float32: with the kernel and with ATen's softmax the
// output and the gradients of q, k and v agree (on LibTorch 2.x both runs are ATen's SDPA, and the test still holds).
TEST(SoftmaxKernel, AttentionWithTheKernelEqualsAtensPath) {
  SKIP_WITHOUT_FUSED_KERNELS();
  auto gen = tips::rng::generator(13);
  const auto q = torch::randn({2, 4, 9, 8}, gen), k = torch::randn({2, 4, 9, 8}, gen),
             v = torch::randn({2, 4, 9, 8}, gen);
  const auto mask = torch::zeros({2, 9}, torch::kBool).index_fill_(1, torch::tensor({7, 8}), true);
  std::vector<torch::Tensor> grads[2];
  torch::Tensor outs[2];
  for (int fused = 0; fused < 2; ++fused) {
    auto qg = q.clone().requires_grad_(true), kg = k.clone().requires_grad_(true), vg = v.clone().requires_grad_(true);
    outs[fused] = tips::compat::scaled_dot_product_attention(qg, kg, vg, mask, fused ? &K::scaled_softmax : nullptr);
    outs[fused].pow(2).sum().backward();
    grads[fused] = {qg.grad(), kg.grad(), vg.grad()};
  }
  EXPECT_TRUE(torch::allclose(outs[1], outs[0], 1e-5, 1e-6));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(torch::allclose(grads[1][i], grads[0][i], 1e-4, 1e-5)) << i;
}

}  // namespace
