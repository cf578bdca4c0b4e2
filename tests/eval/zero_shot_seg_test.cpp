#include "tips/eval/zero_shot_seg.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tips/core/rng.h"
#include "tips/eval/seg_scorer.h"

namespace {

using namespace tips::eval;
using torch::indexing::Slice;

TEST(ZeroShotSeg, WholeModeArgmaxOfMockPatchFeatures) {
  // A 2x3 patch grid whose patch j carries (a positive multiple of) class labels[j]'s direction plus a weaker
  // second class. Cosine argmax per patch = labels[j]; after a 2x bilinear upsample (align_corners=false) each
  // pixel is 9/16 its own patch + 7/16 neighbours, so the map must be the 2x nearest-neighbour blow-up.
  const std::vector<int64_t> labels{0, 2, 2, 1, 0, 3};
  const int64_t C = 4, D = 6;
  auto patches = torch::zeros({1, 6, D});
  for (int64_t j = 0; j < 6; ++j) {
    patches[0][j][labels[j]] = 3.0 + j;                  // own class, varying norm
    patches[0][j][(labels[j] + 1) % C] = 0.4 * (3.0 + j);  // a weaker distractor
    patches[0][j][5] = 0.5;                              // a direction no class uses
  }
  const auto text = torch::eye(C, D) * 2.0;  // class k = axis k (non-unit on purpose)
  const auto scores = patch_text_scores(patches, text, 2, 3);
  ASSERT_EQ(scores.sizes(), (std::vector<int64_t>{1, C, 2, 3}));
  // cosine of patch 1 with class 2: 4 / sqrt(16 + 1.6^2 + 0.25)
  EXPECT_NEAR(scores[0][2][0][1].item<double>(), 4.0 / std::sqrt(16.0 + 1.6 * 1.6 + 0.25), 1e-6);
  const auto pred = predict_whole(scores, 4, 6);
  const auto expected = torch::tensor(labels, torch::kLong).view({2, 3}).repeat_interleave(2, 0).repeat_interleave(2, 1);
  EXPECT_TRUE(torch::equal(pred[0], expected)) << pred[0] << "\nexpected\n" << expected;
}

TEST(ZeroShotSeg, WindowStarts) {
  struct Case {
    int64_t size, window, stride;
    std::vector<int64_t> want;
  };
  const std::vector<Case> cases = {
      {112, 448, 336, {0}},      // window larger than the image: one window
      {448, 448, 336, {0}},      // exactly one window
      {10, 4, 3, {0, 3, 6}},     // 0, 3, 6 ends at 10
      {10, 4, 4, {0, 4, 6}},     // last shifted back to end at 10
      {672, 448, 336, {0, 224}}, // TCL's 448/336 on a 672 side
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::to_string(c.size) + "/" + std::to_string(c.window) + "/" + std::to_string(c.stride));
    EXPECT_EQ(window_starts(c.size, c.window, c.stride), c.want);
  }
}

TEST(ZeroShotSeg, SlideAveragesPerWindowSoftmax) {
  // Image 4 x 6, windows 4 x 4 at x = 0 and 2. The mock scorer gives each window constant logits
  // (mean of its pixels, 0, -mean); a pixel's probabilities are the mean of softmax over its covering windows.
  auto gen = tips::rng::generator(11);
  const auto images = torch::rand({2, 3, 4, 6}, gen);
  int calls = 0;
  const WindowScorer scorer = [&](const torch::Tensor& crop) {
    ++calls;
    EXPECT_EQ(crop.size(2), 4);
    EXPECT_EQ(crop.size(3), 4);
    const auto m = crop.mean({1, 2, 3});  // (b,)
    return torch::stack({m, torch::zeros_like(m), -m}, 1).view({crop.size(0), 3, 1, 1}) * 5.0;
  };
  const auto probs = slide_probabilities(images, {/*window=*/4, /*stride=*/2}, scorer);
  EXPECT_EQ(calls, 2);
  ASSERT_EQ(probs.sizes(), (std::vector<int64_t>{2, 3, 4, 6}));
  for (int64_t b = 0; b < 2; ++b) {
    std::vector<std::vector<double>> soft;  // per window: 3 probabilities (float64 reference)
    for (int64_t x0 : {0, 2}) {
      const double m = 5.0 * images[b].index({Slice(), Slice(), Slice(x0, x0 + 4)}).to(torch::kDouble).mean().item<double>();
      const double z = std::exp(m) + 1.0 + std::exp(-m);
      soft.push_back({std::exp(m) / z, 1.0 / z, std::exp(-m) / z});
    }
    for (int64_t x = 0; x < 6; ++x) {
      for (int64_t k = 0; k < 3; ++k) {
        const double want = x < 2 ? soft[0][k] : x >= 4 ? soft[1][k] : 0.5 * (soft[0][k] + soft[1][k]);
        for (int64_t y = 0; y < 4; ++y) EXPECT_NEAR(probs[b][k][y][x].item<double>(), want, 1e-5) << b << k << y << x;
      }
    }
  }
}

