#include "tips/model/attention.h"

#include <gtest/gtest.h>

#include "reference_impl.h"
#include "tips/core/compat.h"

namespace {

using namespace tips::model;

TEST(FusedQkvAttention, MatchesFloat64SoftmaxWithAndWithoutPadding) {
  struct Case {
    int64_t B, N, D, H;
    bool padded;
  };
  for (const Case c : {Case{2, 5, 8, 2, false}, Case{3, 4, 12, 3, true}, Case{1, 7, 6, 1, true}}) {
    SCOPED_TRACE("N=" + std::to_string(c.N) + " H=" + std::to_string(c.H));
    const auto x = torch::randn({c.B, c.N, c.D}, torch::kDouble);
    const auto wqkv = torch::randn({3 * c.D, c.D}, torch::kDouble) * 0.3, bqkv = torch::randn({3 * c.D}, torch::kDouble);
    const auto eye = torch::eye(c.D, torch::kDouble), zero = torch::zeros({c.D}, torch::kDouble);
    auto pad = torch::Tensor();
    if (c.padded) {
      pad = torch::zeros({c.B, c.N}, torch::kBool);
      pad.narrow(1, c.N - 2, 2).fill_(true);                // trailing padding in every row
      if (c.B > 2) pad[2].fill_(true);                       // and one row of nothing but padding
    }
    const auto got = fused_qkv_attention(ref::linear(x, wqkv, bqkv), c.H, pad);
    const auto want = ref::mha(x, wqkv, bqkv, eye, zero, c.H, pad);
    EXPECT_TRUE(torch::isfinite(got).all().item<bool>());
    EXPECT_TRUE(torch::allclose(got, want, 1e-10, 1e-12));
  }
}

// The gradient through the fused path (one permuted copy, unbind, scaled baddbmm) against autograd through the
// float64 reference's explicit per-head math.
TEST(FusedQkvAttention, GradientMatchesFloat64Reference) {
  const int64_t B = 3, N = 5, D = 8, H = 2;
  const auto x = torch::randn({B, N, D}, torch::kDouble).requires_grad_();
  const auto wqkv = torch::randn({3 * D, D}, torch::kDouble) * 0.3, bqkv = torch::randn({3 * D}, torch::kDouble);
  auto pad = torch::zeros({B, N}, torch::kBool);
  pad.narrow(1, N - 1, 1).fill_(true);
  const auto weights = torch::randn({B, N, D}, torch::kDouble);  // a loss that weighs every output differently
  const auto got =
      torch::autograd::grad({(fused_qkv_attention(ref::linear(x, wqkv, bqkv), H, pad) * weights).sum()}, {x})[0];
  const auto want = torch::autograd::grad(
      {(ref::mha(x, wqkv, bqkv, torch::eye(D, torch::kDouble), torch::zeros({D}, torch::kDouble), H, pad) * weights)
           .sum()},
      {x})[0];
  EXPECT_GT(want.abs().max().item<double>(), 1e-3);
  EXPECT_TRUE(torch::allclose(got, want, 1e-10, 1e-12)) << (got - want).abs().max().item<double>();
}

// Under bf16 autocast the output and the input gradient stay within bf16 precision of the float64 reference. With
// the composite (bf16 GEMMs, scores and softmax; TIPS_FUSED_KERNELS=0) the relative L2 errors are 0.85 % and
// 1.5 % here, nearly all from the bf16 GEMMs; with the fused attention kernel (kernels/attention.h, float32
// scores) 0.63 % and 1.08 %. An error in the math gives O(1).
TEST(FusedQkvAttention, Bf16AutocastStaysWithinBf16PrecisionOfFloat64) {
  const int64_t B = 4, N = 51, D = 128, H = 4;
  torch::manual_seed(3);
  const auto x = torch::randn({B, N, D}, torch::kDouble);
  const auto wqkv = torch::randn({3 * D, D}, torch::kDouble) * 0.15, bqkv = torch::randn({3 * D}, torch::kDouble);
  const auto weights = torch::randn({B, N, D}, torch::kDouble);
  const auto x64 = x.clone().requires_grad_();
  const auto want = fused_qkv_attention(ref::linear(x64, wqkv, bqkv), H);
  const auto want_grad = torch::autograd::grad({(want * weights).sum()}, {x64})[0];
  const auto x32 = x.to(torch::kFloat).requires_grad_();
  torch::Tensor got;
  {
    tips::compat::AutocastGuard autocast(torch::kCPU, true, torch::kBFloat16);
    got = fused_qkv_attention(torch::linear(x32, wqkv.to(torch::kFloat), bqkv.to(torch::kFloat)), H);
  }
  ASSERT_EQ(got.scalar_type(), torch::kBFloat16);
  const auto got_grad = torch::autograd::grad({(got.to(torch::kDouble) * weights).sum()}, {x32})[0];
  const auto rel = [](const torch::Tensor& a, const torch::Tensor& b) {
    return ((a.to(torch::kDouble) - b).norm() / b.norm()).item<double>();
  };
  EXPECT_LT(rel(got, want), 2e-2);
  EXPECT_LT(rel(got_grad, want_grad), 3e-2);
}

TEST(FusedQkvAttention, PaddedKeysHaveNoInfluence) {
  const auto qkv = torch::randn({1, 5, 12}, torch::kDouble);
  auto pad = torch::tensor({{false, false, false, true, true}});
  const auto a = fused_qkv_attention(qkv, 2, pad);
  auto changed = qkv.clone();
  changed.narrow(1, 3, 2).normal_();  // new keys and values at the padded positions
  const auto b = fused_qkv_attention(changed, 2, pad);
  EXPECT_TRUE(torch::allclose(a.narrow(1, 0, 3), b.narrow(1, 0, 3), 1e-12, 1e-12));
  EXPECT_THROW(fused_qkv_attention(qkv, 2, pad.to(torch::kFloat)), c10::Error);
}

TEST(Attention, ValuesPathIsProjOfV) {
  Attention attn(6, 2);
  attn->to(torch::kDouble);
  const auto x = torch::randn({2, 3, 6}, torch::kDouble);
  const auto& w = attn->qkv->weight;
  const auto& b = attn->qkv->bias;
  const auto v = ref::linear(x, w.narrow(0, 12, 6), b.narrow(0, 12, 6));
  const auto want = ref::linear(v, attn->proj->weight, attn->proj->bias);
  EXPECT_TRUE(torch::allclose(attn->forward_values(x), want, 1e-12, 1e-12));
  // Each token only sees itself: changing token 2 leaves tokens 0 and 1 unchanged.
  auto x2 = x.clone();
  x2.select(1, 2).normal_();
  EXPECT_TRUE(torch::equal(attn->forward_values(x2).narrow(1, 0, 2), attn->forward_values(x).narrow(1, 0, 2)));
}

TEST(Attention, ClsContributionsSumToTheFirstTokensOutput) {
  Attention attn(6, 2);
  attn->to(torch::kDouble);
  const auto x = torch::randn({2, 5, 6}, torch::kDouble);
  const auto terms = attn->cls_contributions(x);  // (2, 5, 6)
  ASSERT_EQ(terms.sizes(), x.sizes());
  // The attention's own output at token 0, minus the projection's bias, is the sum of the terms over the tokens.
  const auto want = attn->forward(x).select(1, 0) - attn->proj->bias;
  EXPECT_TRUE(torch::allclose(terms.sum(1), want, 1e-12, 1e-12));
  // A token's term does not depend on its own index: swapping tokens 3 and 4 swaps their terms.
  const auto swapped = attn->cls_contributions(x.index({torch::indexing::Slice(), torch::tensor({0, 1, 2, 4, 3})}));
  EXPECT_TRUE(torch::allclose(swapped.select(1, 3), terms.select(1, 4), 1e-12, 1e-12));
  // float32 input gives float32 terms (bf16 models are read in float32).
  EXPECT_EQ(attn->cls_contributions(x.to(torch::kFloat)).scalar_type(), torch::kFloat);
}

TEST(TextAttention, RegistersMultiheadAttentionNames) {
  TextAttention attn(8, 2);
  std::vector<std::string> names;
  for (const auto& kv : attn->named_parameters()) names.push_back(kv.key());
  EXPECT_EQ(names, (std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}));
}

}  // namespace
