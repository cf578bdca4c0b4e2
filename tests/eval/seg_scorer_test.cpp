// The three background protocols of zero-shot segmentation on a hand-computed 2x2 canvas.
#include "tips/eval/seg_scorer.h"

#include <gtest/gtest.h>

namespace {

using tips::eval::SegProtocol;
using tips::eval::SegScorer;

// Two object classes; label map [[bg, class 0], [class 1, class 1]] (mosaic convention: 0, 1, 2, 2).
// Scores per pixel (background prompt, class 0, class 1):
//   (0,0) bg      0.5 0.1 0.3   prompt -> bg (right)   objects: ignored   constant 0.2 -> class 1 (wrong)
//   (0,1) class 0 0.1 0.6 0.2   prompt -> c0 (right)   objects -> c0 (right)  constant -> c0 (right)
//   (1,0) class 1 0.7 0.1 0.4   prompt -> bg (wrong)   objects -> c1 (right)  constant -> c1 (right)
//   (1,1) class 1 0.0 0.5 0.15  prompt -> c0 (wrong)   objects -> c0 (wrong)  constant -> c0 (wrong)
struct Canvas {
  torch::Tensor label = torch::tensor({0, 1, 2, 2}, torch::kUInt8).view({2, 2});
  torch::Tensor scores = torch::tensor({0.5f, 0.1f, 0.7f, 0.0f,    // background prompt
                                        0.1f, 0.6f, 0.1f, 0.5f,    // class 0
                                        0.3f, 0.2f, 0.4f, 0.15f})  // class 1
                             .view({1, 3, 2, 2});
};

TEST(SegScorer, ThreeBackgroundProtocolsByHand) {
  Canvas c;
  SegScorer s(2, SegProtocol{/*prompt_background=*/true, /*background_score=*/0.2});
  const auto pred = s.add(c.scores, c.label);
  EXPECT_TRUE(torch::equal(pred, torch::tensor({0, 1, 0, 1}, torch::kLong).view({2, 2})));  // the prompt argmax
  const auto m = s.metrics();
  // Objects only: targets (c0, c1, c1), predictions (c0, c1, c0): IoU c0 = 1/2, c1 = 1/2.
  EXPECT_DOUBLE_EQ(m.at("obj_miou"), 0.5);
  EXPECT_DOUBLE_EQ(m.at("object_pixel_acc"), 2.0 / 3.0);
  // Prompt: IoU bg = 1/2, c0 = 1/2, c1 = 0.
  EXPECT_DOUBLE_EQ(m.at("miou"), 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.at("pixel_acc"), 0.5);
  EXPECT_DOUBLE_EQ(m.at("miou_objects"), 0.25);
  EXPECT_DOUBLE_EQ(m.at("miou_all_background"), 1.0 / 12.0);  // bg 1/4, c0 0, c1 0
  // Constant 0.2: predictions (c1, c0, c1, c0): IoU bg 0, c0 1/2, c1 1/3.
  EXPECT_NEAR(m.at("miou_bg_const"), 5.0 / 18.0, 1e-12);
}

TEST(SegScorer, WithoutBackgroundChannelsAndUpsampled) {
  Canvas c;
  SegScorer s(2, SegProtocol{});  // objects only: no prompt channel, no constant
  const auto objects = c.scores.narrow(1, 1, 2);
  const auto pred = s.add(objects, c.label);
  EXPECT_TRUE(torch::equal(pred, torch::tensor({2, 1, 2, 1}, torch::kLong).view({2, 2})));  // never background
  auto m = s.metrics();
  EXPECT_EQ(m.size(), 2u);
  EXPECT_DOUBLE_EQ(m.at("obj_miou"), 0.5);
  // A 1x1 score map is spread over the whole 2x2 label map: class 1 everywhere.
  SegScorer up(2, SegProtocol{});
  up.add(torch::tensor({0.1f, 0.9f}).view({1, 2, 1, 1}), c.label);
  EXPECT_DOUBLE_EQ(up.metrics().at("object_pixel_acc"), 2.0 / 3.0);
  EXPECT_THROW(up.add(c.scores, c.label), c10::Error);  // 3 channels for 2 classes without a prompt channel
}

}  // namespace
