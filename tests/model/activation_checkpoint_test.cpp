// Activation checkpointing must not change what is computed: the same outputs and the same gradients as the plain
// forward, with stochastic depth on (the replay has to redraw the same masks) and with a masked forward.
#include "tips/model/activation_checkpoint.h"

#include <gtest/gtest.h>

#include "reference_impl.h"
#include "tips/core/rng.h"
#include "tips/model/vit.h"

namespace {

using tips::model::VisionTransformer;

struct PassResult {
  torch::Tensor cls1, patches;
  std::map<std::string, torch::Tensor> grads;
};

// One training forward + backward of a scalar that touches every output, from a fixed drop-path stream.
PassResult forward_backward(bool checkpoint, const torch::Tensor& images, const torch::Tensor& mask) {
  auto cfg = tips::model::ref::tiny_vision(tips::model::FfnKind::kGelu);
  cfg.drop_path = 0.3;
  cfg.layerscale_init = 0.5;  // large enough that every block shapes the gradient
  VisionTransformer vit(cfg, /*seed=*/5);
  vit->to(torch::kFloat64);
  vit->train();
  vit->set_activation_checkpointing(checkpoint);
  vit->set_drop_path_generator(tips::rng::generator(99));
  const auto out = vit->forward(images, mask);
  const auto w1 = torch::linspace(-1, 1, out.cls1.size(-1), torch::kFloat64);
  const auto loss = (out.cls1 * w1).sum() + 0.5 * out.cls2.pow(2).sum() + out.patches.sin().mean();
  loss.backward();
  PassResult r{out.cls1.detach(), out.patches.detach(), {}};
  for (const auto& p : vit->named_parameters()) r.grads[p.key()] = p.value().grad().clone();
  return r;
}

TEST(ActivationCheckpoint, SameOutputsAndGradientsAsThePlainForwardWithDropPath) {
  auto gen = tips::rng::generator(3);
  const auto cfg = tips::model::ref::tiny_vision(tips::model::FfnKind::kGelu);
  const int64_t side = 2 * cfg.patch_size, n = 4;
  const auto images = torch::rand({6, 3, side, side}, gen, torch::kFloat64);
  const auto mask = torch::rand({6, n}, gen) < 0.4;
  const PassResult plain = forward_backward(false, images, mask);
  const PassResult ckpt = forward_backward(true, images, mask);
  EXPECT_TRUE(torch::allclose(plain.cls1, ckpt.cls1, 0, 1e-12));
  EXPECT_TRUE(torch::allclose(plain.patches, ckpt.patches, 0, 1e-12));
  ASSERT_EQ(plain.grads.size(), ckpt.grads.size());
  int64_t nonzero = 0;
  for (const auto& [name, g] : plain.grads) {
    ASSERT_TRUE(ckpt.grads.at(name).defined()) << name;
    EXPECT_TRUE(torch::allclose(g, ckpt.grads.at(name), 1e-10, 1e-12))
        << name << " max diff " << (g - ckpt.grads.at(name)).abs().max().item<double>();
    nonzero += g.abs().sum().item<double>() > 0;
  }
  // Most gradients are non-zero (a comparison of zeros would prove nothing).
  EXPECT_GT(nonzero, static_cast<int64_t>(plain.grads.size()) / 2);
}

TEST(ActivationCheckpoint, ReplayUsesTheDrawsOfTheOriginalForward) {
  // Guard against a replay that draws fresh masks: with drop path, a different stream changes the outputs.
  auto cfg = tips::model::ref::tiny_vision(tips::model::FfnKind::kGelu);
  cfg.drop_path = 0.5;
  VisionTransformer vit(cfg, 5);
  vit->train();
  const auto images = torch::rand({8, 3, 2 * cfg.patch_size, 2 * cfg.patch_size}, tips::rng::generator(1));
  vit->set_drop_path_generator(tips::rng::generator(1));
  const auto a = vit->forward(images).cls1;
  vit->set_drop_path_generator(tips::rng::generator(2));
  const auto b = vit->forward(images).cls1;
  EXPECT_FALSE(torch::allclose(a, b));
}

TEST(ActivationCheckpoint, NoGradForwardIsThePlainForward) {
  const auto cfg = tips::model::ref::tiny_vision(tips::model::FfnKind::kGelu);
  VisionTransformer vit(cfg, 5);
  vit->set_activation_checkpointing(true);
  const auto images = torch::rand({2, 3, 2 * cfg.patch_size, 2 * cfg.patch_size}, tips::rng::generator(4));
  torch::NoGradGuard no_grad;
  const auto out = vit->forward(images);
  EXPECT_FALSE(out.cls1.requires_grad());
  vit->set_activation_checkpointing(false);
  EXPECT_TRUE(torch::equal(out.cls1, vit->forward(images).cls1));
}

}  // namespace