TEST(ZeroShotSeg, TargetsAndFeatureChoice) {
  const auto label_map = torch::tensor({0, 1, 10, 3}, torch::kUInt8).view({2, 2});
  EXPECT_TRUE(torch::equal(segmentation_targets(label_map, true), torch::tensor({0, 1, 10, 3}, torch::kLong).view({2, 2})));
  EXPECT_TRUE(
      torch::equal(segmentation_targets(label_map, false), torch::tensor({255, 0, 9, 2}, torch::kLong).view({2, 2})));

  tips::model::VisionOutput out;
  out.patches = torch::ones({1, 4, 2});
  using tips::eval::SegReadout;
  EXPECT_THROW(segmentation_features(out, SegReadout::kValue), c10::Error);
  EXPECT_THROW(segmentation_features(out, SegReadout::kPenultimate), c10::Error);
  out.value_patches = torch::zeros({1, 4, 2});
  out.penultimate_patches = torch::full({1, 4, 2}, 2.0);
  EXPECT_TRUE(torch::equal(segmentation_features(out, SegReadout::kValue), out.value_patches));
  EXPECT_TRUE(torch::equal(segmentation_features(out, SegReadout::kFinal), out.patches));
  EXPECT_TRUE(torch::equal(segmentation_features(out, SegReadout::kPenultimate), out.penultimate_patches));
  EXPECT_THROW(segmentation_features(out, SegReadout::kAttribution), c10::Error);
  out.attribution_patches = torch::full({1, 4, 2}, 3.0);
  EXPECT_TRUE(torch::equal(segmentation_features(out, SegReadout::kAttribution), out.attribution_patches));
  EXPECT_EQ(tips::eval::parse_readout("attribution"), SegReadout::kAttribution);
  EXPECT_TRUE(tips::eval::valid_readouts({"final", "value"}));
  EXPECT_TRUE(tips::eval::valid_readouts({"value", "final", "penultimate", "attribution"}));
  EXPECT_FALSE(tips::eval::valid_readouts({}));
  EXPECT_FALSE(tips::eval::valid_readouts({"value", "value"}));
  EXPECT_FALSE(tips::eval::valid_readouts({"values"}));
}

TEST(ZeroShotSeg, ObjectPixelAccuracyIgnoresTheBackgroundScore) {
  // Channel 0 = background, 1 and 2 = objects; a 2x2 map at the label size (no resampling).
  // pixel (0,0): background, not counted; (0,1): object 1, the background wins the full argmax but object 1
  // wins among the objects -> correct; (1,0): object 2 predicted 1 -> wrong; (1,1): object 2 -> correct.
  using tips::eval::SegProtocol;
  using tips::eval::SegScorer;
  const auto label_map = torch::tensor({0, 1, 2, 2}, torch::kUInt8).view({2, 2});
  auto scores = torch::tensor({0.0, 0.9, 0.1, 0.2,    // background
                               0.8, 0.5, 0.6, 0.1,    // object 1
                               0.1, 0.1, 0.3, 0.4},   // object 2
                              torch::kFloat)
                    .view({1, 3, 2, 2});
  SegScorer with_prompt(2, SegProtocol{true});
  with_prompt.add(scores, label_map);
  EXPECT_DOUBLE_EQ(with_prompt.metrics().at("object_pixel_acc"), 2.0 / 3.0);
  // Without a background class the same object channels and the background pixels ignored: the same count.
  SegScorer objects_only(2, SegProtocol{});
  objects_only.add(scores.narrow(1, 1, 2), label_map);
  EXPECT_DOUBLE_EQ(objects_only.metrics().at("object_pixel_acc"), 2.0 / 3.0);
  // Upsampled from one patch: every object pixel takes object 2 (its score is highest among the objects).
  const auto one = torch::tensor({5.0, 0.2, 0.3}, torch::kFloat).view({1, 3, 1, 1});
  SegScorer upsampled(2, SegProtocol{true});
  upsampled.add(one, label_map);
  EXPECT_DOUBLE_EQ(upsampled.metrics().at("object_pixel_acc"), 2.0 / 3.0);
  EXPECT_THROW(upsampled.add(one.narrow(1, 0, 1), label_map), c10::Error);
}

// Two readouts side by side: each block of classes gets its own softmax and matches a one-readout call with that
// readout's scorer, from one scorer call per window.
TEST(ZeroShotSeg, SlideKeepsEachReadoutsBlockOfClasses) {
  auto gen = tips::rng::generator(12);
  const auto images = torch::rand({2, 3, 4, 6}, gen);
  const auto first = [](const torch::Tensor& crop) {
    const auto m = crop.mean({1, 2, 3});
    return torch::stack({m, torch::zeros_like(m), -m}, 1).view({crop.size(0), 3, 1, 1}) * 5.0;
  };
  const auto second = [](const torch::Tensor& crop) {
    const auto m = crop.amax({1, 2, 3});
    return torch::stack({-m, 2.0 * m, torch::zeros_like(m)}, 1).view({crop.size(0), 3, 1, 1}) * 3.0;
  };
  int calls = 0;
  const WindowScorer both = [&](const torch::Tensor& crop) {
    ++calls;
    return torch::cat({first(crop), second(crop)}, 1);
  };
  const SlideWindow sw{/*window=*/4, /*stride=*/2};
  const auto probs = slide_probabilities(images, sw, both, /*readouts=*/2);
  EXPECT_EQ(calls, 2);
  ASSERT_EQ(probs.sizes(), (std::vector<int64_t>{2, 6, 4, 6}));
  EXPECT_TRUE(torch::allclose(probs.narrow(1, 0, 3), slide_probabilities(images, sw, first)));
  EXPECT_TRUE(torch::allclose(probs.narrow(1, 3, 3), slide_probabilities(images, sw, second)));
  EXPECT_TRUE(torch::allclose(probs.narrow(1, 3, 3).sum(1), torch::ones({2, 4, 6})));
}

}  // namespace
