#include "tips/model/block.h"

#include <gtest/gtest.h>

#include "reference_impl.h"
#include "tips/core/rng.h"

namespace {

using namespace tips::model;
namespace ref = tips::model::ref;

TEST(LayerScale, ScalesEachChannel) {
  LayerScale ls(3, 0.25);
  EXPECT_TRUE(torch::equal(ls->gamma, torch::full({3}, 0.25)));
  const auto x = torch::tensor({{1.0f, -2.0f, 4.0f}});
  EXPECT_TRUE(torch::allclose(ls(x), torch::tensor({{0.25f, -0.5f, 1.0f}})));
}

TEST(Mlp, GeluSwiGluAndMaskedReluMatchFormulas) {
  const auto x = torch::randn({2, 3, 4}, torch::kDouble);
  Mlp gelu(4, 6);
  gelu->to(torch::kDouble);
  EXPECT_TRUE(torch::allclose(gelu(x), ref::linear(ref::gelu_exact(ref::linear(x, gelu->fc1->weight, gelu->fc1->bias)),
                                                    gelu->fc2->weight, gelu->fc2->bias)));
  SwiGluMlp sw(4, 5);
  sw->to(torch::kDouble);
  const auto ab = ref::linear(x, sw->w12->weight, sw->w12->bias);
  const auto a = ab.narrow(2, 0, 5), g = ab.narrow(2, 5, 5);  // first half gated by SiLU, times second half
  EXPECT_TRUE(torch::allclose(sw(x), ref::linear(a / (1 + torch::exp(-a)) * g, sw->w3->weight, sw->w3->bias)));
  TextMlp relu(4, 6);
  relu->to(torch::kDouble);
  const auto keep = torch::tensor({{true, true, false}, {true, false, false}});
  const auto out = relu(x, keep);
  const auto full = ref::linear(torch::relu(ref::linear(x, relu->c_fc->weight, relu->c_fc->bias)), relu->c_proj->weight,
                                relu->c_proj->bias);
  EXPECT_TRUE(torch::allclose(out, full * keep.unsqueeze(-1).to(torch::kDouble)));
  EXPECT_EQ(out[1][2].abs().max().item<double>(), 0.0);  // output zeroed (c_proj bias would leak otherwise)
}

TEST(Block, DropPathDropsWholeSampleBranchesAtTheConfiguredRate) {
  BlockConfig c;
  c.dim = 8;
  c.num_heads = 2;
  c.mlp_hidden = 16;
  c.layerscale_init = 1.0;
  c.drop_path = 0.3;
  Block blk(c);
  torch::NoGradGuard no_grad;
  blk->ls2->gamma.zero_();  // only the attention branch remains: y = x + keep_b / 0.7 * branch
  const int64_t B = 2000;
  const auto x = torch::randn({B, 3, 8});
  blk->eval();
  const auto branch = blk->forward(x) - x;
  blk->train();
  auto gen = tips::rng::generator(123);
  const auto got = blk->forward(x, &gen) - x;
  const auto ratio = (got * branch).sum({1, 2}) / (branch * branch).sum({1, 2});  // per-sample scale
  const auto dropped = ratio.abs() < 1e-4, kept = (ratio - 1.0 / 0.7).abs() < 1e-4;
  EXPECT_TRUE((dropped | kept).all().item<bool>());
  EXPECT_NEAR(dropped.to(torch::kDouble).mean().item<double>(), 0.3, 0.04);  // ~4 sigma of Binomial(2000, .3)
  EXPECT_THROW(blk->forward(x), c10::Error);  // training with drop_path needs a generator
}

}  // namespace
