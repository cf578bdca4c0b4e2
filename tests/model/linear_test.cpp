// tips::model::Linear against torch::nn::Linear (the layer it replaces): same keys, same values and gradients in
// float32, and the fused path (one addmm over B*N rows) for the towers' (B, N, D) inputs.
#include "tips/model/linear.h"

#include <gtest/gtest.h>

#include "tips/core/compat.h"

namespace {

using tips::model::Linear;

// A (B, N, I) input through both layers with the same weights: outputs and the gradients of the input, the weight
// and the bias agree; the keys are torch::nn::Linear's, so its checkpoints load unchanged.
TEST(Linear, MatchesTorchLinearOnThreeDimInputs) {
  torch::manual_seed(0);
  Linear ours(6, 5);
  torch::nn::Linear theirs(6, 5);
  {
    torch::NoGradGuard no_grad;
    theirs->weight.copy_(ours->weight);
    theirs->bias.copy_(ours->bias);
  }
  std::vector<std::string> keys, want_keys;
  for (const auto& p : ours->named_parameters()) keys.push_back(p.key());
  for (const auto& p : theirs->named_parameters()) want_keys.push_back(p.key());
  EXPECT_EQ(keys, want_keys);

  const auto x = torch::randn({3, 4, 6}, torch::kDouble).to(torch::kFloat);
  auto xa = x.clone().requires_grad_(true), xb = x.clone().requires_grad_(true);
  const auto ya = ours(xa), yb = theirs(xb);
  ASSERT_EQ(ya.sizes(), (std::vector<int64_t>{3, 4, 5}));
  EXPECT_TRUE(torch::allclose(ya, yb, 1e-6, 1e-6));
  const auto g = torch::randn({3, 4, 5});
  (ya * g).sum().backward();
  (yb * g).sum().backward();
  EXPECT_TRUE(torch::allclose(xa.grad(), xb.grad(), 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(ours->weight.grad(), theirs->weight.grad(), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(ours->bias.grad(), theirs->bias.grad(), 1e-5, 1e-6));
  // By hand: y = x W^T + b for one row.
  const auto row = x[1][2];
  EXPECT_TRUE(
      torch::allclose(ya[1][2].detach(), torch::mv(ours->weight.detach(), row) + ours->bias.detach(), 1e-6, 1e-6));
}

// The reason for the layer: a contiguous (B, N, I) input is one addmm with the bias fused (ATen's linear), where
// torch::nn::Linear in LibTorch 1.13 runs a matmul and then an in-place bias add.
TEST(Linear, ThreeDimInputIsOneFusedAddmm) {
  Linear layer(8, 4);
  const auto y = layer(torch::randn({2, 3, 8}));
  ASSERT_TRUE(y.grad_fn());
  // (B*N, O) addmm, viewed back to (B, N, O).
  const auto* view = y.grad_fn().get();
  ASSERT_FALSE(view->next_edges().empty());
  const auto producer = view->next_edges()[0].function;
  ASSERT_TRUE(producer);
  EXPECT_EQ(producer->name(), "AddmmBackward0") << "output made by " << view->name();
  // Without a bias there is nothing to fuse, and the result is still x W^T.
  Linear plain(8, 4, /*with_bias=*/false);
  EXPECT_FALSE(plain->bias.defined());
  EXPECT_EQ(plain->named_parameters().size(), 1u);
  const auto x = torch::randn({5, 8});
  EXPECT_TRUE(torch::allclose(plain(x), torch::mm(x, plain->weight.t())));
}

// Under bf16 autocast the layer runs in bf16 like torch::nn::Linear (its weights stay float32 masters) and stays
// within bf16 rounding of the float32 result.
TEST(Linear, Bf16AutocastOutputIsBf16AndClose) {
  torch::manual_seed(1);
  Linear layer(64, 32);
  const auto x = torch::randn({4, 7, 64});
  const auto want = layer(x).detach();
  torch::Tensor got;
  {
    tips::compat::AutocastGuard autocast(c10::DeviceType::CPU, true, torch::kBFloat16);
    got = layer(x);
  }
  EXPECT_EQ(got.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(layer->weight.scalar_type(), torch::kFloat);
  EXPECT_LT((got.to(torch::kFloat) - want).abs().max().item<float>(), 0.05f);
}

}  // namespace
