#include "tips/kernels/soft_cross_entropy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "skip_without_kernels.h"
#include "tips/core/rng.h"
#include "tips/loss/ibot.h"

namespace {

namespace K = tips::kernels;

struct CeOperands {
  torch::Tensor logits, probs;  // float32
};

// Logits of the scale the prototype heads give (cosines in [-1, 1], here wider), probability rows, and two rows
// whose targets do not sum to 1 (mass 0.5 and 2), which the loss must weigh by their mass.
CeOperands make_ce_operands(int64_t rows, int64_t k, uint64_t seed) {
  auto gen = tips::rng::generator(seed);
  CeOperands in;
  in.logits = torch::randn({rows, k}, gen) * 2.0;
  in.probs = torch::softmax(torch::randn({rows, k}, gen) / 0.3, -1);
  in.probs[0] *= 0.5;
  in.probs[1] *= 2.0;
  return in;
}

// -sum_k p_k log_softmax(x / T)_k in float64, and its gradient by autograd through ATen's log_softmax.
struct Reference {
  torch::Tensor ce, grad;
};
Reference reference(const torch::Tensor& logits, const torch::Tensor& probs, double temp, const torch::Tensor& g) {
  auto x = logits.to(torch::kDouble).detach().requires_grad_(true);
  const auto ce = -(probs.to(torch::kDouble) * torch::log_softmax(x / temp, -1)).sum(-1);
  ce.backward(g.to(torch::kDouble));
  return {ce.detach(), x.grad()};
}

double max_abs(const torch::Tensor& t) { return t.abs().max().item<double>(); }

// The same composite as reference() in float32: what the loss ran before these kernels.
Reference composite_f32(const torch::Tensor& logits, const torch::Tensor& probs, double temp, const torch::Tensor& g) {
  auto x = logits.detach().clone().requires_grad_(true);
  const auto ce = -(probs * torch::log_softmax(x / temp, -1)).sum(-1);
  ce.backward(g);
  return {ce.detach(), x.grad()};
}

// Against float64, the kernels must be about as accurate as ATen's float32 composite (within 3x its error and a
// few float32 units of the gradient's scale g / T).
TEST(SoftCrossEntropyKernel, Float32MatchesFloat64ReferenceWithATailOfColumns) {
  SKIP_WITHOUT_FUSED_KERNELS();
  for (const int64_t k : {1, 15, 37, 1024}) {  // below, between and at multiples of the 16 lanes
    const auto in = make_ce_operands(5, k, 7 + k);
    const double temp = 0.1;
    auto gen = tips::rng::generator(11);
    const auto g = torch::randn({5}, gen);
    const auto ref = reference(in.logits, in.probs, temp, g);
    const auto aten = composite_f32(in.logits, in.probs, temp, g);
    const auto rows = K::soft_cross_entropy_forward(in.logits, in.probs, 1.0 / temp);
    const auto grad = K::soft_cross_entropy_backward(g, in.logits, in.probs, rows, 1.0 / temp);
    const double ce_scale = max_abs(ref.ce), grad_scale = max_abs(g) / temp * 2.0;  // |mass q - p| <= 2 here
    const double aten_ce_err = max_abs(aten.ce.to(torch::kDouble) - ref.ce);
    const double aten_grad_err = max_abs(aten.grad.to(torch::kDouble) - ref.grad);
    EXPECT_LE(max_abs(rows.ce.to(torch::kDouble) - ref.ce), 3 * aten_ce_err + 4e-7 * (1.0 + ce_scale)) << "K = " << k;
    EXPECT_LE(max_abs(grad.to(torch::kDouble) - ref.grad), 3 * aten_grad_err + 4e-7 * grad_scale) << "K = " << k;
    EXPECT_TRUE(torch::allclose(rows.mass.to(torch::kDouble), in.probs.to(torch::kDouble).sum(-1), 0, 1e-5));
    EXPECT_EQ(grad.scalar_type(), torch::kFloat);
  }
}

TEST(SoftCrossEntropyKernel, LargeLogitsStayFiniteAndExact) {
  SKIP_WITHOUT_FUSED_KERNELS();
  auto in = make_ce_operands(3, 40, 3);
  in.logits = in.logits * 40.0;  // z up to ~ 3000 at T = 0.05: exp(z) overflows without the max shift
  const auto g = torch::ones({3});
  const auto ref = reference(in.logits, in.probs, 0.05, g);
  const auto rows = K::soft_cross_entropy_forward(in.logits, in.probs, 1.0 / 0.05);
  const auto grad = K::soft_cross_entropy_backward(g, in.logits, in.probs, rows, 1.0 / 0.05);
  EXPECT_TRUE(torch::isfinite(rows.ce).all().item<bool>());
  EXPECT_LT(max_abs(rows.ce.to(torch::kDouble) - ref.ce) / max_abs(ref.ce), 1e-6);
  EXPECT_LT(max_abs(grad.to(torch::kDouble) - ref.grad), 1e-4 * max_abs(ref.grad));
}

// The bf16 path reads bf16 exactly as its float32 value and rounds the gradient to nearest even: so it must equal,
// bit for bit, the float32 path on the widened logits followed by ATen's own cast to bf16.
TEST(SoftCrossEntropyKernel, Bf16EqualsTheFloat32PathRoundedByATen) {
  SKIP_WITHOUT_FUSED_KERNELS();
  const auto in = make_ce_operands(9, 1000, 5);
  const auto logits_bf16 = in.logits.to(torch::kBFloat16);
  const auto widened = logits_bf16.to(torch::kFloat);
  auto gen = tips::rng::generator(2);
  const auto g = torch::randn({9}, gen);
  const auto rows16 = K::soft_cross_entropy_forward(logits_bf16, in.probs, 10.0);
  const auto rows32 = K::soft_cross_entropy_forward(widened, in.probs, 10.0);
  EXPECT_TRUE(torch::equal(rows16.ce, rows32.ce));
  EXPECT_TRUE(torch::equal(rows16.max, rows32.max) && torch::equal(rows16.log_sum, rows32.log_sum));
  const auto grad16 = K::soft_cross_entropy_backward(g, logits_bf16, in.probs, rows16, 10.0);
  const auto grad32 = K::soft_cross_entropy_backward(g, widened, in.probs, rows32, 10.0);
  ASSERT_EQ(grad16.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(grad16, grad32.to(torch::kBFloat16)));
  EXPECT_GT(max_abs(grad32 - grad16.to(torch::kFloat)), 0.0) << "the rounding must have had something to do";
}

TEST(SoftCrossEntropyKernel, NanLogitGivesANanRowNotAnError) {
  SKIP_WITHOUT_FUSED_KERNELS();
  auto in = make_ce_operands(3, 20, 1);
  in.logits[1][4] = std::numeric_limits<float>::quiet_NaN();
  const auto rows = K::soft_cross_entropy_forward(in.logits, in.probs, 10.0);
  EXPECT_FALSE(std::isfinite(rows.ce[1].item<float>()));  // the trainer's finiteness check sees it
  EXPECT_TRUE(std::isfinite(rows.ce[0].item<float>()) && std::isfinite(rows.ce[2].item<float>()));
  const auto grad = K::soft_cross_entropy_backward(
      torch::ones({3}), in.logits.to(torch::kBFloat16), in.probs,
      K::soft_cross_entropy_forward(in.logits.to(torch::kBFloat16), in.probs, 10.0), 10.0);
  EXPECT_TRUE(torch::isnan(grad[1].to(torch::kFloat)).all().item<bool>());
}

TEST(SoftCrossEntropyKernel, AppliesOnlyToWhatItComputes) {
  SKIP_WITHOUT_FUSED_KERNELS();
  const auto in = make_ce_operands(4, 8, 1);
  EXPECT_TRUE(K::fused_soft_cross_entropy_applies(in.logits, in.probs));
  EXPECT_TRUE(K::fused_soft_cross_entropy_applies(in.logits.to(torch::kBFloat16), in.probs));
  EXPECT_FALSE(K::fused_soft_cross_entropy_applies(in.logits.to(torch::kDouble), in.probs));
  EXPECT_FALSE(K::fused_soft_cross_entropy_applies(in.logits, in.probs.to(torch::kBFloat16)));
  EXPECT_FALSE(K::fused_soft_cross_entropy_applies(in.logits, in.probs.narrow(1, 0, 4)));
  EXPECT_FALSE(K::fused_soft_cross_entropy_applies(in.logits, in.probs.clone().requires_grad_(true)));
}

// The iBOT loss on bf16 logits (autocast's output) takes the fused node: its value and gradient agree with the
// float64 loss on the same logit values.
TEST(SoftCrossEntropyKernel, IbotLossOnBf16LogitsMatchesFloat64) {
  SKIP_WITHOUT_FUSED_KERNELS();
  auto gen = tips::rng::generator(4);
  const auto logits = (torch::randn({2, 6, 64}, gen) * 0.5).to(torch::kBFloat16);
  const auto probs = torch::softmax(torch::randn({2, 6, 64}, gen) / 0.2, -1);
  const auto weight = torch::full({2, 6}, 1.0 / 12.0);
  auto x16 = logits.clone().requires_grad_(true);
  const auto loss16 = tips::loss::ibot_patch_loss(x16, probs, weight, 0.1);
  loss16.backward();
  auto x64 = logits.to(torch::kDouble).requires_grad_(true);
  const auto loss64 = tips::loss::ibot_patch_loss(x64, probs.to(torch::kDouble), weight.to(torch::kDouble), 0.1);
  loss64.backward();
  EXPECT_EQ(loss16.scalar_type(), torch::kFloat);
  EXPECT_NEAR(loss16.item<double>(), loss64.item<double>(), 1e-5 * loss64.item<double>());
  ASSERT_EQ(x16.grad().scalar_type(), torch::kBFloat16);
  // bf16 keeps 8 bits of mantissa: each gradient within half a unit of the exact value (plus float32 noise).
  const auto exact = x64.grad();
  const auto err = (x16.grad().to(torch::kDouble) - exact).abs();
  EXPECT_TRUE((err <= exact.abs() * (1.0 / 256) + 1e-9).all().item<bool>()) << err.max().item<double>();
}

}  // namespace
