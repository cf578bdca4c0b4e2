#include "tips/eval/linear_probe.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "../io/test_util.h"
#include "tips/core/error.h"
#include "tips/eval/visualize.h"

namespace {

using namespace tips::eval;
namespace fs = std::filesystem;

// Two points z = -1 and +1 of two classes, one each: by symmetry the weights are -a and +a and the biases 0, with
// a the root of the stationarity condition wd * a = sigmoid(-2 a) (derived by hand from
// loss(a) = log(1 + exp(-2 a)) + wd * a^2), found here by bisection.
TEST(LinearProbe, TwoPointsGiveTheHandDerivedWeights) {
  const double wd = 0.1;
  double lo = 0, hi = 10;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (wd * mid < 1.0 / (1.0 + std::exp(2 * mid)) ? lo : hi) = mid;
  }
  // Features 3 +- 2: standardised to -1 and +1 (mean 3, biased std 2).
  const auto probe = fit_linear_probe(torch::tensor({{1.0}, {5.0}}), torch::tensor({{1.0, 0.0}, {0.0, 1.0}}),
                                      {/*weight_decay=*/wd, /*max_iterations=*/500, /*gradient_tolerance=*/1e-10});
  EXPECT_NEAR(probe.mean.item<double>(), 3.0, 1e-12);
  EXPECT_NEAR(probe.inv_std.item<double>(), 0.5, 1e-12);
  EXPECT_NEAR(probe.weight[0][0].item<double>(), -lo, 1e-7);
  EXPECT_NEAR(probe.weight[1][0].item<double>(), lo, 1e-7);
  EXPECT_NEAR(probe.bias.abs().max().item<double>(), 0.0, 1e-7);
  EXPECT_NEAR(probe.loss, std::log1p(std::exp(-2 * lo)) + wd * lo * lo, 1e-10);
}

// At the optimum of a convex objective the gradient vanishes. The gradient here is written out by hand
// ((p - t)^T z / M + wd W for the weights, the mean of p - t for the bias), not taken from autograd.
TEST(LinearProbe, FittedWeightsSatisfyTheOptimalityCondition) {
  torch::manual_seed(3);
  const int64_t m = 400, d = 6, c = 4;
  const double wd = 0.05;
  const auto x = torch::randn({m, d}, torch::kDouble) * torch::tensor({1.0, 5.0, 0.1, 2.0, 1.0, 30.0}) + 7.0;
  const auto t = torch::softmax(torch::randn({m, c}, torch::kDouble) * 2, 1);
  const auto probe = fit_linear_probe(x.to(torch::kFloat), t, {wd, 500, /*gradient_tolerance=*/1e-9});
  const auto z = (x - x.mean(0)) / x.std(0, /*unbiased=*/false);
  const auto p = torch::softmax(z.mm(probe.weight.t()) + probe.bias, 1);
  const auto grad_w = (p - t).t().mm(z) / m + wd * probe.weight;
  const auto grad_b = (p - t).mean(0);
  EXPECT_LT(grad_w.abs().max().item<double>(), 1e-6);
  EXPECT_LT(grad_b.abs().max().item<double>(), 1e-6);
  // The objective it reports is that of its weights, and smaller than at a nudged point.
  EXPECT_NEAR(probe.loss, probe_objective(probe, x, t, wd), 1e-5);  // x in float for the fit
  auto nudged = probe;
  nudged.weight = probe.weight + 1e-2 * torch::randn_like(probe.weight);
  EXPECT_GT(probe_objective(nudged, x, t, wd), probe_objective(probe, x, t, wd));
}

TEST(LinearProbe, LogitsFollowTheGridLayout) {
  LinearProbe probe;
  const auto f64 = torch::kDouble;
  probe.mean = torch::tensor({1.0, 0.0}, f64);
  probe.inv_std = torch::tensor({2.0, 1.0}, f64);
  probe.weight = torch::tensor({{1.0, 0.0}, {0.0, 1.0}, {1.0, -1.0}}, f64);
  probe.bias = torch::tensor({0.0, 0.5, 0.0}, f64);
  // One image, a 1x2 grid: patch (0, 0) = (2, 3) -> z = (2, 3), patch (0, 1) = (0, 1) -> z = (-2, 1).
  const auto logits = probe_logits(probe, torch::tensor({{{2.0f, 3.0f}, {0.0f, 1.0f}}}), 1, 2);
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{1, 3, 1, 2}));
  const auto expected = torch::tensor({2.0f, -2.0f, 3.5f, 1.5f, -1.0f, -3.0f}).view({1, 3, 1, 2});
  EXPECT_TRUE(torch::allclose(logits, expected)) << logits;
  EXPECT_THROW(probe_logits(probe, torch::zeros({1, 3, 2}), 1, 2), c10::Error);
}

