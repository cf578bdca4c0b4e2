#include "tips/kernels/attention.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cmath>

#include "skip_without_kernels.h"
#include "tips/core/rng.h"
#include "tips/model/attention.h"

namespace {

namespace K = tips::kernels;

double attention_peak(const torch::Tensor& t) { return t.abs().max().item<double>(); }

// The same attention in float64 by plain tensor ops: qkv (B, N, 3D) -> (B, N, D), heads as in
// model::fused_qkv_attention ((B, N, 3, H, d) order). Also the per-row log-sum-exp of the scaled logits (B, H, N).
struct AttentionFloat64 {
  torch::Tensor out, lse;
};
AttentionFloat64 attention_float64(const torch::Tensor& qkv, int64_t heads) {
  const int64_t B = qkv.size(0), N = qkv.size(1), D = qkv.size(2) / 3, d = D / heads;
  const auto parts = qkv.to(torch::kDouble).view({B, N, 3, heads, d}).permute({2, 0, 3, 1, 4}).unbind(0);
  const auto logits = torch::matmul(parts[0], parts[1].transpose(-2, -1)) / std::sqrt(static_cast<double>(d));
  const auto out = torch::matmul(torch::softmax(logits, -1), parts[2]);  // (B, H, N, d)
  return {out.transpose(1, 2).reshape({B, N, D}), torch::logsumexp(logits, -1)};
}

torch::Tensor attention_qkv(int64_t B, int64_t N, int64_t D, uint64_t seed) {
  auto gen = tips::rng::generator(seed);
  return (torch::randn({B, N, 3 * D}, gen) * 1.5).to(torch::kBFloat16);
}

// The kernel also needs AVX512-BF16; an AVX-512 CPU without it (Skylake, Ice Lake) skips these tests, counted.
#define SKIP_WITHOUT_BF16_DOT_PRODUCTS()                         \
  SKIP_WITHOUT_FUSED_KERNELS();                                  \
  if (!K::fused_attention_applies(attention_qkv(1, 1, 2, 0), 1)) \
  GTEST_SKIP() << "this CPU lacks AVX512-BF16's dot products"

struct AttentionShape {
  int64_t tokens, heads, width;
};
// Token counts below, at and past one 16-lane vector and the demo's 51; head widths 8 (a masked vector), 32 (the
// demo's) and 40 (a vector and a half).
const AttentionShape kAttentionShapes[] = {{1, 4, 32}, {6, 4, 32}, {17, 2, 8}, {51, 4, 32}, {33, 1, 40}};

// Against float64 on the same bf16 inputs. The kernel rounds the probabilities to bf16 before p v (as the composite
// does) and the output once at the end: each moves an output by at most 2^-9 of the largest |v| (the
// probabilities sum to 1, and |out| <= max |v|), so within 2^-8 of max |v| plus float32 noise. The log-sum-exp is
// float32.
TEST(AttentionKernel, ForwardMatchesFloat64) {
  SKIP_WITHOUT_BF16_DOT_PRODUCTS();
  uint64_t seed = 30;
  for (const auto& s : kAttentionShapes) {
    const auto qkv = attention_qkv(3, s.tokens, s.heads * s.width, seed++);
    const auto rows = K::qkv_attention_forward(qkv, s.heads);
    const auto exact = attention_float64(qkv, s.heads);
    ASSERT_EQ(rows.out.sizes(), exact.out.sizes());
    const auto v = qkv.narrow(2, 2 * s.heads * s.width, s.heads * s.width).to(torch::kDouble);
    EXPECT_LT(attention_peak(rows.out.to(torch::kDouble) - exact.out), std::ldexp(1.0, -8) * attention_peak(v))
        << s.tokens << " tokens, width " << s.width;
    EXPECT_LT(attention_peak(rows.lse.to(torch::kDouble) - exact.lse), 1e-5 * attention_peak(exact.lse));
  }
}

// The same attention as LibTorch 1.13's composite runs it under bf16 autocast: bf16 GEMMs and a bf16 softmax.
torch::Tensor attention_bf16_composite(const torch::Tensor& qkv, int64_t heads) {
  const int64_t B = qkv.size(0), N = qkv.size(1), D = qkv.size(2) / 3, d = D / heads;
  const auto parts = qkv.view({B, N, 3, heads, d}).permute({2, 0, 3, 1, 4}).unbind(0);
  const auto logits = torch::matmul(parts[0], parts[1].transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(d)));
  return torch::matmul(torch::softmax(logits, -1), parts[2]).transpose(1, 2).reshape({B, N, D});
}

