#include "tips/kernels/scaled_exp.h"

#include <gtest/gtest.h>

#include "skip_without_kernels.h"
#include "tips/core/rng.h"
#include "tips/loss/dino.h"

namespace {

namespace K = tips::kernels;

// Against float64 exp of the same values: within a few float32 units, like ATen's float32 exp; every length from
// under one vector to several, so the masked tail is exercised.
TEST(ScaledExpKernel, MatchesFloat64ForFloat32AndBf16) {
  SKIP_WITHOUT_FUSED_KERNELS();
  auto gen = tips::rng::generator(3);
  for (const int64_t n : {1, 7, 16, 33, 1000}) {
    const auto x = torch::randn({n}, gen) * 1.5;
    for (const auto dtype : {torch::kFloat, torch::kBFloat16}) {
      const auto in = x.to(dtype);
      const auto out = K::scaled_exp(in, 1.0 / 0.07);
      ASSERT_EQ(out.scalar_type(), torch::kFloat);
      const auto exact = (in.to(torch::kDouble) * static_cast<double>(static_cast<float>(1.0 / 0.07))).exp();
      const auto rel = ((out.to(torch::kDouble) - exact).abs() / exact).max().item<double>();
      // 1 ulp from Sleef plus the rounding of x * scale, amplified by |x * scale| (up to ~80 here).
      EXPECT_LT(rel, 2.4e-7 * (1.0 + (in.to(torch::kDouble).abs().max().item<double>() / 0.07))) << n << " " << dtype;
    }
  }
}

TEST(ScaledExpKernel, KeepsTheShapeAndReadsStridedInput) {
  SKIP_WITHOUT_FUSED_KERNELS();
  auto gen = tips::rng::generator(5);
  const auto x = torch::randn({6, 40}, gen).t();  // (40, 6), not contiguous
  const auto out = K::scaled_exp(x, 2.0);
  EXPECT_EQ(out.sizes(), x.sizes());
  EXPECT_TRUE(torch::allclose(out, (x * 2.0).exp(), 1e-6, 0));
  EXPECT_FALSE(K::fused_scaled_exp_applies(x.to(torch::kDouble)));
}

// Sinkhorn-Knopp on the heads' bf16 scores (the kernel's path) gives the targets of the float32 path on the same
// values (ATen's cast, division and exp) up to float32 rounding.
TEST(ScaledExpKernel, SinkhornOnBf16ScoresMatchesTheFloat32Path) {
  SKIP_WITHOUT_FUSED_KERNELS();
  auto gen = tips::rng::generator(8);
  const auto scores = (torch::randn({50, 64}, gen) * 0.3).to(torch::kBFloat16);
  const auto fused = tips::loss::sinkhorn_knopp(scores, 0.07, 3);
  const auto reference = tips::loss::sinkhorn_knopp(scores.to(torch::kDouble), 0.07, 3).to(torch::kFloat);
  EXPECT_TRUE(torch::allclose(fused, reference, 1e-5, 1e-9)) << (fused - reference).abs().max().item<double>();
}

}  // namespace