// Patch size 1, so every pixel is a patch. The value readout is the pixel's colour; the final readout is the
// same constant for every pixel, so a probe that read it instead could not beat the majority class.
class ProbeColourEncoders final : public Encoders {
 public:
  tips::model::VisionOutput encode_images(const torch::Tensor& images, bool dense_readouts) override {
    const auto colours = images.flatten(2).transpose(1, 2);  // (B, N, 3)
    tips::model::VisionOutput out;
    out.cls1 = out.cls2 = colours.mean(1);
    out.patches = torch::ones_like(colours);
    if (dense_readouts) out.value_patches = out.penultimate_patches = colours;
    return out;
  }
  torch::Tensor encode_texts(const std::vector<std::string>& texts) override {
    return torch::ones({static_cast<int64_t>(texts.size()), 3});
  }
  int64_t patch_size() const override { return 1; }
  torch::Device device() const override { return torch::kCPU; }
};

// A 4x4 canvas: each label (0 background, k + 1 class k) painted its own colour, as PNG image + label map.
void write_probe_canvas(const fs::path& dir, const std::string& name, const std::vector<uint8_t>& labels) {
  const uint8_t colour[4][3] = {{128, 128, 128}, {255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
  auto rgb = torch::empty({4, 4, 3}, torch::kUInt8);
  for (int64_t i = 0; i < 16; ++i)
    for (int64_t ch = 0; ch < 3; ++ch) rgb[i / 4][i % 4][ch] = colour[labels[i]][ch];
  write_png((dir / (name + ".png")).string(), rgb);
  write_png((dir / (name + "_mask.png")).string(), torch::tensor(labels, torch::kUInt8).view({4, 4}));
}

TEST(LinearProbe, EvaluationFitsOnOneSplitAndScoresTheOther) {
  tips::testing::TempDir tmp;
  const fs::path dir = tmp.str();
  std::ofstream(dir / "classes.txt") << "red\ngreen\nblue\n";
  write_probe_canvas(dir, "fit_a", {1, 1, 2, 2, 1, 1, 2, 2, 0, 0, 3, 3, 0, 0, 3, 3});
  write_probe_canvas(dir, "fit_b", {2, 2, 0, 0, 2, 2, 0, 0, 2, 2, 0, 0, 2, 2, 0, 0});
  write_probe_canvas(dir, "test", {3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 0, 0, 1, 1, 0, 0});
  std::ofstream(dir / "fit.jsonl") << R"({"image": "fit_a.png", "mask": "fit_a_mask.png"})"
                                   << "\n"
                                   << R"({"image": "fit_b.png", "mask": "fit_b_mask.png"})"
                                   << "\n";
  std::ofstream(dir / "test.jsonl") << R"({"image": "test.png", "mask": "test_mask.png"})"
                                    << "\n";
  EvalConfig cfg;
  cfg.seg_manifest = (dir / "test.jsonl").string();
  cfg.probe_manifest = (dir / "fit.jsonl").string();
  cfg.probe_readout = "value";
  cfg.image_size = 4;
  ProbeColourEncoders enc;
  EvalResults res;
  torch::NoGradGuard no_grad;  // as run_evaluations calls it: the fit must turn gradients back on
  evaluate_linear_probe(enc, cfg, /*object_classes=*/3, res);
  // The colours separate the classes linearly: every pixel of the test canvas right, background included.
  EXPECT_DOUBLE_EQ(res.metrics.at("probe/object_pixel_acc"), 1.0);
  EXPECT_DOUBLE_EQ(res.metrics.at("probe/obj_miou"), 1.0);
  EXPECT_DOUBLE_EQ(res.metrics.at("probe/pixel_acc"), 1.0);
  EXPECT_DOUBLE_EQ(res.metrics.at("probe/miou"), 1.0);
  EXPECT_EQ(res.counts.at("probe_fit"), 2);

  // The constant final readout: the probe can only learn the fit split's class shares (green 4 + 8 = 12 pixels,
  // background 4 + 8 = 12, red 4, blue 4), so every item pixel takes the commonest object class, green, which the
  // test canvas does not have: no item pixel is right.
  cfg.probe_readout = "final";
  EvalResults constant;
  evaluate_linear_probe(enc, cfg, 3, constant);
  EXPECT_DOUBLE_EQ(constant.metrics.at("probe/object_pixel_acc"), 0.0);

  cfg.seg_manifest = "";
  EXPECT_THROW(evaluate_linear_probe(enc, cfg, 3, res), tips::ConfigError);
}

}  // namespace