// The gradient of <w, attention(qkv)> by autograd through the kernel, against float64 autograd. The kernel rounds
// p and ds to bf16 as the composite's GEMMs do (and the three gradients once at the end), so the bound is the
// composite's own error against float64 on the same inputs: the kernel's must not be larger (it skips the
// composite's roundings of the logits and of d(probabilities)), with 10 % slack (and float32 noise where one
// token makes the composite exact).
TEST(AttentionKernel, GradientMatchesFloat64AsWellAsTheComposite) {
  SKIP_WITHOUT_BF16_DOT_PRODUCTS();
  uint64_t seed = 40;
  for (const auto& s : kAttentionShapes) {
    const auto qkv = attention_qkv(2, s.tokens, s.heads * s.width, seed++);
    auto gen = tips::rng::generator(seed++);
    const auto w = torch::randn({2, s.tokens, s.heads * s.width}, gen).to(torch::kBFloat16);
    const auto x = qkv.clone().requires_grad_(true);
    (K::qkv_attention(x, s.heads) * w).to(torch::kFloat).sum().backward();
    const auto xc = qkv.clone().requires_grad_(true);
    (attention_bf16_composite(xc, s.heads) * w).to(torch::kFloat).sum().backward();
    const auto xd = qkv.to(torch::kDouble).requires_grad_(true);
    (attention_float64(xd, s.heads).out * w.to(torch::kDouble)).sum().backward();
    ASSERT_EQ(x.grad().scalar_type(), torch::kBFloat16);
    const double kernel_error = attention_peak(x.grad().to(torch::kDouble) - xd.grad());
    const double composite_error = attention_peak(xc.grad().to(torch::kDouble) - xd.grad());
    const double peak = attention_peak(xd.grad());
    EXPECT_LE(kernel_error, 1.1 * composite_error + 1e-6 * peak) << s.tokens << " tokens, width " << s.width;
    EXPECT_LT(kernel_error, std::ldexp(1.0, -6) * peak);  // and small on its own (here 3-9 times under it)
  }
}

// The model's entry point takes the kernel for bf16 and the ATen composite for float32 (same inputs, widened): the
// two agree within bf16 rounding, so the kernel reads and writes the heads in the composite's order.
TEST(AttentionKernel, ModelPathAgreesWithTheComposite) {
  SKIP_WITHOUT_BF16_DOT_PRODUCTS();
  const auto qkv = attention_qkv(4, 51, 128, 50);
  const auto fused = tips::model::fused_qkv_attention(qkv, 4);
  const auto composite = tips::model::fused_qkv_attention(qkv.to(torch::kFloat), 4);
  EXPECT_LT(attention_peak(fused.to(torch::kFloat) - composite), std::ldexp(1.0, -7) * attention_peak(composite));
}

// Heads are independent tasks, each with its own scratch: one thread and two give the same bits.
TEST(AttentionKernel, SameBitsOnOneAndTwoThreads) {
  SKIP_WITHOUT_BF16_DOT_PRODUCTS();
  const auto qkv = attention_qkv(4, 51, 128, 60);
  const auto grad = attention_qkv(4, 51, 128, 61).narrow(2, 0, 128).contiguous();
  const int threads_before = at::get_num_threads();
  torch::Tensor out[2], dqkv[2];
  for (int t = 0; t < 2; ++t) {
    at::set_num_threads(t + 1);
    const auto rows = K::qkv_attention_forward(qkv, 4);
    out[t] = rows.out;
    dqkv[t] = K::qkv_attention_backward(grad, qkv, rows.lse, 4);
  }
  at::set_num_threads(threads_before);
  EXPECT_TRUE(torch::equal(out[0], out[1]));
  EXPECT_TRUE(torch::equal(dqkv[0], dqkv[1]));
}

TEST(AttentionKernel, AppliesOnlyToBf16QkvThatSplitsIntoHeads) {
  const auto qkv = attention_qkv(2, 5, 24, 70);
  EXPECT_FALSE(K::fused_attention_applies(qkv.to(torch::kFloat), 4));
  EXPECT_FALSE(K::fused_attention_applies(qkv, 5));  // 3D = 72 is not a multiple of 3 * 5
  EXPECT_FALSE(K::fused_attention_applies(qkv.view({2, 5, 3, 24}), 4));
  EXPECT_FALSE(K::fused_attention_applies(attention_qkv(2, 5, 9, 71), 3));  // head width 3: bf16 pairs need it even
  EXPECT_THROW(K::qkv_attention(qkv.to(torch::kFloat), 4), c10::Error);
}

}  // namespace
