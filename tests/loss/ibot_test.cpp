#include "tips/loss/ibot.h"

#include <gtest/gtest.h>

#include <cmath>

#include "grad_check.h"
#include "tips/core/rng.h"

namespace {

namespace L = tips::loss;
using L::PatchWeighting;

// CE of one patch with explicit loops, float64.
double patch_ce(const torch::Tensor& s, const torch::Tensor& t, int64_t b, int64_t n, double temp) {
  const int64_t K = s.size(2);
  double z = 0, out = 0;
  for (int64_t k = 0; k < K; ++k) z += std::exp(s[b][n][k].item<double>() / temp);
  for (int64_t k = 0; k < K; ++k) out -= t[b][n][k].item<double>() * (s[b][n][k].item<double>() / temp - std::log(z));
  return out;
}

// Independent per-mode formulas (iBOT, iBOT++ Eq. 3, group means), straight from their definitions.
double reference_loss(const torch::Tensor& s, const torch::Tensor& t, const torch::Tensor& mask, PatchWeighting mode,
                      double temp) {
  const int64_t B = s.size(0), N = s.size(1);
  double total = 0;
  for (int64_t b = 0; b < B; ++b) {
    double sum_m = 0, sum_v = 0;
    int64_t n_m = 0, n_v = 0;
    for (int64_t n = 0; n < N; ++n) {
      const double ce = patch_ce(s, t, b, n, temp);
      if (mask[b][n].item<bool>()) sum_m += ce, ++n_m;
      else sum_v += ce, ++n_v;
    }
    switch (mode) {
      case PatchWeighting::kMaskedOnly: total += n_m ? sum_m / n_m : 0.0; break;
      case PatchWeighting::kAllPatches: total += (sum_m + sum_v) / N; break;
      case PatchWeighting::kSeparateGroupMeans: total += (n_m ? sum_m / n_m : 0.0) + (n_v ? sum_v / n_v : 0.0); break;
    }
  }
  return total / B;  // every image counts in the denominator (DINOv2)
}

struct Inputs {
  torch::Tensor s, t, mask;
};
Inputs make_inputs(int64_t B, int64_t N, int64_t K, uint64_t seed, double mask_p) {
  auto gen = tips::rng::generator(seed);
  Inputs in;
  in.s = torch::randn({B, N, K}, gen, torch::kDouble);
  in.t = torch::softmax(torch::randn({B, N, K}, gen, torch::kDouble) / 0.3, -1);
  in.mask = torch::rand({B, N}, gen) < mask_p;
  return in;
}

TEST(Ibot, EveryModeMatchesFloat64Loops) {
  const PatchWeighting modes[] = {PatchWeighting::kMaskedOnly, PatchWeighting::kAllPatches,
                                  PatchWeighting::kSeparateGroupMeans};
  auto in = make_inputs(4, 6, 5, 1, 0.5);
  in.mask[2].fill_(false);  // one image without any masked patch
  in.mask[3].fill_(true);   // one image with no visible patch
  for (auto mode : modes) {
    SCOPED_TRACE("mode " + std::to_string(static_cast<int>(mode)));
    const auto w = L::ibot_patch_weights(in.mask, mode);
    EXPECT_NEAR(L::ibot_patch_loss(in.s, in.t, w, 0.1).item<double>(),
                reference_loss(in.s, in.t, in.mask, mode, 0.1), 1e-5);  // weights are float32
  }
}

TEST(Ibot, WeightsAreHandComputed) {
  // 2 images x 4 patches: image 0 masks patches 0,1; image 1 masks nothing.
  const auto mask = torch::tensor({{1, 1, 0, 0}, {0, 0, 0, 0}}).to(torch::kBool);
  struct Case {
    PatchWeighting mode;
    std::vector<float> expect;
  };
  const Case cases[] = {
      {PatchWeighting::kMaskedOnly, {0.25f, 0.25f, 0, 0, 0, 0, 0, 0}},                     // (1/2) / B
      {PatchWeighting::kAllPatches, {0.125f, 0.125f, 0.125f, 0.125f, 0.125f, 0.125f, 0.125f, 0.125f}},
      {PatchWeighting::kSeparateGroupMeans, {0.25f, 0.25f, 0.25f, 0.25f, 0.125f, 0.125f, 0.125f, 0.125f}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("mode " + std::to_string(static_cast<int>(c.mode)));
    const auto w = L::ibot_patch_weights(mask, c.mode);
    EXPECT_TRUE(torch::equal(w.reshape(-1), torch::tensor(c.expect))) << w;
  }
}

TEST(Ibot, PlusPlusEqualsIbotWhenEverythingIsMasked) {
  auto in = make_inputs(3, 5, 4, 2, 0.5);
  const auto all = torch::ones({3, 5}, torch::kBool);
  const auto ibot = L::ibot_patch_loss(in.s, in.t, L::ibot_patch_weights(all, PatchWeighting::kMaskedOnly), 0.1);
  const auto pp = L::ibot_patch_loss(in.s, in.t, L::ibot_patch_weights(all, PatchWeighting::kAllPatches), 0.1);
  EXPECT_NEAR(ibot.item<double>(), pp.item<double>(), 1e-6);
  EXPECT_GT(pp.item<double>(), 0.0);
}

TEST(Ibot, NothingMaskedGivesIbotZeroButPlusPlusNot) {
  auto in = make_inputs(3, 5, 4, 3, 0.5);
  const auto none = torch::zeros({3, 5}, torch::kBool);
  const auto ibot = L::ibot_patch_loss(in.s, in.t, L::ibot_patch_weights(none, PatchWeighting::kMaskedOnly), 0.1);
  const auto pp = L::ibot_patch_loss(in.s, in.t, L::ibot_patch_weights(none, PatchWeighting::kAllPatches), 0.1);
  EXPECT_EQ(ibot.item<double>(), 0.0);
  EXPECT_GT(pp.item<double>(), 0.1);
}

// Eq. 3 (uniform token weight) = r * mean(CE masked) + (1 - r) * mean(CE visible), NOT their sum.
TEST(Ibot, AllPatchesIsTheRatioWeightedMixOfGroupMeans) {
  auto in = make_inputs(2, 8, 3, 4, 0.0);
  in.mask.narrow(1, 0, 6).fill_(true);  // r = 6/8 in each image
  const double ce_all = L::ibot_patch_loss(in.s, in.t, L::ibot_patch_weights(in.mask, PatchWeighting::kAllPatches), 0.1)
                            .item<double>();
  const double m = L::ibot_patch_loss(in.s, in.t, L::ibot_patch_weights(in.mask, PatchWeighting::kMaskedOnly), 0.1)
                       .item<double>();
  const double groups =
      L::ibot_patch_loss(in.s, in.t, L::ibot_patch_weights(in.mask, PatchWeighting::kSeparateGroupMeans), 0.1)
          .item<double>();
  const double v = groups - m;  // mean over images of mean(CE visible)
  EXPECT_NEAR(ce_all, 0.75 * m + 0.25 * v, 1e-5);
  EXPECT_GT(std::abs(groups - ce_all), 1e-3);
}

TEST(Ibot, GradientMatchesFiniteDifferences) {
  auto in = make_inputs(2, 3, 4, 5, 0.5);
  const auto w = L::ibot_patch_weights(in.mask, PatchWeighting::kSeparateGroupMeans).to(torch::kDouble);
  EXPECT_LT(tips::testing::max_grad_error([&](const torch::Tensor& x) { return L::ibot_patch_loss(x, in.t, w, 0.1); },
                                          in.s),
            1e-6);
}

TEST(Ibot, ConfigSelectsTheWeighting) {
  tips::loss::IbotConfig c;
  EXPECT_EQ(L::patch_weighting(c), PatchWeighting::kAllPatches);  // TIPSv2 default
  c.separate_group_means = true;
  EXPECT_EQ(L::patch_weighting(c), PatchWeighting::kSeparateGroupMeans);
  c.all_patches = false;
  EXPECT_EQ(L::patch_weighting(c), PatchWeighting::kMaskedOnly);
}

}  // namespace
