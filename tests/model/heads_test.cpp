#include "tips/model/heads.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tips/core/rng.h"

namespace {

using tips::model::DinoHead;
using tips::model::HeadsConfig;
using tips::model::ProjectionHeads;

HeadsConfig small(int64_t layers = 3, bool separate = true) {
  HeadsConfig c;
  c.prototypes = 32;
  c.hidden = 16;
  c.bottleneck = 8;
  c.num_layers = layers;
  c.ibot_separate = separate;
  return c;
}

int64_t count(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

TEST(Heads, ParameterCountAndNamesFollowTheLayerCount) {
  struct Case {
    int64_t layers, expect;
  };
  // D=12, F=16, P=8, K=32: Linear(12,16) [+ Linear(16,16)]* + Linear(16,8) + prototypes 32x8 (no bias).
  const Case cases[] = {{1, 12 * 8 + 8 + 32 * 8},
                        {2, 12 * 16 + 16 + 16 * 8 + 8 + 32 * 8},
                        {3, 12 * 16 + 16 + 16 * 16 + 16 + 16 * 8 + 8 + 32 * 8}};
  for (const auto& c : cases) {
    SCOPED_TRACE("layers=" + std::to_string(c.layers));
    DinoHead head(small(c.layers), /*in_dim=*/12, /*seed=*/1);
    EXPECT_EQ(count(*head), c.expect);
    const auto names = head->named_parameters();
    EXPECT_NE(names.find("last_layer.weight_v"), nullptr);
    EXPECT_NE(names.find("mlp." + std::to_string(2 * (c.layers - 1)) + ".weight"), nullptr);
  }
}

TEST(Heads, AnalyticCountEqualsTheModules) {
  for (int64_t layers : {1, 2, 4}) {
    for (bool separate : {false, true}) {
      SCOPED_TRACE("layers=" + std::to_string(layers) + " separate=" + std::to_string(separate));
      const auto cfg = small(layers, separate);
      EXPECT_EQ(tips::model::heads_param_count(cfg, 12), count(*ProjectionHeads(cfg, 12, 0)));
      EXPECT_EQ(tips::model::dino_head_param_count(cfg, 12), count(*DinoHead(cfg, 12, 0)));
    }
  }
}

TEST(Heads, ShapesAndCosineRange) {
  DinoHead head(small(), 12, 2);
  auto gen = tips::rng::generator(3);
  const auto cls = head->forward(torch::randn({4, 12}, gen));
  const auto patches = head->forward(torch::randn({4, 5, 12}, gen));
  EXPECT_EQ(cls.sizes().vec(), (std::vector<int64_t>{4, 32}));
  EXPECT_EQ(patches.sizes().vec(), (std::vector<int64_t>{4, 5, 32}));
  EXPECT_LE(patches.abs().max().item<float>(), 1.0f + 1e-5f);
  EXPECT_THROW(head->forward(torch::randn({4, 11})), c10::Error);
}

// weight_g == 1: only the prototype directions matter, and logits are cosines with the bottleneck embedding.
TEST(Heads, PrototypeLayerIsWeightNormalisedWithUnitGain) {
  DinoHead head(small(), 12, 4);
  auto gen = tips::rng::generator(5);
  const auto x = torch::randn({3, 12}, gen);
  const auto before = head->forward(x);
  {
    torch::NoGradGuard ng;
    head->last_layer->weight_v.mul_(torch::rand({32, 1}, gen) * 10 + 0.1);  // positive per-row scales
  }
  EXPECT_TRUE(torch::allclose(head->forward(x), before, 1e-5, 1e-6));
  // Independent check of one logit: cos(embed(x), prototype row).
  const auto e = head->embed(x)[1];
  const auto w = head->last_layer->weight_v[7];
  const double cos = (e * w).sum().item<double>() / (e.norm().item<double>() * w.norm().item<double>());
  EXPECT_NEAR(head->forward(x)[1][7].item<double>(), cos, 1e-5);
  EXPECT_NEAR(e.norm().item<double>(), 1.0, 1e-5);
}

TEST(Heads, InitIsSeededTruncatedNormal) {
  HeadsConfig c = small();
  c.hidden = 256;
  DinoHead a(c, 128, 7), b(c, 128, 7), other(c, 128, 8);
  const auto wa = a->named_parameters()["mlp.0.weight"];
  EXPECT_TRUE(torch::equal(wa, b->named_parameters()["mlp.0.weight"]));
  EXPECT_FALSE(torch::equal(wa, other->named_parameters()["mlp.0.weight"]));
  // timm / DINOv2 trunc_normal_(std=0.02): the cut at +-2 (absolute) leaves N(0, 0.02) unchanged in practice.
  EXPECT_NEAR(wa.std().item<double>(), 0.02, 0.0005);
  EXPECT_NEAR(wa.mean().item<double>(), 0.0, 0.0005);
  EXPECT_EQ(a->named_parameters()["mlp.0.bias"].abs().sum().item<double>(), 0.0);
}

TEST(Heads, SeparateOrSharedIbotHead) {
  ProjectionHeads separate(small(3, true), 12, 1), shared(small(3, false), 12, 1);
  EXPECT_TRUE(separate->ibot_separate());
  EXPECT_NE(separate->ibot().ptr(), separate->dino.ptr());
  EXPECT_FALSE(torch::equal(separate->ibot()->last_layer->weight_v, separate->dino->last_layer->weight_v));
  EXPECT_NE(separate->named_parameters().find("ibot.last_layer.weight_v"), nullptr);
  EXPECT_FALSE(shared->ibot_separate());
  EXPECT_EQ(shared->ibot().ptr(), shared->dino.ptr());
  EXPECT_EQ(shared->named_parameters().find("ibot.last_layer.weight_v"), nullptr);
  EXPECT_EQ(count(*separate), 2 * count(*shared));
}

TEST(Heads, CloneIsEqualAndIndependent) {
  ProjectionHeads heads(small(), 12, 3);
  auto copy = std::dynamic_pointer_cast<tips::model::ProjectionHeadsImpl>(heads->clone());
  ASSERT_TRUE(copy);
  const auto src = heads->named_parameters();
  const auto dst = copy->named_parameters();
  ASSERT_EQ(src.size(), dst.size());
  for (const auto& item : src) {
    SCOPED_TRACE(item.key());
    EXPECT_TRUE(torch::equal(item.value(), dst[item.key()]));
    EXPECT_NE(item.value().data_ptr(), dst[item.key()].data_ptr());
  }
  const auto x = torch::randn({2, 12});
  EXPECT_TRUE(torch::equal(heads->ibot()->forward(x), copy->ibot()->forward(x)));
}

}  // namespace
